"""Does bf16 change a trained model's predictions? Measured once, on its validation videos.

``--precision auto`` (``run.amp=auto``) runs inference in bf16 on CUDA and on CPUs with bf16
hardware (:mod:`f4d.models.precision`). bf16 keeps 8 mantissa bits: a trained model's logits
move by about 0.3-2% and its top-1 changes only where two classes nearly tie, which for most
models is a handful of videos in a thousand. A model whose classes stay close together is
different (the demo's ``v4d_tiny``, at 26% top-1: bf16 changed 5 of its 300 test predictions,
docs/benchmarks.md), and ``auto`` must not trade a user's predictions for speed unasked.

So at the end of training (``run.precision_check``, the number of validation videos, 256 by
default; 0 turns it off) f4d runs the ``best`` and ``last`` checkpoints on the validation
videos, one centre view each, through :func:`f4d.models.for_inference` in fp32 and in bf16,
and records the comparison in each checkpoint's meta as ``precision_check``. ``auto`` then
runs bf16 for that checkpoint only where the check passed (:data:`THRESHOLDS`, the accuracy
guard of issue 23: top-1 agreement with fp32 at least 99%, top-1 within 0.5 points, relative
logit error ``‖bf16 − fp32‖ / ‖fp32‖`` at most 2%), and says so when it falls back to fp32.
``--precision bf16`` always runs bf16; a checkpoint without the record (older runs) gets
``auto``'s hardware rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from f4d.models import for_inference
from f4d.models.precision import resolve_precision

__all__ = ["THRESHOLDS", "compare_precisions", "inference_precision", "passes"]

# the accuracy guard of issue 23 (docs/benchmarks.md, "Accuracy on the demo's trained models")
THRESHOLDS: dict[str, float] = {"agreement": 0.99, "top1_delta": 0.005, "logit_error": 0.02}


def compare_precisions(
    model: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    *,
    device: str | torch.device = "cpu",
    precision: str = "bf16",
) -> dict[str, Any]:
    """Run ``model`` (not changed) through :func:`for_inference` in fp32 and in ``precision``
    on ``batches`` of ``(video (B, U, C, T, H, W) normalised, labels (B,))``.

    Returns ``{"precision", "videos", "agreement", "top1_fp32", "top1", "logit_error",
    "passed", "thresholds"}``: fractions in [0, 1], ``logit_error`` = ``‖low − fp32‖ / ‖fp32‖``
    over all logits, ``passed`` by :func:`passes`.
    """
    reference = for_inference(model, device, "fp32")
    reduced = for_inference(model, device, precision)
    fp32_rows, low_rows, label_rows = [], [], []
    for video, labels in batches:
        fp32_rows.append(reference(video).double().cpu())
        low_rows.append(reduced(video).double().cpu())
        label_rows.append(labels.cpu())
    if not fp32_rows:
        raise ValueError("compare_precisions needs at least one batch")
    fp32, low, labels = torch.cat(fp32_rows), torch.cat(low_rows), torch.cat(label_rows)
    top_fp32, top_low = fp32.argmax(1), low.argmax(1)
    result = {
        "precision": precision,
        "videos": int(labels.numel()),
        "agreement": float((top_fp32 == top_low).double().mean()),
        "top1_fp32": float((top_fp32 == labels).double().mean()),
        "top1": float((top_low == labels).double().mean()),
        "logit_error": float((low - fp32).norm() / fp32.norm().clamp_min(1e-30)),
        "thresholds": dict(THRESHOLDS),
    }
    result["passed"] = passes(result)
    return result


def passes(check: Mapping[str, Any]) -> bool:
    """Whether a ``precision_check`` record is within :data:`THRESHOLDS`."""
    return (
        check["agreement"] >= THRESHOLDS["agreement"]
        and abs(check["top1"] - check["top1_fp32"]) <= THRESHOLDS["top1_delta"] + 1e-12
        and check["logit_error"] <= THRESHOLDS["logit_error"]
    )


def inference_precision(
    precision: str, device: str | torch.device, meta: Mapping[str, Any]
) -> tuple[str, str | None]:
    """The precision a checkpoint runs in, and a note when ``auto`` fell back to fp32.

    ``precision`` resolved on ``device`` (:func:`resolve_precision`), except that ``auto``
    gives fp32 where the checkpoint's ``precision_check`` (in ``meta``) failed for the reduced
    precision ``auto`` would pick. Other settings are returned resolved, as asked.
    """
    resolved = resolve_precision(precision, device)
    check = meta.get("precision_check")
    if precision != "auto" or resolved == "fp32" or not isinstance(check, Mapping):
        return resolved, None
    if check.get("precision") != resolved or check.get("passed", True):
        return resolved, None
    note = (
        f"precision auto: fp32, not {resolved}: on {check['videos']} validation videos at the "
        f"end of training {resolved} changed {100 * (1 - check['agreement']):.1f}% of this "
        f"model's top-1 predictions (relative logit error {100 * check['logit_error']:.2f}%; "
        f"limits: {100 * (1 - THRESHOLDS['agreement']):.0f}% and "
        f"{100 * THRESHOLDS['logit_error']:.0f}%); --precision {resolved} runs it anyway"
    )
    return "fp32", note

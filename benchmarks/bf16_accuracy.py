"""Accuracy guard of issue 23: trained models in bf16 against fp32 on their test videos.

For each run of an ``f4d demo`` output (``OUT/runs/{f4d_tiny,tsn_tiny,v4d_tiny}``) the best
checkpoint is tested on its test split (the run's own ``test`` settings, as ``f4d test``) once
through ``for_inference(..., "fp32")`` and once in ``bf16``; reported: top-1 of each, top-1
agreement between the two, and the relative logit error ``‖bf16 − fp32‖ / ‖fp32‖``; and
what ``--precision auto`` runs for the checkpoint (bf16 where its precision check at the end
of training passed, :mod:`f4d.engine.precision_check`) with its agreement with fp32. With
``--r50``, also ``f4d_r50`` (random weights, BatchNorm statistics perturbed) on one random
1 × 4 × 8 × 224² video against a float64 run of the same model.

    python benchmarks/bf16_accuracy.py demo_out --r50 --json out.json
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import numpy as np
import torch


def compare_run(run_dir: Path) -> dict:
    """fp32 and bf16 logits of ``run_dir``'s best checkpoint on its test split."""
    from f4d.engine import checkpoint as ckpt
    from f4d.engine.config import load_config
    from f4d.engine.distributed import init_distributed
    from f4d.engine.evaluate import predict_loader
    from f4d.engine.loaders import build_eval_loader, load_split
    from f4d.engine.precision_check import inference_precision
    from f4d.models import for_inference

    cfg = load_config(run_dir / "config.yaml", [])
    model, _, meta = ckpt.load_for_inference(ckpt.resolve_checkpoint(run_dir), device="cpu")
    index = load_split(cfg.data, "val")
    loader = build_eval_loader(cfg.data, index, views=cfg.test.views,
                               batch_size=cfg.test.batch_size, rank=0, world_size=1,
                               seed=cfg.run.seed)  # fmt: skip
    info = init_distributed("cpu")
    labels = np.array([r.label for r in index.records])
    logits = {}
    for precision in ("fp32", "bf16"):
        prepared = for_inference(model, "cpu", precision)
        indices, logits[precision] = predict_loader(prepared, loader, cfg=cfg, info=info)
    labels = labels[indices]
    row = _summary(run_dir.name, logits["fp32"], logits["bf16"], labels)
    # what `auto` runs for this checkpoint (its precision check at the end of training)
    auto, _ = inference_precision("auto", "cpu", meta)
    top_auto, top_fp32 = logits[auto].argmax(1), logits["fp32"].argmax(1)
    row.update(auto=auto, precision_check=meta.get("precision_check"),
               auto_agreement_pct=float(100 * (top_auto == top_fp32).mean()),
               top1_auto=float(100 * (top_auto == labels).mean()))  # fmt: skip
    return row


def _summary(name: str, fp32: np.ndarray, bf16: np.ndarray, labels: np.ndarray | None) -> dict:
    a, b = fp32.argmax(1), bf16.argmax(1)
    row = {
        "model": name,
        "videos": len(a),
        "agreement_pct": float(100 * (a == b).mean()),
        "relative_logit_error": float(np.linalg.norm(bf16 - fp32) / np.linalg.norm(fp32)),
    }
    if labels is not None:
        row["top1_fp32"] = float(100 * (a == labels).mean())
        row["top1_bf16"] = float(100 * (b == labels).mean())
    return row


def r50_error() -> dict:
    """``f4d_r50`` in bf16 and fp32 (for_inference) against float64, one 224² video."""
    from f4d.models import create_model, for_inference

    torch.manual_seed(0)
    model = create_model("f4d_r50", num_classes=174, zero_init_residual=False,
                         block4d={"zero_init": False}).eval()  # fmt: skip
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=gen))
        x = torch.randn(1, 4, 3, 8, 224, 224)
        ref = copy.deepcopy(model).double()(x.double()).numpy()
        out = {p: for_inference(model, "cpu", p)(x).double().numpy() for p in ("fp32", "bf16")}
    return {p: float(np.linalg.norm(v - ref) / np.linalg.norm(ref)) for p, v in out.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("demo_out", type=Path, help="an f4d demo output folder")
    p.add_argument("--models", default="f4d_tiny,tsn_tiny,v4d_tiny")
    p.add_argument("--r50", action="store_true", help="also f4d_r50 at 224² against float64")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    rows = [compare_run(args.demo_out / "runs" / m) for m in args.models.split(",")]
    print("| model | videos | top-1 fp32 | top-1 bf16 | bf16 agreement | relative logit error "
          "| auto runs | top-1 auto | auto agreement |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['videos']} | {r['top1_fp32']:.1f}% | {r['top1_bf16']:.1f}% | "
              f"{r['agreement_pct']:.1f}% | {100 * r['relative_logit_error']:.2f}% | "
              f"{r['auto']} | {r['top1_auto']:.1f}% | "
              f"{r['auto_agreement_pct']:.1f}% |")  # fmt: skip
    result: dict = {"runs": rows}
    if args.r50:
        result["f4d_r50_vs_float64"] = r50_error()
        print(f"f4d_r50 relative logit error vs float64: {result['f4d_r50_vs_float64']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

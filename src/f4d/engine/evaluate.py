"""Testing a checkpoint (paper section 4.2, inference): single-view or multi-view.

Multi-view samples ``data.test_units`` action units (U at test is independent of U at
training: the model averages over units) and ``data.test_crops`` spatial crops per video; the
logits of the crops are averaged per video. Single-view uses ``data.units`` units and one
centre crop. Results: top-1, top-5, mean class accuracy, per-class accuracy, the confusion
matrix (``.npy`` and ``.csv``), predictions as JSON and CSV with class names, and a table.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from f4d.data.dataset import SkipCounter, TooManyBadVideos
from f4d.engine import checkpoint as ckpt
from f4d.engine.config import ConfigError
from f4d.engine.distributed import (
    DistInfo,
    all_gather_objects,
    cleanup_distributed,
    init_distributed,
)
from f4d.engine.loaders import build_eval_loader, load_split
from f4d.engine.metrics import classification_report
from f4d.engine.precision_check import inference_precision
from f4d.engine.progress import progress_bar
from f4d.errors import InputError
from f4d.models.inference import for_inference

__all__ = [
    "count_skips",
    "default_checkpoint",
    "evaluate",
    "log_skips",
    "new_skip_log",
    "predict_loader",
    "results_folder",
    "write_results",
]


def default_checkpoint(cfg: DictConfig) -> Path:
    """``test.checkpoint`` if set, else the run's ``best`` (or ``last``) checkpoint."""
    if cfg.test.checkpoint:
        return ckpt.resolve_checkpoint(cfg.test.checkpoint)
    return ckpt.resolve_checkpoint(Path(cfg.run.out_dir))


def results_folder(checkpoint: Path) -> Path:
    """The run a checkpoint belongs to: the folder above its ``checkpoints/`` folder, or, for
    a checkpoint outside a run, the folder that holds it."""
    from f4d.engine.runs import CHECKPOINT_DIR

    folder = checkpoint.parent
    return folder.parent if folder.name == CHECKPOINT_DIR else folder


def evaluate(cfg: DictConfig, *, quiet: bool = False) -> dict[str, Any]:
    """Test the checkpoint named by ``cfg`` on the validation/test split; return the metrics.

    Writes ``<stem>_predictions.json/.csv``, ``<stem>_confusion.npy/.csv`` and
    ``<stem>_results.json`` where ``stem`` is ``test.output`` or ``<run>/test/<views>``, with
    ``<run>`` the run of the tested checkpoint (:func:`results_folder`), plus
    ``confusion.npy`` / ``classes.json`` in ``<run>`` for its plots (``plots/confusion.png``).
    A progress bar (rate, time left) runs on rank 0 unless ``run.progress=false``.
    """
    info = init_distributed(cfg.run.device)
    try:
        return _evaluate(cfg, info, quiet=quiet)
    finally:
        cleanup_distributed(info)


def _evaluate(cfg: DictConfig, info: DistInfo, *, quiet: bool) -> dict[str, Any]:
    path = default_checkpoint(cfg)
    model, classes, meta = ckpt.load_for_inference(path, device=info.device)
    try:  # run.amp (f4d test --precision): bf16 by default on CUDA and AMX CPUs where the
        # checkpoint's precision check passed (f4d.engine.precision_check)
        precision, note = inference_precision(cfg.run.amp, info.device, meta)
        model = for_inference(model, info.device, precision, inplace=True)
    except ValueError as err:  # fp16 on a CPU
        raise ConfigError(f"run.amp={cfg.run.amp}: {err}") from err
    if note is not None and info.is_main and not quiet:
        print(note, flush=True)
    index = load_split(cfg.data, "val")
    if len(index.classes) != len(classes):
        raise ckpt.CheckpointError(
            f"checkpoint {path} has {len(classes)} classes but the test split "
            f"{index.source} has {len(index.classes)}"
        )
    loader = build_eval_loader(
        cfg.data, index, views=cfg.test.views, batch_size=cfg.test.batch_size,
        rank=info.rank, world_size=info.world_size, seed=cfg.run.seed,
    )  # fmt: skip
    stem = (
        Path(cfg.test.output) if cfg.test.output else results_folder(path) / "test" / cfg.test.views
    )
    if info.is_main and not quiet:
        units, crops = _views(cfg)
        print(f"test: {path} on {len(index)} videos of {index.source or cfg.data.root} "
              f"({units} units x {crops} crops per video) -> {stem}_*", flush=True)  # fmt: skip
    start = time.perf_counter()
    skips = SkipCounter(cfg.data.max_bad_videos)
    indices, logits = predict_loader(model, loader, cfg=cfg, info=info, skips=skips)
    seconds = time.perf_counter() - start
    labels = np.array([index.records[i].label for i in indices], dtype=np.int64)
    report = classification_report(logits, labels)
    result = _summary(report, cfg=cfg, checkpoint=path, seconds=seconds)
    result["precision"] = model.precision
    if note is not None:
        result["precision_note"] = note
    result.update(bad_videos=skips.count, bad_video_reasons=dict(skips.reasons),
                  truncated_videos=dict(skips.truncated))  # fmt: skip
    if info.is_main:
        run = results_folder(path)
        result["files"] = write_results(
            stem, report=report, indices=indices, logits=logits, labels=labels, index=index,
            classes=classes, summary=result,
        )  # fmt: skip
        _write_plot_inputs(run, report["confusion"], classes)
        if cfg.run.plots:
            from f4d.engine.train import draw_plots

            result["plots"] = [str(p) for p in draw_plots(run)]
        if not quiet:
            print_results(result, report, classes)
    return result


@torch.no_grad()
def predict_loader(
    model: nn.Module,
    loader: Any,
    *,
    cfg: DictConfig,
    info: DistInfo,
    skips: SkipCounter | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Logits averaged over views for every video of ``loader``, gathered from all ranks.

    Returns ``(indices (N,), logits (N, K))`` sorted by dataset index. ``skips`` receives the
    bad videos and the truncated ones of every rank once the loop is done (so that no rank
    stops alone); past its limit it raises :class:`TrainingError` with their table. ``model``
    runs as given (float32 in, logits out): :func:`f4d.models.for_inference` sets the precision.
    """
    from f4d.data.transforms import normalize

    model.eval()
    rows: list[tuple[int, np.ndarray]] = []
    seen = new_skip_log()
    bar = progress_bar(
        _num_videos(loader), desc="test", unit="video",
        enabled=info.is_main and OmegaConf.select(cfg, "run.progress", default=True), leave=True,
    )  # fmt: skip
    for batch in loader:
        log_skips(seen, batch)
        if bar is not None:
            bar.update(len(batch["label"]) + len(batch.get("skipped_paths", ())))
        views = batch["num_views"]
        if views == 0:
            continue
        video = batch["video"].to(info.device, non_blocking=True)  # pinned on CUDA
        video = normalize(video, cfg.data.mean, cfg.data.std)
        out = model(video).float()  # (B·V, K); precision: see f4d.models.for_inference
        out = out.reshape(-1, views, out.shape[-1]).mean(dim=1)  # (B, K)
        rows += list(zip(batch["index"].tolist(), out.cpu().numpy()))
    if bar is not None:
        bar.close()
    gathered = [row for part in all_gather_objects(rows) for row in part]
    gathered.sort(key=lambda r: r[0])
    if skips is not None:
        count_skips(skips, seen, what="the test")
    if not gathered:
        raise InputError(
            f"no video of the test split of {cfg.data.root} could be read",
            hint=f"run f4d data check on {cfg.data.root} to see why",
        )
    indices = np.array([r[0] for r in gathered], dtype=np.int64)
    return indices, np.stack([r[1] for r in gathered])


_SKIP_KEYS = ("skipped_paths", "skipped_reasons", "truncated_paths", "truncated_reasons")


def _num_videos(loader: Any) -> int | None:
    """Videos this rank's ``loader`` yields (its sampler's length), ``None`` if unknown."""
    sampler = getattr(loader, "sampler", None)
    try:
        return len(sampler) if sampler is not None else len(loader.dataset)
    except TypeError:
        return None


def new_skip_log() -> dict[str, list[str]]:
    """An empty record of one rank's skipped and truncated videos (see :func:`count_skips`)."""
    return {key: [] for key in _SKIP_KEYS}


def log_skips(seen: dict[str, list[str]], batch: dict[str, Any]) -> None:
    """Add a collated batch's skipped and truncated videos to ``seen``."""
    for key in _SKIP_KEYS:
        seen[key] += batch.get(key, [])


def count_skips(skips: SkipCounter, seen: dict[str, list[str]], *, what: str) -> None:
    """Gather every rank's ``seen`` and feed it to ``skips`` (the bad-video policy); past its
    limit raise :class:`TrainingError` with their table (every rank alike)."""
    parts = all_gather_objects(seen)
    merged = {key: [v for part in parts for v in part[key]] for key in _SKIP_KEYS}
    try:
        skips.update({"skipped": len(merged["skipped_paths"]), **merged})
    except TooManyBadVideos as err:
        from f4d.engine.train import TrainingError

        raise TrainingError(
            f"stopping {what}: more than data.max_bad_videos={skips.limit} videos could not "
            f"be read.\n{err}"
        ) from err


def _views(cfg: DictConfig) -> tuple[int, int]:
    """``(units, crops)`` per video of ``test.views``: multi = test_units x test_crops."""
    if cfg.test.views == "multi":
        return cfg.data.test_units, cfg.data.test_crops
    return cfg.data.units, 1


def _summary(
    report: dict[str, Any], *, cfg: DictConfig, checkpoint: Path, seconds: float
) -> dict[str, Any]:
    units, crops = _views(cfg)
    return {
        "checkpoint": str(checkpoint),
        "views": cfg.test.views,
        "units": units,
        "crops": crops,
        "num_videos": report["num_videos"],
        "top1": report["top1"],
        "top5": report["top5"],
        "mean_class_accuracy": report["mean_class_accuracy"],
        "seconds": seconds,
    }


def write_results(
    stem: Path,
    *,
    report: dict[str, Any],
    indices: np.ndarray,
    logits: np.ndarray,
    labels: np.ndarray,
    index: Any,
    classes: list[str],
    summary: dict[str, Any],
) -> dict[str, str]:
    """Write predictions (json, csv), confusion matrix (npy, csv) and results json at ``stem``."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    preds = logits.argmax(axis=1)
    rows = [
        {
            "path": str(index.records[i].path),
            "label": classes[y],
            "prediction": classes[p],
            "correct": bool(p == y),
            "top5": [classes[k] for k in np.argsort(-row)[:5]],
        }
        for i, y, p, row in zip(indices.tolist(), labels.tolist(), preds.tolist(), logits)
    ]
    files = {
        "predictions_json": stem.with_name(stem.name + "_predictions.json"),
        "predictions_csv": stem.with_name(stem.name + "_predictions.csv"),
        "confusion_npy": stem.with_name(stem.name + "_confusion.npy"),
        "confusion_csv": stem.with_name(stem.name + "_confusion.csv"),
        "results_json": stem.with_name(stem.name + "_results.json"),
    }
    files["predictions_json"].write_text(json.dumps(rows, indent=1))
    with open(files["predictions_csv"], "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "prediction", "correct"])
        writer.writerows([r["path"], r["label"], r["prediction"], int(r["correct"])] for r in rows)
    np.save(files["confusion_npy"], report["confusion"])
    _write_confusion_csv(files["confusion_csv"], report["confusion"], classes)
    per_class = {
        name: (None if np.isnan(acc) else float(acc))
        for name, acc in zip(classes, report["per_class_accuracy"])
    }
    files["results_json"].write_text(
        json.dumps({**summary, "per_class_accuracy": per_class}, indent=2)
    )
    return {key: str(value) for key, value in files.items()}


def _write_confusion_csv(path: Path, matrix: np.ndarray, classes: list[str]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["true\\predicted", *classes])
        for name, row in zip(classes, matrix.tolist()):
            writer.writerow([name, *row])


def _write_plot_inputs(out_dir: Path, confusion: np.ndarray, classes: list[str]) -> None:
    """``confusion.npy`` and ``classes.json`` where :mod:`f4d.engine.plots` looks for them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    np.save(out_dir / "confusion.npy", confusion)
    (out_dir / "classes.json").write_text(json.dumps(list(classes)))


def print_results(result: dict[str, Any], report: dict[str, Any], classes: list[str]) -> None:
    """A rich table of the headline numbers and the per-class accuracy."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"test ({result['views']}-view: {result['units']} units x "
                  f"{result['crops']} crops, {result['num_videos']} videos, "
                  f"precision {result.get('precision', 'fp32')})")  # fmt: skip
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("top1", "top5", "mean_class_accuracy"):
        table.add_row(key, f"{result[key]:.2f}%")
    shown = list(zip(classes, report["per_class_accuracy"]))[:30]
    for name, acc in shown:
        table.add_row(f"  {name}", "n/a" if np.isnan(acc) else f"{acc:.1f}%")
    Console().print(table)

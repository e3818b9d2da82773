"""One loop for every experiment: train (or profile) each variant per seed, aggregate, report.

Outputs in ``<out>/<name>/``: ``results.json`` (every run, its per-epoch history and the
aggregates), ``results.md`` (mean ± std over seeds) and, for experiments with a ``compare``
list, ``compare_error.png`` (train/test error curves of seed 0). The synthetic dataset and
the shared unit-level pretraining live in ``<out>/_shared_<scale>/`` and are reused by every
experiment of that scale. The ``smoke`` scale (tests) runs one step of a few rows per table
(:func:`smoke_variants`) on a handful of videos.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from f4d.experiments.recipe import (
    SCALES,
    Scale,
    pretrain,
    synthesize,
    train_variant,
    variant_args,
)
from f4d.experiments.specs import SCRATCH, Experiment, Variant, get_experiment

__all__ = [
    "aggregate",
    "epoch_leaving_chance",
    "profile_variants",
    "run_experiment",
    "smoke_variants",
    "validation_area",
]

LEFT_CHANCE = 2 * 100.0 / 12  # % val top-1: twice chance on the 12 synthetic order classes
TINY_FRAMES, TINY_SIZE = 4, 32  # the demo recipe's T per unit and crop (configs/demo/base.yaml)
PROFILE_CLASSES = 174  # Something-Something v1, the dataset of the paper's Table 1


def run_experiment(
    name: str, *, seeds: tuple[int, ...] = (0, 1, 2), out: Path = Path("experiments_out"),
    scale: str = "small", fresh: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Run experiment ``name`` at ``scale`` (``small`` | ``hard`` | ``smoke``); write and return
    a summary. ``hard`` is the small budget on the 24-class dataset; its results go to
    ``<out>/<name>_hard/`` and its data, pretraining and runs to ``<out>/_shared_hard/``.

    Training runs are cached in ``<out>/_shared_<scale>/runs/`` (see
    :func:`~f4d.experiments.recipe.train_variant`); ``fresh`` retrains them.
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; valid scales: {', '.join(SCALES)}")
    if not seeds:
        raise ValueError("need at least one seed")
    experiment = get_experiment(name)
    start = time.perf_counter()
    root = out / f"{name}{SCALES[scale].folder}"
    root.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {
        "experiment": name, "title": experiment.title, "claim": experiment.claim,
        "scale": scale, "seeds": list(seeds), "machine": _machine(),
    }  # fmt: skip
    if experiment.kind == "profile":
        summary["rows"] = profile_variants(experiment, smoke=scale == "smoke")
    else:
        shared = out / f"_shared_{scale}"
        summary.update(_train_all(experiment, root, shared, seeds, SCALES[scale], fresh))
    summary["wall_time_s"] = time.perf_counter() - start
    summary["files"] = _write(root, summary, experiment)
    return summary


# ---------------------------------------------------------------------------------- training


def _train_all(
    experiment: Experiment, root: Path, shared: Path, seeds: tuple[int, ...], scale: Scale,
    fresh: bool,
) -> dict[str, Any]:  # fmt: skip
    data = synthesize(shared / "data", scale)
    pre = pretrain(shared, data, scale)
    chance = 100.0 / scale.num_classes
    rows = []
    for variant in smoke_variants(experiment) if scale.smoke else experiment.variants:
        init = None if variant.init == SCRATCH else pre["checkpoint"]
        runs = [
            train_variant(variant, runs=shared / "runs", data=data, init_from=init, seed=seed,
                          scale=scale, fresh=fresh)
            for seed in seeds
        ]  # fmt: skip
        rows.append({**_describe(variant, scale.num_classes), "runs": runs,
                     **aggregate(runs, left_chance=2 * chance)})  # fmt: skip
    result = {"pretrain": pre, "rows": rows, "chance_top1": chance,
              "num_classes": scale.num_classes}  # fmt: skip
    if not scale.smoke or experiment.compare:  # smoke: one plot each kind, for the tests
        result["results_plot"] = _results_plot(root, rows, experiment, chance)
    if experiment.compare:
        result["compare_plot"] = _compare_plot(root, rows, experiment)
    return result


def smoke_variants(experiment: Experiment) -> tuple[Variant, ...]:
    """The smoke subset: the first and last rows plus the ``compare`` rows, in table order."""
    keep = {experiment.variants[0].name, experiment.variants[-1].name, *experiment.compare}
    return tuple(v for v in experiment.variants if v.name in keep)


def aggregate(runs: list[dict[str, Any]], *, left_chance: float = LEFT_CHANCE) -> dict[str, Any]:
    """Mean and sample standard deviation (0 for one seed) of every test column over ``runs``;
    per run, the first epoch whose val top-1 reaches ``left_chance`` % (twice chance)."""
    columns = list(runs[0]["tests"])
    mean = {c: statistics.fmean(r["tests"][c] for r in runs) for c in columns}
    std = {c: statistics.stdev(r["tests"][c] for r in runs) if len(runs) > 1 else 0.0
           for c in columns}  # fmt: skip
    seconds = statistics.fmean(r["train_seconds"] for r in runs)
    left = [epoch_leaving_chance(r["history"], threshold=left_chance) for r in runs]
    curve = [validation_area(r["history"]) for r in runs]
    known = [x for x in curve if x is not None]
    area = {"mean": statistics.fmean(known) if known else None,
            "std": statistics.stdev(known) if len(known) > 1 else 0.0}  # fmt: skip
    return {"mean": mean, "std": std, "n": len(runs), "train_seconds_mean": seconds,
            "left_chance_epoch": left, "val_area": area}  # fmt: skip


def validation_area(history: list[dict[str, Any]]) -> float | None:
    """Mean validation top-1 (%) over the epochs that have one: the normalised area under the
    validation curve, which separates runs that end at the same accuracy by how fast they got
    there (None without validation)."""
    values = [r["val_top1"] for r in history if "val_top1" in r]
    return statistics.fmean(values) if values else None


def epoch_leaving_chance(
    history: list[dict[str, Any]], *, threshold: float = LEFT_CHANCE
) -> int | None:
    """First epoch whose validation top-1 reaches ``threshold`` % (None: never, or no val)."""
    for record in history:
        if record.get("val_top1", -1.0) >= threshold:
            return int(record["epoch"])
    return None


def _describe(variant: Variant, num_classes: int = 12) -> dict[str, Any]:
    from f4d.models import create_model
    from f4d.models.profile import count_macs, count_parameters

    args = variant_args(variant)  # what trains: the recipe's args (block after conv5) + the row's
    model = create_model(variant.model, num_classes, **args)
    units = _dot(variant.overrides, "data.units", 4)
    return {
        "name": variant.name, "model": variant.model, "args": args,
        "overrides": list(variant.overrides), "init": variant.init, "paper": variant.paper,
        "params": count_parameters(model),
        "macs": count_macs(model, frames=TINY_FRAMES, units=units, size=TINY_SIZE),
    }  # fmt: skip


def _compare_plot(root: Path, rows: list[dict[str, Any]], experiment: Experiment) -> str:
    """``compare_error.png``: train/test error of the ``compare`` rows, mean ± std over seeds."""
    from f4d.engine.plots import save_figure, seeds_error_figure

    runs = {row["name"]: [run["history"] for run in row["runs"]]
            for row in rows if row["name"] in experiment.compare}  # fmt: skip
    figure = seeds_error_figure(runs, title=experiment.title)
    return str(save_figure(figure, root / "compare_error.png"))


def _results_plot(
    root: Path, rows: list[dict[str, Any]], experiment: Experiment, chance: float
) -> str:
    """``results.png``: each row's test top-1, mean ± std over seeds, one dot per seed."""
    from f4d.engine.plots import results_figure, save_figure

    figure = results_figure(rows, title=experiment.title, chance=chance)
    return str(save_figure(figure, root / "results.png"))


# ---------------------------------------------------------------------------------- Table 1


def profile_variants(experiment: Experiment, *, smoke: bool = False) -> list[dict[str, Any]]:
    """Params, MACs and CPU forward videos/s of each variant at U=4 (224x224, batch 1).

    ``smoke``: 32x32 crops, frames divided by 4, one timed pass (seconds, for tests).
    """
    from f4d.models import create_model
    from f4d.models.profile import profile_model

    rows = []
    for variant in experiment.variants:
        frames = _dot(variant.overrides, "data.frames", 8) // (4 if smoke else 1)
        model = create_model(variant.model, PROFILE_CLASSES, **variant.args)
        result = profile_model(model, frames=frames, units=4, batch=1, size=32 if smoke else 224,
                               warmup=0 if smoke else 1, iters=1 if smoke else 3)  # fmt: skip
        rows.append({"name": variant.name, "model": variant.model, "paper": variant.paper,
                     **result.as_dict()})  # fmt: skip
    return rows


# ---------------------------------------------------------------------------------- report


def _write(root: Path, summary: dict[str, Any], experiment: Experiment) -> dict[str, str]:
    json_path, md_path = root / "results.json", root / "results.md"
    json_path.write_text(json.dumps(summary, indent=2))
    table = _profile_table if experiment.kind == "profile" else _train_table
    md_path.write_text("\n".join(table(summary)) + "\n")
    return {"json": str(json_path), "md": str(md_path)}


def _train_table(summary: dict[str, Any]) -> list[str]:
    rows = summary["rows"]
    columns = list(rows[0]["mean"])
    classes, chance = summary["num_classes"], summary["chance_top1"]
    lines = [
        f"# {summary['title']}", "",
        f"Paper: {summary['claim']}", "",
        f"Scale `{summary['scale']}`, seeds {summary['seeds']} (mean ± sample std over seeds); "
        f"synthetic long-range order, {classes} classes, chance {chance:.1f}%. "
        f"Shared unit pretraining: unit top-1 {_num(summary['pretrain']['unit_top1'])}%.",
        "",
        f"`epoch val ≥ 2x chance`: per seed, the first epoch whose single-view validation top-1 "
        f"reached {2 * chance:.1f}% (`never`: not within the budget). "
        "`val area`: the mean validation top-1 over all epochs (area under the validation "
        "curve / epochs), which ranks runs that end at the same accuracy by how fast they "
        "got there.", "",
        "| variant | init | params | MMACs | paper v1 / v2 | "
        + " | ".join(f"{c} (%)" for c in columns)
        + " | val area (%) | epoch val ≥ 2x chance | train s |",
        "|---|---|---:|---:|---|" + "---:|" * (len(columns) + 3),
    ]  # fmt: skip
    for r in rows:
        cells = [f"{r['mean'][c]:.1f} ± {r['std'][c]:.1f}" for c in columns]
        area = r.get("val_area", {})
        cells.append("n/a" if area.get("mean") is None
                     else f"{area['mean']:.1f} ± {area['std']:.1f}")  # fmt: skip
        lines.append(
            f"| {r['name']} | {r['init']} | {r['params']:,} | {r['macs'] / 1e6:.1f} | "
            f"{r['paper'] or '-'} | " + " | ".join(cells) + f" | {_epochs(r['left_chance_epoch'])} "
            f"| {r['train_seconds_mean']:.0f} |"
        )
    runs = [run for r in rows for run in r["runs"]]
    cached = sum(bool(run.get("cached")) for run in runs)
    trained = sum(run["train_seconds"] for run in runs)
    lines += ["", f"Wall time: {summary['wall_time_s']:.0f} s on {summary['machine']['cpu']}; "
              f"{cached} of {len(runs)} runs came from the run cache. Training time summed over "
              f"all {len(runs)} runs, cached or not: {trained:.0f} s."]  # fmt: skip
    if summary.get("results_plot"):
        lines.append(f"Bar chart: `{summary['results_plot']}`")
    if summary.get("compare_plot"):
        lines.append(f"Train vs test error (mean ± std over seeds): `{summary['compare_plot']}`")
    return lines


def _profile_table(summary: dict[str, Any]) -> list[str]:
    machine = summary["machine"]
    lines = [
        f"# {summary['title']}", "", f"Paper: {summary['claim']}", "",
        "| row | model | frames | size | paper params / FLOPs / V/s | params (M) | GMACs | "
        "videos/s (CPU, batch 1) |",
        "|---|---|---:|---:|---|---:|---:|---:|",
    ]  # fmt: skip
    for r in summary["rows"]:
        lines.append(
            f"| {r['name']} | {r['model']} | {r['frames']} | {r['size']} | {r['paper']} | "
            f"{r['params'] / 1e6:.2f} | {r['macs'] / 1e9:.1f} | {r['videos_per_s']:.3f} |"
        )
    lines += [
        "",
        f"Wall time: {summary['wall_time_s']:.0f} s on {machine['cpu']}, "
        f"{machine['threads']} torch threads, load average {machine['load_avg']}.",
    ]
    return lines


def _machine() -> dict[str, Any]:
    import torch

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"cpu": f"{platform.processor() or platform.machine()} ({os.cpu_count()} cores)",
            "threads": torch.get_num_threads(), "torch": torch.__version__,
            "load_avg": [round(x, 2) for x in load] if load else None}  # fmt: skip


def _dot(overrides: tuple[str, ...], key: str, default: int) -> int:
    value = OmegaConf.select(OmegaConf.from_dotlist(list(overrides)), key)
    return default if value is None else int(value)


def _epochs(values: list[int | None]) -> str:
    return ", ".join("never" if v is None else str(v) for v in values)


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"

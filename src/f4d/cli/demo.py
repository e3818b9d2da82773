"""``f4d demo [--out DIR] [--quick]``: the main job of ``make demo`` (a few minutes on 2 CPU cores).

1. ``f4d synth``: the long-range-order dataset (32x32, 48 frames, 4 events, 12 classes whose
   only difference is the order of the 4 events).
2. A shared unit-level pretraining: every action unit is classified by its own event -- the
   analogue of the paper's ImageNet / Kinetics start. One checkpoint.
3. ``f4d_tiny``, ``tsn_tiny`` and ``v4d_tiny`` trained on the order classes with the same budget,
   each initialised from that checkpoint (``run.init_from``; the 4D blocks start as the exact
   identity and train). The 4D block sits after conv5 and conv1-conv5 stay frozen
   (``run.freeze_stages=5``): only the 4D block and the classifier train.
4. Each tested; a table of params, MACs, test top-1, train videos/s and wall time, plot paths,
   ``summary.json`` and ``summary.md``.

The recipes are the YAML files under ``configs/demo/``; the steps and budgets are
:mod:`f4d.experiments.recipe`'s (shared with ``f4d experiment``); this module runs them in order
and reports (``--quick``: a few steps on a handful of videos, for tests).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from f4d.cli.helptext import DefaultsFormatter
from f4d.cli.options import new_or_writable_dir
from f4d.experiments.recipe import SCALES, Scale, recipe_config, synthesize
from f4d.experiments.recipe import pretrain as recipe_pretrain

__all__ = ["DEMO_SCALES", "register", "run_demo"]

MODELS = ("f4d_tiny", "tsn_tiny", "v4d_tiny")


# `f4d demo` runs the "small" recipe scale; `--quick` the "quick" one (tests).
DEMO_SCALES = {"full": "small", "quick": "quick"}


def register(subparsers: Any) -> None:
    """Add the ``demo`` sub-command."""
    parser = subparsers.add_parser(
        "demo",
        help="synthetic long-range-order demo: F4D vs TSN vs V4D on CPU in minutes",
        description="Train F4D, TSN and V4D on a synthetic dataset whose 12 classes differ "
        "only in the order of four events, on CPU in a few minutes, and print a table "
        "(parameters, MACs, test top-1, training videos/s, time).\n\nSteps: write the "
        "dataset (as f4d synth does), pretrain one shared backbone on its action units, train "
        "each model from it with the same budget, test each. Everything goes to --out; a "
        "second demo reuses the dataset and retrains, replacing its previous runs. The "
        "recipes are the YAML files under configs/demo/.",
        formatter_class=DefaultsFormatter,
    )
    parser.add_argument("--out", type=new_or_writable_dir, default="demo_out",
                        help="output folder")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a few steps (tests)")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    budget = SCALES[DEMO_SCALES["quick" if args.quick else "full"]]
    _done(run_demo(Path(args.out), budget=budget))
    return 0


def _done(summary: dict[str, Any]) -> None:
    print(f"summary: {summary['files']['json']} and {summary['files']['md']}")


def run_demo(out: Path, *, budget: Scale) -> dict[str, Any]:
    """Run the whole demo into ``out``; return the summary (also written as json and md)."""
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    print(f"[demo] f4d synth {out / 'data'} ({budget.num_train} train / {budget.num_test} test "
          "videos; reused if already there)", flush=True)  # fmt: skip
    data = synthesize(out / "data", budget)
    synth_s = time.perf_counter() - start
    print(f"[demo] unit-level pretraining -> {out / 'runs' / 'pretrain_units'}", flush=True)
    pretrain = _pretrain_summary(recipe_pretrain(out / "runs", data, budget))
    rows = [_train_and_test(name, out, data, pretrain["checkpoint"], budget) for name in MODELS]
    summary = {
        "budget": asdict(budget),
        "synth_seconds": synth_s,
        "pretrain": pretrain,
        "models": rows,
        "compare_plot": _compare_plot(out, rows),
        "total_seconds": time.perf_counter() - start,
    }
    summary["files"] = _write_summary(out, summary)
    _print_table(summary)
    return summary


# ---------------------------------------------------------------------------------- steps


def _pretrain_summary(result: dict[str, Any]) -> dict[str, Any]:
    """The fields of the shared pretraining that the demo summary reports."""
    return {key: result[key] for key in ("model", "checkpoint", "unit_top1", "wall_time_s")}


def _train_and_test(
    name: str, out: Path, data: Path, init_from: str, budget: Scale
) -> dict[str, Any]:
    from f4d.engine.evaluate import evaluate
    from f4d.engine.train import train

    run_dir = out / "runs" / name
    overrides = [f"data.root={data}", f"run.out_dir={run_dir}", f"run.init_from={init_from}"]
    cfg = recipe_config(name, overrides, budget, budget.epochs)
    print(f"[demo] training {name} -> {run_dir}", flush=True)
    result = train(cfg, overwrite=True)  # each demo retrains; the previous demo's run goes
    cfg.test.checkpoint = result["checkpoint"]
    test = evaluate(cfg, quiet=True)
    history = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    speeds = [r["videos_per_s"] for r in history]
    params, macs = _profile(name, result["num_classes"], cfg)
    return {
        "model": name,
        "params": params,
        "macs": macs,
        "test_top1": test["top1"],
        "test_top5": test["top5"],
        "test_precision": test.get("precision"),
        "train_videos_per_s": sum(speeds) / len(speeds),
        "train_seconds": result["wall_time_s"],
        "epochs": result["epoch"],
        "steps": result["step"],
        "plots": test.get("plots", result.get("plots", [])),
        "run_dir": str(run_dir),
    }


def _profile(name: str, num_classes: int, cfg: Any) -> tuple[int, int]:
    from omegaconf import OmegaConf

    from f4d.models import create_model
    from f4d.models.profile import count_macs, count_parameters

    args = OmegaConf.to_container(cfg.model.args, resolve=True)
    model = create_model(name, num_classes, **args).eval()
    macs = count_macs(model, frames=cfg.data.frames, units=cfg.data.units, size=cfg.data.size)
    return count_parameters(model), macs


# ---------------------------------------------------------------------------------- report


def _compare_plot(out: Path, rows: list[dict[str, Any]]) -> str | None:
    try:
        from f4d.engine.plots import plot_compare
    except ImportError:
        return None
    runs = {row["model"]: row["run_dir"] for row in rows}
    return str(plot_compare(runs, out / "compare_error.png"))


def _write_summary(out: Path, summary: dict[str, Any]) -> dict[str, str]:
    json_path, md_path = out / "summary.json", out / "summary.md"
    json_path.write_text(json.dumps(summary, indent=2))
    budget = summary["budget"]
    lines = [
        "# f4d demo: long-range order (synthetic)",
        "",
        f"Unit-pretrained {summary['pretrain']['model']} "
        f"(unit top-1 {_fmt(summary['pretrain']['unit_top1'])}%), then each model trained "
        f"with the same budget ({budget['num_train']} videos x {budget['epochs']} epochs, "
        f"{budget['num_test']} test videos); chance is {100 / 12:.1f}% (12 classes).",
        "",
        "| model | params | MACs | test top-1 (%) | train videos/s | train time (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in summary["models"]:
        lines.append(
            f"| {r['model']} | {r['params']:,} | {r['macs'] / 1e6:.1f}M | {r['test_top1']:.1f} "
            f"| {r['train_videos_per_s']:.1f} | {r['train_seconds']:.0f} |"
        )
    lines += ["", f"Total wall time: {summary['total_seconds']:.0f} s."]
    if summary["compare_plot"]:
        lines.append(f"Train vs test error: `{summary['compare_plot']}`")
    md_path.write_text("\n".join(lines) + "\n")
    return {"json": str(json_path), "md": str(md_path)}


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _print_table(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="f4d demo: long-range order (chance 8.3%)")
    for column in ("model", "params", "MACs", "test top-1", "train videos/s", "time (s)"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for r in summary["models"]:
        table.add_row(
            r["model"], f"{r['params']:,}", f"{r['macs'] / 1e6:.1f}M", f"{r['test_top1']:.1f}%",
            f"{r['train_videos_per_s']:.1f}", f"{r['train_seconds']:.0f}",
        )  # fmt: skip
    console = Console()
    console.print(table)
    for r in summary["models"]:
        for path in r["plots"]:
            console.print(f"plot: {path}")
    if summary["compare_plot"]:
        console.print(f"plot: {summary['compare_plot']}")
    console.print(f"total wall time: {summary['total_seconds']:.0f} s")

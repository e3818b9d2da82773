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

The recipes are the YAML files under ``configs/demo/``; this module only adds the paths and the
budget (``--quick``: a few steps on a handful of videos, for tests).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["BUDGETS", "Budget", "register", "run_demo"]

MODELS = ("f4d_tiny", "tsn_tiny", "v4d_tiny")
CONFIG_DIR = Path(__file__).resolve().parents[3] / "configs" / "demo"


@dataclass(frozen=True)
class Budget:
    """Dataset size and training lengths of one demo flavour."""

    num_train: int
    num_test: int
    frames: int  # frames per synthetic video
    pretrain_epochs: int
    epochs: int
    max_steps: int = 0  # 0 -> whole epochs
    synth_workers: int | None = 2
    batch_size: int = 0  # 0 -> the recipe's optim.batch_size


BUDGETS = {
    "full": Budget(num_train=2000, num_test=300, frames=48, pretrain_epochs=2, epochs=12),
    "quick": Budget(num_train=16, num_test=8, frames=16, pretrain_epochs=1, epochs=1,
                    max_steps=2, synth_workers=1, batch_size=4),
}  # fmt: skip


def register(subparsers: Any) -> None:
    """Add the ``demo`` sub-command."""
    parser = subparsers.add_parser(
        "demo",
        help="synthetic long-range-order demo: F4D vs TSN vs V4D on CPU in minutes",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a few steps (tests)")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from f4d.cli.train import run_guarded

    budget = BUDGETS["quick" if args.quick else "full"]
    return run_guarded(lambda: run_demo(Path(args.out), budget=budget), on_success=_done)


def _done(summary: dict[str, Any]) -> None:
    print(f"summary: {summary['files']['json']} and {summary['files']['md']}")


def run_demo(out: Path, *, budget: Budget) -> dict[str, Any]:
    """Run the whole demo into ``out``; return the summary (also written as json and md)."""
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    data = _synthesize(out / "data", budget)
    synth_s = time.perf_counter() - start
    pretrain = _pretrain(out, data, budget)
    rows = [_train_and_test(name, out, data, pretrain["checkpoint"], budget) for name in MODELS]
    summary = {
        "budget": budget.__dict__,
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


def _synthesize(root: Path, budget: Budget) -> Path:
    from f4d.data.synthetic import generate

    args = dict(num_train=budget.num_train, num_test=budget.num_test, size=32,
                frames=budget.frames, units=4, seed=0)  # fmt: skip
    if _same_dataset(root, args):
        print(f"[demo] reusing the synthetic dataset in {root}", flush=True)
        return root
    print(f"[demo] f4d synth {root} ({budget.num_train} train / {budget.num_test} test videos)",
          flush=True)  # fmt: skip
    return generate(root, **args, workers=budget.synth_workers)


def _same_dataset(root: Path, args: dict[str, Any]) -> bool:
    meta = root / "synth.json"
    if not meta.is_file() or not (root / "test.csv").is_file():
        return False
    saved = json.loads(meta.read_text())
    return all(saved.get(key) == value for key, value in args.items())


def _config(name: str, overrides: list[str]) -> Any:
    from f4d.engine.config import ConfigError, load_config

    path = CONFIG_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"demo recipe {path} not found (run f4d demo from a source checkout)")
    return load_config(path, overrides)


def _budget_overrides(budget: Budget, epochs: int) -> list[str]:
    overrides = [f"optim.epochs={epochs}", f"run.max_steps={budget.max_steps}"]
    if budget.batch_size:
        overrides += [f"optim.batch_size={budget.batch_size}", "test.batch_size=4"]
    return overrides


def _pretrain(out: Path, data: Path, budget: Budget) -> dict[str, Any]:
    from f4d.engine.train import train

    run_dir = out / "runs" / "pretrain_units"
    cfg = _config(
        "pretrain_units",
        [f"data.root={data}", f"run.out_dir={run_dir}",
         *_budget_overrides(budget, budget.pretrain_epochs)],
    )  # fmt: skip
    print(f"[demo] unit-level pretraining of {cfg.model.name} -> {run_dir}", flush=True)
    result = train(cfg)
    return {
        "model": cfg.model.name,
        "checkpoint": result["checkpoint"],
        "unit_top1": result.get("val_top1"),
        "wall_time_s": result["wall_time_s"],
    }


def _train_and_test(
    name: str, out: Path, data: Path, init_from: str, budget: Budget
) -> dict[str, Any]:
    from f4d.engine.evaluate import evaluate
    from f4d.engine.train import train

    run_dir = out / "runs" / name
    cfg = _config(
        name,
        [f"data.root={data}", f"run.out_dir={run_dir}", f"run.init_from={init_from}",
         *_budget_overrides(budget, budget.epochs)],
    )  # fmt: skip
    print(f"[demo] training {name} -> {run_dir}", flush=True)
    result = train(cfg)
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

"""``f4d train CONFIG [key=value ...] [--resume]``: train a model from a YAML config."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["register", "run_guarded"]

EXIT_CONFIG = 2
EXIT_FAILED = 1


def register(subparsers: Any) -> None:
    """Add the ``train`` sub-command."""
    parser = subparsers.add_parser(
        "train",
        help="train a model (single process, or under torchrun for DDP)",
        description="Train from a YAML config; dotted key=value pairs override it, e.g. "
        "optim.lr=0.02 run.out_dir=runs/x. Launch with `torchrun --nproc_per_node=N "
        "-m f4d.cli.main train ...` for several GPUs.",
    )
    parser.add_argument("config", help="YAML config file (holds only overrides of the defaults)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    parser.add_argument(
        "--resume", action="store_true", help="continue from <out_dir>/checkpoints/last"
    )
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    overrides = list(args.overrides) + (["run.resume=auto"] if args.resume else [])

    def job() -> Any:
        from f4d.engine.config import load_config
        from f4d.engine.train import train

        return train(load_config(args.config, overrides))

    return run_guarded(job, on_success=_print_summary)


def run_guarded(job: Callable[[], Any], *, on_success: Callable[[Any], None]) -> int:
    """Run ``job``; turn config errors into exit 2 and run failures into exit 1, no traceback."""
    from f4d.engine.checkpoint import CheckpointError
    from f4d.engine.config import ConfigError
    from f4d.engine.train import TrainingError

    try:
        result = job()
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    except (CheckpointError, TrainingError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAILED
    on_success(result)
    return 0


def _print_summary(result: dict[str, Any]) -> None:
    keys = ("epoch", "step", "train_loss", "train_top1", "val_top1", "val_top5", "best_metric",
            "wall_time_s", "checkpoint")  # fmt: skip
    print(json.dumps({k: result[k] for k in keys if k in result}, indent=2))
    for path in result.get("plots", []):
        print(f"plot: {path}")

"""``f4d train CONFIG [key=value ...] [--resume]``: train a model from a YAML config."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["register"]


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

    from f4d.engine.config import load_config
    from f4d.engine.train import train

    _print_summary(train(load_config(args.config, overrides)))
    return 0


def _print_summary(result: dict[str, Any]) -> None:
    keys = ("epoch", "step", "train_loss", "train_top1", "val_top1", "val_top5", "best_metric",
            "wall_time_s", "checkpoint")  # fmt: skip
    print(json.dumps({k: result[k] for k in keys if k in result}, indent=2))
    print_bad_videos(result)
    for path in result.get("plots", []):
        print(f"plot: {path}")


def print_bad_videos(result: dict[str, Any]) -> None:
    """Name the videos skipped as bad and the truncated ones sampled from their decodable part."""
    titles = {
        "bad_video_reasons": "skipped bad videos",
        "truncated_videos": "truncated videos sampled from their decodable part",
    }
    for key, title in titles.items():
        rows = result.get(key) or {}
        if rows:
            print(f"{title} ({len(rows)}):")
            for path, reason in rows.items():
                print(f"  {path}: {reason}")

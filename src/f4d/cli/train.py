"""``f4d train CONFIG [key=value ...] [--resume | --overwrite]``: train from a YAML config."""

from __future__ import annotations

import argparse
import json
import shlex
from typing import Any

from f4d.cli.options import config_file

__all__ = ["print_bad_videos", "register"]


def register(subparsers: Any) -> None:
    """Add the ``train`` sub-command."""
    parser = subparsers.add_parser(
        "train",
        help="train a model (single process, or under torchrun for DDP)",
        description="Train from a YAML config; dotted key=value pairs override it, e.g. "
        "optim.lr=0.02 run.out_dir=runs/x (before or after the options). A new run refuses a "
        "run.out_dir that already holds a run: continue it with --resume, pick another "
        "run.out_dir, or replace it with --overwrite. Launch with `torchrun "
        "--nproc_per_node=N -m f4d.cli.main train ...` for several GPUs.",
    )
    parser.add_argument(
        "config", type=config_file, help="YAML config file (holds only overrides of the defaults)"
    )
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    again = parser.add_mutually_exclusive_group()
    again.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in run.out_dir from its newest complete checkpoint "
        "(run.resume=latest); an error if it has none",
    )
    again.add_argument(
        "--overwrite",
        action="store_true",
        help="start a new run even if run.out_dir holds one: its checkpoints, logs and "
        "plots are deleted first",
    )
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    overrides = list(args.overrides) + (["run.resume=latest"] if args.resume else [])

    from f4d.engine.config import load_config
    from f4d.engine.train import train

    cfg = load_config(args.config, overrides)
    try:
        result = train(cfg, overwrite=args.overwrite)
    except KeyboardInterrupt:
        _say_what_was_saved(cfg.run.out_dir, args)
        raise
    if result.get("already_complete"):
        return 0  # train() has said so; no summary of a run that did not happen
    _print_summary(result)
    return 0


def _say_what_was_saved(out_dir: str, args: argparse.Namespace) -> None:
    """After Ctrl-C: the checkpoint that was kept and the exact command that continues it."""
    from f4d.engine import checkpoint as ckpt
    from f4d.engine.runs import CHECKPOINT_DIR

    try:
        last = ckpt.latest_complete_checkpoint(f"{out_dir}/{CHECKPOINT_DIR}")
        meta = ckpt.load_meta(last) if last is not None else None
    except Exception:  # a report after Ctrl-C must not fail
        last = meta = None
    if last is None or meta is None:
        print(f"nothing was saved in {out_dir} (stopped before the first checkpoint); run the "
              "same command without --resume to start again", flush=True)  # fmt: skip
        return
    kept = [a for a in args.overrides if not a.startswith("run.resume=")]
    command = shlex.join(["f4d", "train", str(args.config), *kept, "--resume"])
    print(f"saved: {last} (epoch {meta.get('epoch')}, step {meta.get('step')}); the steps "
          f"after it are lost. Continue with:\n  {command}", flush=True)  # fmt: skip


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

"""``f4d test CONFIG [checkpoint=PATH] [key=value ...]``: test a checkpoint (multi/single view)."""

from __future__ import annotations

import argparse
from typing import Any

from f4d.cli.options import add_precision_option, config_file
from f4d.cli.train import print_bad_videos

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``test`` sub-command."""
    parser = subparsers.add_parser(
        "test",
        help="evaluate a checkpoint: top-1/top-5, per-class accuracy, confusion matrix",
        description="Test a checkpoint on the validation/test split of the config's dataset. "
        "`checkpoint=PATH` is short for test.checkpoint=PATH (default: the run's best). "
        "test.views=multi averages data.test_units x data.test_crops views per video; "
        "test.views=single uses data.units units and one centre crop. Results (predictions, "
        "confusion matrix, results json) go into the tested run's test/ folder, e.g. "
        "runs/mine/test/multi_results.json (test.output=STEM: elsewhere).",
    )
    parser.add_argument("config", type=config_file, help="YAML config file")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    add_precision_option(parser, default=None)
    parser.set_defaults(func=_main)


def _expand(overrides: list[str]) -> list[str]:
    return [f"test.{item}" if item.startswith("checkpoint=") else item for item in overrides]


def _main(args: argparse.Namespace) -> int:
    from f4d.engine.config import load_config
    from f4d.engine.evaluate import evaluate

    overrides = _expand(list(args.overrides))
    if args.precision is not None:  # the same word as run.amp, which it overrides
        overrides.append(f"run.amp={args.precision}")
    _print_files(evaluate(load_config(args.config, overrides)))
    return 0


def _print_files(result: dict[str, Any]) -> None:
    for name, path in result.get("files", {}).items():
        print(f"{name}: {path}")
    print_bad_videos(result)

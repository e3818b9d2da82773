"""f4d experiment NAME [--seeds 0,1,2] [--out DIR] [--hard | --smoke]: one of the paper's claims
at small scale (tiny models on the synthetic long-range-order dataset; Table 1 profiles ResNet-50).

Writes ``DIR/NAME/results.json`` and ``results.md`` (mean ± std over seeds, wall time);
``--hard`` trains on the 24-class variant (every order of the four primitives) and writes
``DIR/NAME_hard/``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from f4d.cli.options import new_or_writable_dir
from f4d.experiments.specs import EXPERIMENTS

__all__ = ["parse_seeds", "register"]


def register(subparsers: Any) -> None:
    """Add the ``experiment`` sub-command."""
    parser = subparsers.add_parser(
        "experiment",
        help="reproduce a paper claim at small scale (headline, figure4, scratch, table1..table5)",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("name", choices=list(EXPERIMENTS), help="which claim")
    parser.add_argument("--seeds", default="0,1,2", type=parse_seeds,
                        help="comma-separated training seeds (default: 0,1,2)")  # fmt: skip
    parser.add_argument("--out", default="experiments_out", type=new_or_writable_dir,
                        help="output folder (default: experiments_out)")  # fmt: skip
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--hard", action="store_true",
                      help="the 24-class dataset (every order; classes as close as one swap) "
                      "for rows that all reach 100%% on the 12-class one")  # fmt: skip
    size.add_argument("--smoke", action="store_true",
                      help="seconds-long version: a few rows, 1 step, tiny data")  # fmt: skip
    parser.add_argument("--fresh", action="store_true",
                        help="retrain runs found in the cache (OUT/_shared_*/runs)")  # fmt: skip
    parser.set_defaults(func=_main)


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0,1,2"`` -> ``(0, 1, 2)``; anything else is an argparse error naming the value."""
    try:
        seeds = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--seeds {text!r}: expected comma-separated integers like 0,1,2"
        ) from None
    if min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"--seeds {text!r}: seeds are integers >= 0")
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"--seeds {text!r}: a seed is repeated")
    return seeds


def _main(args: argparse.Namespace) -> int:
    from f4d.experiments.runner import run_experiment

    scale = "smoke" if args.smoke else "hard" if args.hard else "small"
    _done(run_experiment(args.name, seeds=args.seeds, out=args.out, scale=scale, fresh=args.fresh))
    return 0


def _done(summary: dict[str, Any]) -> None:
    print(Path(summary["files"]["md"]).read_text())
    print(f"results: {summary['files']['json']} and {summary['files']['md']}")

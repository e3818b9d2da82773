"""``f4d synth OUT_DIR``: write the long-range-order synthetic dataset (see f4d.data.synthetic)."""

from __future__ import annotations

import argparse
import sys
import time


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``synth`` sub-command."""
    parser = subparsers.add_parser(
        "synth",
        help="generate the synthetic long-range-order video dataset",
        description="Write mp4 videos whose class is the order of four motions, plus "
        "train/test csv lists, per-unit labels and classes.txt.",
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", help="output folder")
    parser.add_argument("--num-train", type=int, default=4000, help="training videos")
    parser.add_argument("--num-test", type=int, default=500, help="test videos")
    parser.add_argument("--size", type=int, default=32, help="frame side in pixels (even)")
    parser.add_argument("--frames", type=int, default=48, help="frames per video")
    parser.add_argument("--units", type=int, default=4, help="events (sections) per video")
    parser.add_argument("--classes", type=int, default=12, help="number of classes (orders)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--format", default="csv", choices=("csv", "folder"), help="layout")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all CPUs)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate the dataset; return 0, or 2 with a message for bad arguments."""
    from f4d.data.synthetic import generate

    start = time.perf_counter()
    try:
        root = generate(
            args.out_dir,
            num_train=args.num_train,
            num_test=args.num_test,
            size=args.size,
            frames=args.frames,
            units=args.units,
            seed=args.seed,
            num_classes=args.classes,
            fmt=args.format,
            workers=args.workers,
            progress=not args.quiet,
        )
    except ValueError as err:
        print(f"f4d synth: error: {err}", file=sys.stderr)
        return 2
    total = args.num_train + args.num_test
    print(f"wrote {total} videos to {root} in {time.perf_counter() - start:.1f} s")
    return 0

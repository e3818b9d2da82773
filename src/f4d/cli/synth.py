"""``f4d synth OUT_DIR``: write the long-range-order synthetic dataset (see f4d.data.synthetic)."""

from __future__ import annotations

import argparse
import math
import time

from f4d.cli.options import (
    MAX_COUNT,
    MAX_FRAMES,
    MAX_SIZE,
    MAX_WORKERS,
    int_in,
    new_or_writable_dir,
)
from f4d.errors import OptionError

MAX_UNITS = 8  # 8! orders already; more makes listing the classes slow


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``synth`` sub-command."""
    parser = subparsers.add_parser(
        "synth",
        help="generate the synthetic long-range-order video dataset",
        description="Write mp4 videos whose class is the order of four motions, plus "
        "train/test csv lists, per-unit labels and classes.txt.",
    )
    count, workers = int_in(0, MAX_COUNT), int_in(0, MAX_WORKERS)
    parser.add_argument("out_dir", metavar="OUT_DIR", type=new_or_writable_dir,
                        help="output folder (created if missing)")  # fmt: skip
    parser.add_argument("--num-train", type=count, default=4000, help="training videos")
    parser.add_argument("--num-test", type=count, default=500, help="test videos")
    parser.add_argument("--size", type=int_in(16, MAX_SIZE, even=True), default=32,
                        help="frame side in pixels (even, >= 16)")  # fmt: skip
    parser.add_argument("--frames", type=int_in(4, MAX_FRAMES), default=48,
                        help="frames per video (>= 2 x units)")  # fmt: skip
    parser.add_argument("--units", type=int_in(2, MAX_UNITS), default=4,
                        help="events (sections) per video")  # fmt: skip
    parser.add_argument("--classes", type=int_in(1, MAX_COUNT), default=12,
                        help="number of classes (orders)")  # fmt: skip
    parser.add_argument("--seed", type=int_in(0), default=0, help="random seed")
    parser.add_argument("--format", default="csv", choices=("csv", "folder"), help="layout")
    parser.add_argument("--workers", type=workers, default=None,
                        help="processes (default: all CPUs; 0 or 1: in this process)")  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate the dataset; options that only fail together raise :class:`OptionError`."""
    from f4d.data.synthetic import generate

    if args.num_train + args.num_test == 0:
        raise OptionError("--num-train and --num-test are both 0: nothing to write")
    if args.frames < 2 * args.units:
        raise OptionError(f"--frames {args.frames} is below 2 x --units = {2 * args.units}")
    orders = _num_orders(args.units)
    if args.classes > orders:
        raise OptionError(f"--classes {args.classes}: --units {args.units} allows 1..{orders}")
    start = time.perf_counter()
    root = generate(
        args.out_dir, num_train=args.num_train, num_test=args.num_test, size=args.size,
        frames=args.frames, units=args.units, seed=args.seed, num_classes=args.classes,
        fmt=args.format, workers=args.workers, progress=not args.quiet,
    )  # fmt: skip
    total = args.num_train + args.num_test
    print(f"wrote {total} videos to {root} in {time.perf_counter() - start:.1f} s")
    return 0


def _num_orders(units: int) -> int:
    """How many distinct orders (classes) ``units`` events of the four primitives have."""
    from f4d.data.synthetic import PRIMITIVES

    counts = [len(range(p, units, len(PRIMITIVES))) for p in range(len(PRIMITIVES))]
    return math.factorial(units) // math.prod(math.factorial(c) for c in counts)

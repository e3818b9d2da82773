"""`f4d bench`: measure models, 4D ops and the data pipeline (see docs/benchmarks.md).

f4d bench model --models v4d_r50,f4d_r50,i3d_r50,tsn_r50 --frames 8 --units 4 --batch 16
f4d bench ops --widths 64,128,256,512 --backward
f4d bench breakdown --models v4d_r50,f4d_r50 --frames 8 --units 4 --batch 16 --dtype bf16
f4d bench data data/sthv1 --format sthv1 --workers 4
f4d bench data --synthetic
f4d bench data data/sthv2/videos --format sthv2 --workers 1 --naive --prepared data/sthv2-256 \
    --rounds 5 --profile
f4d bench report bench_out/*.json --out bench_out/summary.md
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from rich.console import Console

from f4d.bench.report import markdown_from_files, rich_tables, spread_warnings, write_json
from f4d.cli.guard import call_command, debug_from_env
from f4d.cli.helptext import DefaultsFormatter
from f4d.cli.options import (
    MAX_BATCH,
    MAX_COUNT,
    MAX_FRAMES,
    MAX_SIZE,
    MAX_WORKERS,
    add_precision_option,
    device_name,
    existing_dir,
    existing_file,
    existing_path,
    int_in,
    model_name,
    positive_float,
    writable_file,
)
from f4d.data.formats import FORMATS
from f4d.errors import OptionError

MAX_WIDTH = 16384  # channels in `bench ops`
SYNTHETIC_UNITS = (2, 8)  # `bench data --synthetic` writes f4d synth videos: U orders


def _int_list(text: str, *, count: int | None = None, high: int = MAX_WIDTH) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from err
    if not values or min(values) < 1 or max(values) > high:
        raise argparse.ArgumentTypeError(f"expected integers in 1..{high}, got {text!r}")
    if count is not None and len(values) != count:
        raise argparse.ArgumentTypeError(f"expected {count} integers, got {text!r}")
    return values


def _kernel(text: str) -> list[int]:
    """``u,t,h,w``: four kernel sizes in 1..MAX_FRAMES."""
    return _int_list(text, count=4, high=MAX_FRAMES)


def _model_list(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated model names, got {text!r}")
    return [model_name(name) for name in names]


def _console() -> Console:
    """A console that does not squash wide tables when writing to a file or pipe."""
    console = Console()
    return console if console.is_terminal else Console(width=200)


def _progress(console: Console, what: str) -> None:
    console.print(f"[dim]{datetime.now():%H:%M:%S}[/dim] {what}")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", type=device_name, default="auto",
                        help="auto | cpu | cuda | cuda:N")  # fmt: skip
    parser.add_argument("--repeats", type=int_in(1, MAX_COUNT), default=5,
                        help="timed calls (median and min-max reported)")  # fmt: skip
    parser.add_argument("--warmup", type=int_in(0, MAX_COUNT), default=2,
                        help="untimed calls before timing")  # fmt: skip
    parser.add_argument("--json", type=writable_file, default=None, metavar="OUT",
                        help="write JSON here")  # fmt: skip
    parser.add_argument("--threads", type=int_in(0, MAX_WORKERS), default=0,
                        help="CPU threads (0: torch default)")  # fmt: skip


def _add_shape(
    parser: argparse.ArgumentParser, default_models: list[str], models_help: str
) -> None:
    """Options shared by `bench model` and `bench breakdown`: models, input shape, dtype."""
    frames = int_in(1, MAX_FRAMES)
    parser.add_argument("--models", type=_model_list, default=default_models, help=models_help)
    parser.add_argument("--frames", type=frames, default=8, help="T frames per unit")
    parser.add_argument("--units", type=frames, default=4, help="U action units")
    parser.add_argument("--batch", type=int_in(1, MAX_BATCH), default=16, help="videos per batch")
    parser.add_argument("--size", type=int_in(1, MAX_SIZE), default=224, help="crop size H = W")
    parser.add_argument("--num-classes", type=int_in(1, MAX_COUNT), default=174,
                        help="classifier width (174: SSv1)")  # fmt: skip
    parser.add_argument("--dtype", choices=("bf16", "fp32"), default=None,
                        help="plain autocast dtype (fp32); bench model: with --raw")  # fmt: skip


def _add_model_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "model",
        help="inference / training videos/s of models, side by side",
        description="Time each model's forward pass (and with --train a training step) on a "
        "random batch (B, U, 3, T, size, size), one model after another in one process: "
        "videos/s (median, with min-max spread over --repeats timed calls; a warning when the "
        "spread is wide), peak memory, FLOP/s and % of the device's peak. Ratios are against "
        "the first model.",
        formatter_class=DefaultsFormatter,
    )
    _add_shape(
        p,
        ["v4d_r50", "f4d_r50", "i3d_r50", "tsn_r50"],
        "comma-separated registry names; ratios are against the first",
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the whole model")
    p.add_argument("--compile-backend", default="inductor", help="torch.compile backend")
    _add_layout_options(p)
    p.add_argument("--train", action="store_true", help="also time a training step (SGD)")
    add_precision_option(p)
    p.add_argument(
        "--raw",
        action="store_true",
        help="time the model as create_model gives it, under plain autocast per --dtype "
        "(the path before issue 23), instead of through f4d.models.for_inference",
    )
    p.add_argument(
        "--peak-tflops",
        type=positive_float,
        default=None,
        help="device peak for the %%-of-peak column (default: vendor spec if known)",
    )
    _add_common(p)
    p.set_defaults(func=run_model)


def _add_ops_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "ops",
        help="Conv4d / Factorized4d against the naive 3D-conv loop",
        description="Time the 4D convolution ops (Conv4d, Factorized4d) against the naive "
        "loop of one 3D convolution per unit offset, at each channel width, on random input "
        "(B, C, U, T, size, size); forward, or forward + backward with --backward.",
        formatter_class=DefaultsFormatter,
    )
    p.add_argument(
        "--widths",
        type=_int_list,
        default=[64, 128, 256, 512],
        help="channel widths C (input = output)",
    )
    frames = int_in(1, MAX_FRAMES)
    p.add_argument("--units", type=frames, default=4, help="U action units")
    p.add_argument("--frames", type=frames, default=8, help="T frames per unit")
    p.add_argument("--size", type=int_in(1, MAX_SIZE), default=14, help="spatial size H = W")
    p.add_argument("--batch", type=int_in(1, MAX_BATCH), default=1, help="batch B")
    p.add_argument("--kernel", type=_kernel, default=[3, 3, 1, 1], help="u,t,h,w")
    p.add_argument("--backward", action="store_true", help="time forward + backward")
    _add_common(p)
    p.set_defaults(func=run_ops, warmup=1)


def _add_breakdown_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "breakdown",
        help="per-component forward times (stem, stages, 4D blocks, op, attention)",
        description="Time the parts of each model's forward pass (stem, the stages, the 4D "
        "blocks and inside them the 4D op and each attention module) from forward hooks, "
        "and show the last model next to the first.",
        formatter_class=DefaultsFormatter,
    )
    _add_shape(
        p,
        ["v4d_r50", "f4d_r50"],
        "comma-separated registry names; the side-by-side view is last vs first",
    )
    _add_layout_options(p)
    _add_common(p)
    p.set_defaults(func=run_breakdown)


def _add_layout_options(p: argparse.ArgumentParser) -> None:
    """cuDNN autotuning and memory layout: shared by ``bench model`` and ``bench breakdown``."""
    p.add_argument(
        "--no-cudnn-benchmark",
        action="store_true",
        help="leave cuDNN benchmark mode (autotuning, default on) off",
    )
    p.add_argument(
        "--channels-last",
        action="store_true",
        help="also lay the input out channels-last (models are channels_last_3d by default)",
    )
    p.add_argument(
        "--contiguous",
        action="store_true",
        help="run the model in the plain (N, C, T, H, W) memory layout instead of the default "
        "channels-last one, to see what channels-last gains",
    )


def _add_data_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "data",
        help="videos/s of the loading pipeline",
        description="Time the training data loader (decode, sample, augment, collate) on a "
        "dataset (PATH) or a generated one (--synthetic) in videos/s; --naive and --prepared "
        "add a naive reader and an `f4d data prepare` copy side by side, in interleaved "
        "--rounds; --profile splits one video's read into its steps.",
        formatter_class=DefaultsFormatter,
    )
    p.add_argument("path", nargs="?", type=existing_path, default=None,
                   help="dataset root or csv (see --format)")  # fmt: skip
    p.add_argument(
        "--synthetic",
        action="store_true",
        help="generate a small synthetic dataset in a temporary folder and time it",
    )
    frames = int_in(1, MAX_FRAMES)
    p.add_argument("--format", choices=sorted(FORMATS), default="csv", help="dataset format")
    p.add_argument("--split", default="train", help="split to read")
    p.add_argument("--workers", type=int_in(0, MAX_WORKERS), default=2,
                   help="loader worker processes")  # fmt: skip
    p.add_argument("--units", type=frames, default=4, help="U action units")
    p.add_argument("--frames", type=frames, default=8, help="frames per unit")
    p.add_argument("--stride", type=frames, default=4, help="frame stride in a unit")
    p.add_argument("--size", type=int_in(1, MAX_SIZE), default=224, help="crop size H = W")
    p.add_argument("--num-videos", type=int_in(1, MAX_COUNT), default=32,
                   help="videos timed (the first N of the split)")  # fmt: skip
    p.add_argument(
        "--naive",
        action="store_true",
        help="also time the naive reader (decode all frames to RGB, float resize); ratios vs it",
    )
    p.add_argument(
        "--prepared",
        type=existing_dir,
        default=None,
        metavar="ROOT",
        help="also time the same split read from this `f4d data prepare` copy",
    )
    p.add_argument("--rounds", type=int_in(1, MAX_COUNT), default=1,
                   help="interleaved rounds (median reported)")  # fmt: skip
    p.add_argument(
        "--profile",
        action="store_true",
        help="also print ms per step (open, decode, convert, resize, ...) of one video, in-process",
    )
    p.add_argument("--json", type=writable_file, default=None, metavar="OUT",
                   help="write JSON here")  # fmt: skip
    p.set_defaults(func=run_data)


def _add_report_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="markdown tables from benchmark JSON files",
        description="Turn the JSON files written by `f4d bench ... --json` into markdown "
        "tables (printed, or written to --out).",
        formatter_class=DefaultsFormatter,
    )
    p.add_argument("files", nargs="+", type=existing_file, help="JSON files of f4d bench --json")
    p.add_argument("--out", type=writable_file, default=None,
                   help="write markdown here (else print)")  # fmt: skip
    p.set_defaults(func=run_report)


def register(subparsers) -> None:
    """Add `f4d bench {model,ops,breakdown,data,report}`."""
    parser = subparsers.add_parser("bench", help="benchmarks: models, 4D ops, data loading")
    inner = parser.add_subparsers(dest="bench_command", metavar="WHAT", required=True)
    _add_model_parser(inner)
    _add_ops_parser(inner)
    _add_breakdown_parser(inner)
    _add_data_parser(inner)
    _add_report_parser(inner)


def _setup(args: argparse.Namespace):
    import torch

    from f4d.bench.timing import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    return resolve_device(args.device)


def _recorder(
    console: Console,
    json_path: Path | None,
    make_report: Callable[[list[dict]], dict],
    line: Callable[[dict], str],
) -> Callable[[dict], None]:
    """An ``on_result`` callback: keep each finished result, rewrite the JSON report of all so
    far (partial results survive a kill, e.g. gpu.sh's time limits) and print a progress line
    (``line(result)``, or the error of a failed model)."""
    finished: list[dict] = []

    def done(result: dict) -> None:
        finished.append(result)
        if json_path is not None:
            write_json(make_report(finished), json_path)
        if "error" in result:
            _progress(console, f"{result['model']}: [red]{result['error']}[/red]")
            return
        _progress(console, line(result))

    return done


def _finish(console: Console, report: dict, json_path: Path | None, title: str) -> int:
    for table in rich_tables(report, title=title):
        console.print(table)
    for warning in spread_warnings(report) if report.get("kind") == "model" else ():
        console.print(f"[yellow]{warning}[/yellow]", highlight=False)
    if json_path is not None:
        _progress(console, f"wrote {write_json(report, json_path)}")
    return 1 if any("error" in r for r in report["results"]) else 0


def _run_model_bench(
    args: argparse.Namespace,
    command: str,
    verb: str,
    bench: Callable[..., dict],
    make_report: Callable[..., dict],
    line: Callable[[dict], str],
    **extra: object,
) -> int:
    """`bench model` / `bench breakdown`: ``ModelBenchSettings`` from the options of
    ``_add_shape`` and ``_add_common`` (plus ``extra`` settings), then ``bench`` over
    ``args.models`` with each result recorded as it finishes, then the tables titled
    ``command``. Settings that only fail together raise :class:`OptionError`."""
    from f4d.bench.model import ModelBenchSettings

    console = _console()
    try:
        device = _setup(args)
        settings = ModelBenchSettings(
            frames=args.frames, units=args.units, batch=args.batch, size=args.size,
            dtype=args.dtype or "fp32", channels_last=args.channels_last,
            contiguous=args.contiguous,
            cudnn_benchmark=not args.no_cudnn_benchmark, repeats=args.repeats,
            warmup=args.warmup, num_classes=args.num_classes, **extra,
        )  # fmt: skip
    except ValueError as err:  # settings the option types cannot check one by one
        raise OptionError(str(err)) from err
    _progress(console, f"{verb} {', '.join(args.models)} on {device}")
    done = _recorder(console, args.json, lambda rows: make_report(rows, settings=settings,
                     device=device), line)  # fmt: skip
    report = bench(args.models, settings=settings, device=device, on_result=done)
    return _finish(console, report, args.json, command)


def run_model(args: argparse.Namespace) -> int:
    """`f4d bench model`."""
    from f4d.bench.model import bench_models, make_report

    def line(result: dict) -> str:
        speed = result["inference"]
        low, high = speed["videos_per_s_min"], speed["videos_per_s_max"]
        median = speed["videos_per_s"]
        return (
            f"{result['model']}: {median:.2f} videos/s (min {low:.2f}, max {high:.2f}; "
            f"{speed['precision']})"
        )

    if args.dtype is not None and not args.raw:
        raise OptionError(
            f"--dtype {args.dtype} is plain autocast of the unprepared model: add --raw, or "
            f"use --precision {args.dtype} (through f4d.models.for_inference)"
        )
    return _run_model_bench(
        args, "f4d bench model", "benchmarking", bench_models, make_report, line,
        compile=args.compile, compile_backend=args.compile_backend, train=args.train,
        peak_tflops=args.peak_tflops, precision=None if args.raw else args.precision,
    )  # fmt: skip


def run_ops(args: argparse.Namespace) -> int:
    """`f4d bench ops`."""
    from f4d.bench.ops import OpsBenchSettings, bench_ops, make_ops_report

    console = _console()
    try:
        device = _setup(args)
        settings = OpsBenchSettings(
            units=args.units, frames=args.frames, size=args.size, batch=args.batch,
            kernel=tuple(args.kernel), backward=args.backward, repeats=args.repeats,
            warmup=args.warmup,
        )  # fmt: skip
    except ValueError as err:  # settings the option types cannot check one by one
        raise OptionError(str(err)) from err

    def line(row: dict) -> str:
        return f"width {row['width']}: Conv4d {row['conv4d_speedup']:.2f}× the loop"

    done = _recorder(console, args.json, lambda rows: make_ops_report(rows, settings=settings,
                     device=device), line)  # fmt: skip

    report = bench_ops(args.widths, settings=settings, device=device, on_result=done)
    return _finish(console, report, args.json, "f4d bench ops")


def run_breakdown(args: argparse.Namespace) -> int:
    """`f4d bench breakdown`."""
    from f4d.bench.breakdown import bench_breakdowns, make_breakdown_report

    def line(result: dict) -> str:
        return f"{result['model']}: forward {result['whole_ms']:.2f} ms (hooked)"

    return _run_model_bench(
        args, "f4d bench breakdown", "breaking down", bench_breakdowns, make_breakdown_report, line
    )


def run_data(args: argparse.Namespace) -> int:
    """`f4d bench data`."""
    from f4d.bench.data import bench_dataset, bench_synthetic

    console = _console()
    options = {
        "units": args.units, "frames_per_unit": args.frames, "stride": args.stride,
        "size": args.size, "workers": args.workers, "num_videos": args.num_videos,
    }  # fmt: skip
    if args.synthetic == (args.path is not None):
        raise OptionError("give either a dataset PATH or --synthetic (not both, not neither)")
    low, high = SYNTHETIC_UNITS
    if args.synthetic and not low <= args.units <= high:
        raise OptionError(f"--units {args.units}: --synthetic videos hold {low}..{high} units")
    if args.naive or args.prepared or args.profile or args.rounds > 1:
        if args.synthetic:
            raise OptionError("--naive, --prepared, --profile and --rounds need a dataset PATH")
        return _run_data_compare(args, options, console)
    if args.synthetic:
        with tempfile.TemporaryDirectory(prefix="f4d-bench-data-") as tmp:
            _progress(console, f"generating a synthetic dataset in {tmp}")
            result = bench_synthetic(Path(tmp), **options)
    else:
        result = bench_dataset(args.path, fmt=args.format, split=args.split, **options)
    console.print_json(data=result)
    if args.json is not None:
        _progress(console, f"wrote {write_json(result, args.json)}")
    return 0


def _run_data_compare(args: argparse.Namespace, options: dict, console: Console) -> int:
    """`f4d bench data PATH --naive/--prepared/--profile/--rounds`: variants side by side."""
    from f4d.bench.data import compare_datasets, data_table, profile_table

    def line(round_: int, name: str, result: dict) -> None:
        rate = result["steady_videos_per_s"] or result["videos_per_s"]
        _progress(console, f"round {round_ + 1}/{args.rounds} {name}: {rate:.2f} videos/s")

    report = compare_datasets(
        args.path, fmt=args.format, split=args.split, prepared=args.prepared, naive=args.naive,
        rounds=args.rounds, profile=args.profile, on_round=line, **options,
    )  # fmt: skip
    console.print(data_table(report))
    for table in profile_table(report):
        console.print(table)
    if args.json is not None:
        _progress(console, f"wrote {write_json(report, args.json)}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    """`f4d bench report`."""
    text = markdown_from_files(args.files)
    if args.out is None:
        print(text)
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m f4d.cli.bench WHAT ...`: the bench commands without the other sub-commands
    (and their dependencies), as used by ``benchmarks/gpu.sh``."""
    from f4d.cli.main import all_subparsers

    parser = argparse.ArgumentParser(prog="python -m f4d.cli.bench")
    register(parser.add_subparsers(dest="command", required=True))
    for sub in all_subparsers(parser):
        sub.set_defaults(prog=sub.prog)
    args = parser.parse_args(["bench", *(sys.argv[1:] if argv is None else argv)])
    return call_command(lambda: args.func(args), prog=args.prog, debug=debug_from_env())


if __name__ == "__main__":
    sys.exit(main())

"""`f4d bench`: measure models, 4D ops and the data pipeline (see docs/benchmarks.md).

f4d bench model --models v4d_r50,f4d_r50,i3d_r50,tsn_r50 --frames 8 --units 4 --batch 16
f4d bench ops --widths 64,128,256,512 --backward
f4d bench breakdown --models v4d_r50,f4d_r50 --frames 8 --units 4 --batch 16 --dtype bf16
f4d bench data data/sthv1 --format sthv1 --workers 4
f4d bench data --synthetic
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

from f4d.bench.report import markdown_from_files, rich_tables, write_json


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from err
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _name_list(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return names


def _console() -> Console:
    """A console that does not squash wide tables when writing to a file or pipe."""
    console = Console()
    return console if console.is_terminal else Console(width=200)


def _progress(console: Console, what: str) -> None:
    console.print(f"[dim]{datetime.now():%H:%M:%S}[/dim] {what}")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls before timing")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="write JSON here")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")


def _add_shape(
    parser: argparse.ArgumentParser, default_models: list[str], models_help: str
) -> None:
    """Options shared by `bench model` and `bench breakdown`: models, input shape, dtype."""
    parser.add_argument("--models", type=_name_list, default=default_models, help=models_help)
    parser.add_argument("--frames", type=int, default=8, help="T frames per unit")
    parser.add_argument("--units", type=int, default=4, help="U action units")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=224, help="crop size H = W")
    parser.add_argument("--num-classes", type=int, default=174, help="classifier width (174: SSv1)")
    parser.add_argument("--dtype", choices=("bf16", "fp32"), default="fp32", help="autocast dtype")


def _add_model_parser(subparsers) -> None:
    p = subparsers.add_parser("model", help="inference / training videos/s of models, side by side")
    _add_shape(
        p,
        ["v4d_r50", "f4d_r50", "i3d_r50", "tsn_r50"],
        "comma-separated registry names; ratios are against the first",
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the whole model")
    p.add_argument("--compile-backend", default="inductor", help="torch.compile backend")
    p.add_argument(
        "--no-cudnn-benchmark",
        action="store_true",
        help="leave cuDNN benchmark mode (autotuning, default on) off",
    )
    p.add_argument("--channels-last", action="store_true", help="channels_last_3d layout")
    p.add_argument("--train", action="store_true", help="also time a training step (SGD)")
    p.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="device peak for the %%-of-peak column (default: vendor spec if known)",
    )
    _add_common(p)
    p.set_defaults(func=run_model)


def _add_ops_parser(subparsers) -> None:
    p = subparsers.add_parser("ops", help="Conv4d / Factorized4d against the naive 3D-conv loop")
    p.add_argument(
        "--widths",
        type=_int_list,
        default=[64, 128, 256, 512],
        help="channel widths C (input = output)",
    )
    p.add_argument("--units", type=int, default=4)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--size", type=int, default=14, help="spatial size H = W")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--kernel", type=_int_list, default=[3, 3, 1, 1], help="u,t,h,w")
    p.add_argument("--backward", action="store_true", help="time forward + backward")
    _add_common(p)
    p.set_defaults(func=run_ops, warmup=1)


def _add_breakdown_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "breakdown", help="per-component forward times (stem, stages, 4D blocks, op, attention)"
    )
    _add_shape(
        p,
        ["v4d_r50", "f4d_r50"],
        "comma-separated registry names; the side-by-side view is last vs first",
    )
    p.add_argument(
        "--no-cudnn-benchmark",
        action="store_true",
        help="leave cuDNN benchmark mode (autotuning, default on) off",
    )
    p.add_argument("--channels-last", action="store_true", help="channels_last_3d layout")
    _add_common(p)
    p.set_defaults(func=run_breakdown)


def _add_data_parser(subparsers) -> None:
    p = subparsers.add_parser("data", help="videos/s of the loading pipeline")
    p.add_argument("path", nargs="?", default=None, help="dataset root or csv (see --format)")
    p.add_argument(
        "--synthetic",
        action="store_true",
        help="generate a small synthetic dataset in a temporary folder and time it",
    )
    p.add_argument("--format", default="csv", help="dataset format (f4d.data.annotations)")
    p.add_argument("--split", default="train")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--units", type=int, default=4)
    p.add_argument("--frames", type=int, default=8, help="frames per unit")
    p.add_argument("--stride", type=int, default=4)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--num-videos", type=int, default=32)
    p.add_argument("--json", type=Path, default=None, metavar="OUT")
    p.set_defaults(func=run_data)


def _add_report_parser(subparsers) -> None:
    p = subparsers.add_parser("report", help="markdown tables from benchmark JSON files")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--out", type=Path, default=None, help="write markdown here (else print)")
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
    ``command``. Bad settings or model names exit with a message naming ``command``."""
    from f4d.bench.model import ModelBenchSettings

    console = _console()
    try:
        device = _setup(args)
        settings = ModelBenchSettings(
            frames=args.frames, units=args.units, batch=args.batch, size=args.size,
            dtype=args.dtype, channels_last=args.channels_last,
            cudnn_benchmark=not args.no_cudnn_benchmark, repeats=args.repeats,
            warmup=args.warmup, num_classes=args.num_classes, **extra,
        )  # fmt: skip
    except ValueError as err:
        raise SystemExit(f"{command}: {err}") from err
    _progress(console, f"{verb} {', '.join(args.models)} on {device}")
    done = _recorder(console, args.json, lambda rows: make_report(rows, settings=settings,
                     device=device), line)  # fmt: skip
    try:
        report = bench(args.models, settings=settings, device=device, on_result=done)
    except ValueError as err:  # bad model names: a message, not a traceback
        raise SystemExit(f"{command}: {err}") from err
    return _finish(console, report, args.json, command)


def run_model(args: argparse.Namespace) -> int:
    """`f4d bench model`."""
    from f4d.bench.model import bench_models, make_report

    def line(result: dict) -> str:
        return f"{result['model']}: {result['inference']['videos_per_s']:.2f} videos/s"

    return _run_model_bench(
        args, "f4d bench model", "benchmarking", bench_models, make_report, line,
        compile=args.compile, compile_backend=args.compile_backend, train=args.train,
        peak_tflops=args.peak_tflops,
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
    except ValueError as err:
        raise SystemExit(f"f4d bench ops: {err}") from err

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
        raise SystemExit("give either a dataset PATH or --synthetic (not both, not neither)")
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
    parser = argparse.ArgumentParser(prog="python -m f4d.cli.bench")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

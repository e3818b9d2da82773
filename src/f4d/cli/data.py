"""``f4d data check PATH_OR_CONFIG``: scan a dataset split for unreadable/short videos.

PATH_OR_CONFIG is a YAML config (a training config, with KEY=VALUE overrides, or a minimal
file with a ``data`` section; see f4d.data.check), a csv file (``path,label``), or a dataset
folder. Without --format a folder holding ``<split>.csv`` is read as csv, any other folder as
folder (one sub-folder per class). Exit code 0 when every video is fine or only short (a
warning: training repeats frames), 1 when any other problem was found, 3 for a bad config, 4
when the annotations themselves are wrong (all codes: f4d.errors). Layouts: docs/datasets.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from f4d.cli.helptext import DefaultsFormatter, plain
from f4d.cli.options import (
    MAX_FRAMES,
    MAX_SIZE,
    MAX_WORKERS,
    existing_dir,
    existing_path,
    int_in,
    new_or_writable_dir,
)
from f4d.data.formats import FORMATS, DatasetIndex, SplitNotFoundError, load_index
from f4d.data.formats.csvlist import csv_splits
from f4d.errors import InputError, OptionError

MAX_ROWS = 200


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``f4d data`` and its ``check`` and ``prepare`` sub-commands."""
    parser = subparsers.add_parser("data", help="check and prepare datasets (check, prepare)")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")
    check = sub.add_parser(
        "check",
        help="probe and decode every video of a split; report bad videos and labels",
        description=plain(__doc__),
        formatter_class=DefaultsFormatter,
    )
    frames = int_in(1, MAX_FRAMES)
    check.add_argument("path", type=existing_path, metavar="PATH_OR_CONFIG")
    check.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                       help="config overrides, e.g. data.root=/data/sthv1 (YAML only)")  # fmt: skip
    check.add_argument("--format", choices=sorted(FORMATS), default=None)
    check.add_argument("--split", default="train",
                       help="train | val | test (default: train); val reads the split validation "
                       "uses: ucf101/hmdb51 test lists, a folder's val/ or else test/, val.csv "
                       "or else test.csv")  # fmt: skip
    check.add_argument("--fold", type=int_in(1, 3), default=None, help="ucf101/hmdb51 fold 1-3")
    check.add_argument("--annotations", type=existing_path, default=None,
                       help="folder (or list file) with the annotation files")  # fmt: skip
    check.add_argument("--units", type=frames, default=None, help="U (default 4)")
    check.add_argument("--frames", type=frames, default=None, help="T per unit (default 8)")
    check.add_argument("--stride", type=frames, default=None, help="frame stride (default 4)")
    check.add_argument("--workers", type=int_in(1, MAX_WORKERS), default=4,
                       help="decoding threads")  # fmt: skip
    check.add_argument("--allow-outside-root", action="store_true",
                       help="accept video paths outside the dataset root")  # fmt: skip
    check.set_defaults(func=run_check)
    _register_prepare(sub)
    parser.set_defaults(func=lambda args: _usage(parser))


PREPARE_HELP = """Write a copy of the dataset under SRC to OUT that decodes fast: each video resized
(short side, aspect kept) and re-encoded as H.264 with a keyframe every --gop frames, or, with
--frames-dir, a folder of JPEG frames (the Something-Something v1 layout). Every file keeps its
relative path and name (a frame folder takes the video's file name), other files (annotation
lists) are copied, so training reads the copy with only data.root changed. Parallel,
resumable (finished files are skipped; each file is written to a hidden temporary and renamed),
and bad inputs (truncated, unreadable) are listed at the end; exit code 1 if there were any,
4 if SRC holds no video at all. Details: docs/datasets.md."""


def _register_prepare(sub: argparse._SubParsersAction) -> None:
    from f4d.data.prepare import PrepareOptions

    defaults = PrepareOptions()
    prepare = sub.add_parser(
        "prepare", help="write a fast-decoding copy of a dataset (resized, short GOP or JPEGs)",
        description=PREPARE_HELP,
    )  # fmt: skip
    prepare.add_argument("src", type=existing_dir, metavar="SRC",
                         help="the dataset root (data.root)")  # fmt: skip
    prepare.add_argument("out", type=new_or_writable_dir, metavar="OUT", help="the new root")
    prepare.add_argument("--short-side", type=int_in(0, MAX_SIZE, even=True),
                         default=defaults.short_side,
                         help="short side in pixels, never enlarged; 0 keeps the size "
                              f"(default {defaults.short_side})")  # fmt: skip
    prepare.add_argument("--gop", type=int_in(1, MAX_FRAMES), default=defaults.gop,
                         help=f"frames per keyframe (default {defaults.gop})")  # fmt: skip
    prepare.add_argument("--frames-dir", action="store_true",
                         help="write JPEG frame folders instead of videos")  # fmt: skip
    prepare.add_argument("--crf", type=int_in(0, 51), default=defaults.crf,
                         help=f"H.264 CRF, lower is finer (default {defaults.crf})")  # fmt: skip
    prepare.add_argument("--jpeg-quality", type=int_in(1, 100), default=defaults.jpeg_quality,
                         help=f"JPEG quality 1-100 (default {defaults.jpeg_quality})")  # fmt: skip
    prepare.add_argument("--workers", type=int_in(0, MAX_WORKERS), default=None,
                         help="processes (default: one per core; 0: in-process)")  # fmt: skip
    prepare.set_defaults(func=run_prepare)


def run_prepare(args: argparse.Namespace) -> int:
    """Prepare SRC into OUT with a progress bar; 0 = all good, 1 = bad inputs (listed); an OUT
    prepared with other options is an `OptionError` (exit 2)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from f4d.data.prepare import VIDEO_EXTENSIONS, PrepareOptions, find_files, prepare

    console = Console() if sys.stdout.isatty() else Console(width=200)
    options = PrepareOptions(
        short_side=args.short_side, gop=args.gop, frames_dir=args.frames_dir, crf=args.crf,
        jpeg_quality=args.jpeg_quality,
    )  # fmt: skip
    videos, others = find_files(args.src)
    if not videos:
        raise InputError(
            f"{args.src} holds no video files ({len(others)} other files); nothing to prepare",
            hint=f"give the dataset's video folder (files ending in "
            f"{', '.join(sorted(VIDEO_EXTENSIONS))})",
        )
    total = len(videos) + len(others)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               _files_per_second_column(), TimeElapsedColumn(), TimeRemainingColumn())  # fmt: skip
    start = time.perf_counter()
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"preparing {args.src}", total=total)
        report = prepare(args.src, args.out, options, workers=args.workers,
                         progress=lambda outcome: progress.advance(task))  # fmt: skip
    _print_prepare(report, args.src, args.out, console, time.perf_counter() - start)
    return 1 if report.bad else 0


def _files_per_second_column():
    from rich.progress import ProgressColumn
    from rich.text import Text

    class FilesPerSecond(ProgressColumn):
        """Files finished per second (rich's estimate over the last seconds)."""

        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("? files/s" if speed is None else f"{speed:.1f} files/s")

    return FilesPerSecond()


def _relative(path: str, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return path


def _print_prepare(report, src: Path, out: Path, console, seconds: float) -> None:
    from rich.table import Table

    counts = ", ".join(f"{report.count(k)} {k}" for k in ("written", "skipped", "copied", "bad"))
    rate = len(report.outcomes) / seconds if seconds > 0 else 0.0
    console.print(f"{out}: {counts} in {seconds:.1f} s ({rate:.1f} files/s)", highlight=False,
                  soft_wrap=True)  # fmt: skip
    if not report.bad:
        return
    table = Table(title=f"bad inputs under {src} (not written)")
    for column in ("#", "path", "problem"):
        table.add_column(column, overflow="fold")
    for i, outcome in enumerate(report.bad[:MAX_ROWS], start=1):
        table.add_row(str(i), _relative(outcome.path, src), outcome.detail)
    console.print(table)
    if len(report.bad) > MAX_ROWS:
        console.print(f"... and {len(report.bad) - MAX_ROWS} more")


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def run_check(args: argparse.Namespace) -> int:
    """Parse the split, scan it, print a table; 0 = clean or only warnings (short clips),
    1 = problems (bad annotations raise)."""
    from rich.console import Console

    # Piped or captured output keeps whole paths on one line instead of folding them at 80 columns.
    console = Console() if sys.stdout.isatty() else Console(width=200)
    try:
        index, sampling = _load(args)
    except SplitNotFoundError as err:  # say which option asked for it
        raise SplitNotFoundError(f"--split {args.split}: {err}") from None
    if index.split is not None and index.split.note:
        console.print(f"note: {index.split.note}", highlight=False, soft_wrap=True)
    report = _scan(index, sampling, args.workers, console)
    _print_report(report, index, console)
    return 1 if report.failed else 0


def _load(args: argparse.Namespace) -> tuple[DatasetIndex, dict[str, int]]:
    from f4d.data.formats import index_from_config

    sampling = {"units": 4, "frames": 8, "stride": 4}
    path = args.path
    if args.overrides and path.suffix.lower() not in (".yaml", ".yml"):
        raise OptionError(f"KEY=VALUE overrides need a YAML config, got {path}")
    if path.suffix.lower() in (".yaml", ".yml"):
        data = _config_data(path, args.overrides)
        data = {**data, **({"format": args.format} if args.format else {})}
        if args.fold is not None:
            data["split"] = args.fold
        sampling.update({k: int(data[k]) for k in sampling if k in data})
        index = index_from_config(data, split=args.split)
    else:
        fmt = args.format or _guess_format(path, args.split)
        index = load_index(
            fmt, path, split=args.split, fold=args.fold or 1, annotations=args.annotations,
            allow_outside_root=args.allow_outside_root,
        )  # fmt: skip
    for key in sampling:
        if getattr(args, key) is not None:
            sampling[key] = getattr(args, key)
    return index, sampling


def _config_data(path: Path, overrides: list[str]) -> dict[str, Any]:
    """``data`` of a training config (engine loader), else of a minimal YAML file."""
    from omegaconf import OmegaConf

    from f4d.data.check import read_data_config
    from f4d.engine.config import ConfigError, load_config

    try:
        cfg = load_config(path, overrides)
    except ConfigError as err:
        try:
            return read_data_config(path, overrides)
        except Exception:  # not a minimal data config either: the loader's error says more
            raise err from None
    return OmegaConf.to_container(cfg.data, resolve=True)


def _guess_format(path: Path, split: str) -> str:
    if path.is_file() and path.suffix.lower() == ".csv":
        return "csv"
    if path.is_dir() and (path / f"{split}.csv").is_file():
        return "csv"
    if path.is_dir() and csv_splits(path) and not (path / split).is_dir():
        return "csv"  # the split resolver picks the list (val.csv, else test.csv) or names them
    lists = sorted(p.name for p in path.glob("*.csv")) if path.is_dir() else []
    if lists and not (path / split).is_dir():  # a csv dataset without this split
        raise OptionError(f"--split {split}: no {split}.csv in {path} (lists: {', '.join(lists)})")
    return "folder"


def _scan(index: DatasetIndex, sampling: dict[str, int], workers: int, console: Any) -> Any:
    from rich.progress import Progress

    from f4d.data.check import check_index

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"checking {len(index)} videos", total=len(index))
        return check_index(
            index, units=sampling["units"], frames_per_unit=sampling["frames"],
            stride=sampling["stride"], workers=workers,
            progress=lambda n: progress.advance(task, n),
        )  # fmt: skip


def _print_report(report: Any, index: DatasetIndex, console: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    counts = ", ".join(f"{k} {v}" for k, v in report.counts().items())
    console.print(
        f"{index.source or index.root}: {report.checked} videos, {index.num_classes} classes; "
        f"problems: {len(report.problems)} ({counts})",
        highlight=False,
        soft_wrap=True,
    )
    for note in report.notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    if report.ok:
        console.print("[green]all videos readable[/green]")
        return
    if not report.failed:
        console.print("[yellow]all videos readable; the short ones are a warning (training "
                      "repeats their frames), not a failure[/yellow]")  # fmt: skip
    table = Table(title="bad videos" if report.failed else "warnings")
    for column in ("#", "path", "problem", "detail"):
        table.add_column(column, overflow="fold")
    for i, problem in enumerate(report.problems[:MAX_ROWS], start=1):
        table.add_row(str(i), escape(problem.path), problem.kind, escape(problem.detail))
    console.print(table)
    if len(report.problems) > MAX_ROWS:
        console.print(f"... and {len(report.problems) - MAX_ROWS} more problems")

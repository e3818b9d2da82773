"""``f4d data check PATH_OR_CONFIG``: scan a dataset split for unreadable/short videos.

PATH_OR_CONFIG is a YAML config (a training config, with KEY=VALUE overrides, or a minimal
file with a ``data`` section; see f4d.data.check), a csv file (``path,label``), or a dataset
folder. Without --format a folder holding ``<split>.csv`` is read as csv, any other folder as
folder (one sub-folder per class). Exit code 0 when every video is fine, 1 when any problem
was found, 3 for a bad config, 4 when the annotations themselves are wrong (all codes:
f4d.errors). Layouts: docs/datasets.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from f4d.cli.options import MAX_FRAMES, MAX_WORKERS, existing_path, int_in
from f4d.data.annotations import FORMATS, DatasetIndex, load_index
from f4d.errors import OptionError

MAX_ROWS = 200


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``f4d data`` and its ``check`` sub-command."""
    parser = subparsers.add_parser("data", help="inspect datasets (f4d data check ...)")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")
    check = sub.add_parser(
        "check",
        help="probe and decode every video of a split; report bad videos and labels",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    frames = int_in(1, MAX_FRAMES)
    check.add_argument("path", type=existing_path, metavar="PATH_OR_CONFIG")
    check.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                       help="config overrides, e.g. data.root=/data/sthv1 (YAML only)")  # fmt: skip
    check.add_argument("--format", choices=sorted(FORMATS), default=None)
    check.add_argument("--split", default="train", help="train | val | test (default: train)")
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
    parser.set_defaults(func=lambda args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def run_check(args: argparse.Namespace) -> int:
    """Parse the split, scan it, print a table; 0 = clean, 1 = problems (bad annotations raise)."""
    from rich.console import Console

    # Piped or captured output keeps whole paths on one line instead of folding them at 80 columns.
    console = Console() if sys.stdout.isatty() else Console(width=200)
    index, sampling = _load(args)
    report = _scan(index, sampling, args.workers, console)
    _print_report(report, index, console)
    return 0 if report.ok else 1


def _load(args: argparse.Namespace) -> tuple[DatasetIndex, dict[str, int]]:
    from f4d.data.check import index_from_config

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
    table = Table(title="bad videos")
    for column in ("#", "path", "problem", "detail"):
        table.add_column(column, overflow="fold")
    for i, problem in enumerate(report.problems[:MAX_ROWS], start=1):
        table.add_row(str(i), problem.path, problem.kind, problem.detail)
    console.print(table)
    if len(report.problems) > MAX_ROWS:
        console.print(f"... and {len(report.problems) - MAX_ROWS} more problems")

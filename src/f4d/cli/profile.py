"""``f4d profile``: parameters, multiply-adds and measured videos/s of a registered model.

The paper's Table 1 and the harness that counts and times it live in :mod:`f4d.bench.table1`;
this module parses options and draws the tables.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import torch
from rich.console import Console
from rich.live import Live
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from f4d.bench.table1 import (
    PROTOCOLS,
    Input,
    SpeedSetting,
    Table1Row,
    count_input,
    count_rows,
    speed_ratio,
    speed_setting,
    table1_payload,
    time_inputs,
    time_rows,
    timing_jobs,
)
from f4d.cli.options import (
    MAX_BATCH,
    MAX_COUNT,
    MAX_FRAMES,
    MAX_SIZE,
    device_name,
    int_in,
    model_name,
    writable_file,
)
from f4d.models.profile import ProfileResult


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "profile",
        help="parameters, MACs and videos/s of a model",
        description="Count parameters and multiply-adds (per video, torch.utils.flop_counter) "
        "and measure inference videos/s of a registered model on random input. Counts print at "
        "once; timing shows a progress bar. Speed settings default to a GPU-sized or a "
        "CPU-sized measurement by device (a ResNet-50 forward of 32 frames at 224x224 takes "
        "seconds on a CPU).",
    )
    frames = int_in(1, MAX_FRAMES)
    parser.add_argument("--model", type=model_name, default="f4d_r50", help="registered model name")
    parser.add_argument("--frames", type=frames, default=8, help="frames per action unit T")
    parser.add_argument("--units", type=frames, default=4, help="action units U")
    parser.add_argument("--num-classes", type=int_in(1, MAX_COUNT), default=174)
    parser.add_argument("--batch", type=int_in(1, MAX_BATCH), default=None,
                        help="videos per pass (default: 16 on a GPU, 1 on a CPU)")  # fmt: skip
    parser.add_argument("--size", type=int_in(1, MAX_SIZE), default=224,
                        help="frame height and width")  # fmt: skip
    parser.add_argument("--device", type=device_name, default="auto",
                        help="'auto' (cuda if present), cpu, cuda:0")  # fmt: skip
    parser.add_argument("--no-speed", action="store_true", help="skip the speed measurement")
    parser.add_argument("--warmup", type=int_in(0, MAX_COUNT), default=None,
                        help="untimed passes (default: 3 on a GPU, 1 on a CPU)")  # fmt: skip
    parser.add_argument("--iters", type=int_in(1, MAX_COUNT), default=None,
                        help="timed passes, median (default: 10 on a GPU, 3 on a CPU)")  # fmt: skip
    parser.add_argument("--json", type=writable_file, default=None,
                        help="also write the results here")  # fmt: skip
    parser.add_argument(
        "--table1",
        action="store_true",
        help="the paper's Table 1 rows next to ours (R50, 174 classes), under the paper's FLOPs "
        "protocol (8 or 16 frames per video) and at the training input (U units x 8 or 16)",
    )
    parser.set_defaults(func=run)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _setting(args: argparse.Namespace, device: torch.device) -> SpeedSetting:
    """The speed settings given on the command line, the device's defaults for the rest."""
    return speed_setting(device, **{f: getattr(args, f) for f in SpeedSetting._fields})


def _count(
    args: argparse.Namespace, spec: Input, setting: SpeedSetting, device: Any
) -> ProfileResult:
    """Parameters and MACs of ``spec`` (built on the meta device: nothing is computed)."""
    return count_input(
        spec, num_classes=args.num_classes, size=args.size, batch=setting.batch, device=device
    )


@contextlib.contextmanager
def _timing_bar(
    console: Console, jobs: list[tuple[Input, ProfileResult]], setting: SpeedSetting, device: Any
) -> Iterator[Callable[[Input, int], None]]:
    """Say what will be timed; yield the ``on_pass`` of :func:`f4d.bench.table1.time_inputs`:
    a progress bar whose ETA weighs each pass by its multiply-adds."""
    passes = setting.warmup + setting.iters
    console.print(
        f"timing {len(jobs)} input(s) on {device}, batch {setting.batch}, passes per input: "
        f"{setting.warmup} warm-up, {setting.iters} timed (--batch/--warmup/--iters change this)"
    )
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    total = sum(r.macs for _, r in jobs) * setting.batch * passes
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("timing", total=total)

        def on_pass(spec: Input, macs: int) -> None:
            progress.update(task, description=f"{spec.model} {spec.label()}", advance=macs)

        yield on_pass


def _speed(result: ProfileResult) -> str:
    """Videos/s to 0.1 from 10 up, else to 3 significant digits (a CPU's 0.048 is not 0.0)."""
    speed = result.videos_per_s
    if speed is None:
        return "-"
    return f"{speed:.1f}" if speed >= 10 else f"{speed:.3g}"


def _table(results: list[ProfileResult], title: str) -> Table:
    table = Table(title=title)
    for column in ("model", "frames", "units", "size", "params (M)", "GMACs/video", "videos/s"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for r in results:
        table.add_row(
            r.model,
            str(r.frames),
            str(r.units),
            str(r.size),
            f"{r.params / 1e6:.2f}",
            f"{r.macs / 1e9:.1f}",
            _speed(r),
        )
    return table


def _run_one(args: argparse.Namespace, console: Console, device: torch.device) -> Any:
    """One model: its counts at once, then (unless --no-speed) its measured videos/s."""
    setting = _setting(args, device)
    spec = Input(args.model, args.units, args.frames)
    result = _count(args, spec, setting, device)
    console.print(_table([result], f"{args.model}: parameters and multiply-adds"))
    if not args.no_speed:
        jobs = [(spec, result)]
        with _timing_bar(console, jobs, setting, device) as on_pass:
            (result,) = time_inputs(
                jobs, num_classes=args.num_classes, size=args.size, setting=setting,
                device=device, on_pass=on_pass,
            )  # fmt: skip
        note = f"batch {setting.batch}, median of {setting.iters} passes on {device}"
        console.print(_table([result], f"{args.model}: {note}"))
    return result.as_dict()


def _table1_counts(
    args: argparse.Namespace, setting: SpeedSetting, device: Any, console: Console
) -> list[Table1Row]:
    """Count every row's inputs, the table growing row by row on a terminal (seconds in all)."""
    with Live(console=console, transient=True) as live:
        return count_rows(
            units=args.units, num_classes=args.num_classes, size=args.size, setting=setting,
            device=device, on_row=lambda rows: live.update(_counts_table(rows, args)),
        )  # fmt: skip


def _table1_speeds(
    args: argparse.Namespace,
    rows: list[Table1Row],
    setting: SpeedSetting,
    device: torch.device,
    console: Console,
) -> list[Table1Row]:
    """Time both inputs of the paper's rows under a progress bar."""
    jobs = [(rows[i].inputs[p], rows[i].ours[p]) for i, p in timing_jobs(rows)]
    with _timing_bar(console, jobs, setting, device) as on_pass:
        return time_rows(
            rows, num_classes=args.num_classes, size=args.size, setting=setting, device=device,
            on_pass=on_pass,
        )  # fmt: skip


def _add_columns(table: Table, headers: tuple[str, ...]) -> None:
    """Text columns (row, model) left and never narrower than their names; numbers right."""
    for column in headers:
        text = column in ("row", "model")
        table.add_column(column, justify="left" if text else "right", min_width=8 if text else None)


def _at(value: str, result: ProfileResult) -> str:
    return f"{value} @{result.units}x{result.frames}"


def _counts_table(rows: list[Table1Row], args: argparse.Namespace) -> Table:
    title = f"Table 1: parameters and multiply-adds ({args.size}x{args.size}, U={args.units})"
    caption = (
        "paper: as printed (its FLOPs are multiply-adds). @UxT: U units of T frames. "
        "8/16 per video: the paper's FLOPs protocol (section 4.5). U x 8/16: the training "
        "input (section 4.3). V4D backbone: V4D-R50 without its 4D blocks."
    )
    table = Table(title=title, caption=caption)
    headers = ("row", "model", "top-1 paper", "params M paper / ours", "GFLOPs paper",
               "GMACs ours, 8/16 per video", "GMACs ours, U x 8/16")  # fmt: skip
    _add_columns(table, headers)
    for row in rows:
        paper, ours = row.paper, row.ours
        params = f"{ours['paper_protocol'].params / 1e6:.2f}"
        table.add_row(
            row.label,
            ours["paper_protocol"].model,
            "-" if paper is None else f"{paper.top1:.1f}",
            f"- / {params}" if paper is None else f"{paper.params_m:.1f} / {params}",
            "-" if paper is None else f"{paper.gflops:.0f}",
            *(_at(f"{ours[p].macs / 1e9:.1f}", ours[p]) for p in PROTOCOLS),
        )
    return table


def _ratio(rows: list[Table1Row], protocol: str | None) -> str:
    """F4D 8f over V4D 8f videos/s (``protocol`` None: the paper's own columns)."""
    ratio = speed_ratio(rows, protocol)
    return "-" if ratio is None else f"{ratio:.2f}x"


def _speed_table(rows: list[Table1Row], setting: SpeedSetting, device: torch.device) -> Table:
    title = (
        f"Table 1: videos/s (ours: {device}, batch {setting.batch}, median of {setting.iters} "
        f"passes after {setting.warmup} warm-up; paper: 2x P100, batch 16)"
    )
    caption = (
        f"F4D 8f / V4D 8f: paper {_ratio(rows, None)}; ours {_ratio(rows, 'paper_protocol')} "
        f"at 8 frames per video, {_ratio(rows, 'training_input')} at U x 8"
    )
    table = Table(title=title, caption=caption)
    headers = ("row", "model", "V/s paper", "V/s ours, 8/16 per video", "V/s ours, U x 8/16")
    _add_columns(table, headers)
    for row in rows:
        if row.paper is not None:
            ours = row.ours
            table.add_row(
                row.label,
                ours["paper_protocol"].model,
                f"{row.paper.videos_per_s:.1f}",
                *(_at(_speed(ours[p]), ours[p]) for p in PROTOCOLS),
            )
    return table


def _run_table1(args: argparse.Namespace, console: Console, device: torch.device) -> Any:
    """Table 1: every row's counts at once, then (unless --no-speed) the timed rows."""
    setting = _setting(args, device)
    rows = _table1_counts(args, setting, device, console)
    console.print(_counts_table(rows, args))
    if not args.no_speed:
        rows = _table1_speeds(args, rows, setting, device, console)
        console.print(_speed_table(rows, setting, device))
    return table1_payload(rows, None if args.no_speed else setting)


def run(args: argparse.Namespace) -> int:
    """Profile ``args.model`` (or the Table 1 models), print tables, optionally write JSON."""
    console = Console()
    device = _device(args.device)
    if args.table1:
        payload = _run_table1(args, console, device)
    else:
        payload = _run_one(args, console, device)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0

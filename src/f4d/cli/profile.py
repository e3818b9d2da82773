"""``f4d profile``: parameters, multiply-adds and measured videos/s of a registered model."""

from __future__ import annotations

import argparse
import json
from typing import Any, NamedTuple

import torch
from rich.console import Console
from rich.table import Table

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
from f4d.models import create_model, profile_model
from f4d.models.profile import ProfileResult


class PaperRow(NamedTuple):
    """One row of the paper's Table 1 (Something-Something v1, single crop, as printed)."""

    approach: str
    model: str
    frames: int
    top1: float
    gflops: float
    videos_per_s: float
    params_m: float


PAPER_TABLE1 = (
    PaperRow("V4D", "v4d_r50", 8, 50.4, 167.0, 38.1, 36.2),
    PaperRow("F4D", "f4d_r50", 8, 57.5, 72.0, 52.3, 36.8),
    PaperRow("F4D", "f4d_r50", 16, 58.4, 143.0, 27.5, 36.8),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "profile",
        help="parameters, MACs and videos/s of a model",
        description="Count parameters and multiply-adds (per video, torch.utils.flop_counter) "
        "and measure inference videos/s of a registered model on random input.",
    )
    frames = int_in(1, MAX_FRAMES)
    parser.add_argument("--model", type=model_name, default="f4d_r50", help="registered model name")
    parser.add_argument("--frames", type=frames, default=8, help="frames per action unit T")
    parser.add_argument("--units", type=frames, default=4, help="action units U")
    parser.add_argument("--num-classes", type=int_in(1, MAX_COUNT), default=174)
    parser.add_argument("--batch", type=int_in(1, MAX_BATCH), default=16,
                        help="batch size for the speed test")  # fmt: skip
    parser.add_argument("--size", type=int_in(1, MAX_SIZE), default=224,
                        help="frame height and width")  # fmt: skip
    parser.add_argument("--device", type=device_name, default="auto",
                        help="'auto' (cuda if present), cpu, cuda:0")  # fmt: skip
    parser.add_argument("--no-speed", action="store_true", help="skip the speed measurement")
    parser.add_argument("--warmup", type=int_in(0, MAX_COUNT), default=3,
                        help="untimed forward passes")  # fmt: skip
    parser.add_argument("--iters", type=int_in(1, MAX_COUNT), default=10,
                        help="timed forward passes (median)")  # fmt: skip
    parser.add_argument("--json", type=writable_file, default=None,
                        help="also write the results here")  # fmt: skip
    parser.add_argument(
        "--table1", action="store_true", help="the paper's Table 1 rows next to ours (R50, 174)"
    )
    parser.set_defaults(func=run)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _profile(args: argparse.Namespace, name: str, frames: int, device: torch.device) -> Any:
    build_on = torch.device("meta") if args.no_speed else device
    with build_on:
        model = create_model(name, args.num_classes)
    return profile_model(
        model,
        frames=frames,
        units=args.units,
        batch=args.batch,
        size=args.size,
        device=device,
        speed=not args.no_speed,
        warmup=args.warmup,
        iters=args.iters,
    )


def _speed(result: ProfileResult) -> str:
    return "-" if result.videos_per_s is None else f"{result.videos_per_s:.1f}"


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


def _table1(rows: list[tuple[PaperRow, ProfileResult]], title: str) -> Table:
    caption = "paper columns as printed there (2x P100); its FLOPs set against our MACs"
    table = Table(title=title, caption=caption)
    columns = ("", "model", "T", "top-1", "params M", "ours", "GFLOPs", "GMACs ours", "V/s", "ours")
    for column in columns:
        table.add_column(column, justify="left" if column in ("", "model") else "right")
    for paper, ours in rows:
        table.add_row(
            paper.approach,
            ours.model,
            str(paper.frames),
            f"{paper.top1:.1f}",
            f"{paper.params_m:.1f}",
            f"{ours.params / 1e6:.2f}",
            f"{paper.gflops:.0f}",
            f"{ours.macs / 1e9:.1f}",
            f"{paper.videos_per_s:.1f}",
            _speed(ours),
        )
    return table


def run(args: argparse.Namespace) -> int:
    """Profile ``args.model`` (or the Table 1 models), print a table, optionally write JSON."""
    console = Console()
    device = _device(args.device)
    speed_note = "speed not measured" if args.no_speed else f"batch {args.batch} on {device}"
    if args.table1:
        rows = [(row, _profile(args, row.model, row.frames, device)) for row in PAPER_TABLE1]
        title = f"Table 1: paper vs ours (U={args.units}, {args.size}px, {speed_note})"
        console.print(_table1(rows, title))
        payload: Any = [{"paper": row._asdict(), "ours": r.as_dict()} for row, r in rows]
    else:
        result = _profile(args, args.model, args.frames, device)
        console.print(_table([result], f"{args.model}: {speed_note}"))
        payload = result.as_dict()
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0

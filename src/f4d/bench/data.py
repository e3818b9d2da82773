"""Data benchmark: videos/s of the loading pipeline, wrapping :func:`f4d.data.bench.bench_data`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def bench_dataset(
    path: str | Path,
    *,
    fmt: str = "csv",
    split: str = "train",
    units: int,
    frames_per_unit: int,
    stride: int,
    size: int,
    workers: int,
    num_videos: int,
) -> dict:
    """Parse the dataset at ``path`` (format ``fmt``) and time loading ``num_videos`` of it."""
    from f4d.data.annotations import load_index
    from f4d.data.bench import bench_data

    index = load_index(fmt, Path(path), split=split)
    result = bench_data(
        index, units=units, frames_per_unit=frames_per_unit, stride=stride, size=size,
        workers=workers, num_videos=num_videos,
    )  # fmt: skip
    return {"kind": "data", "dataset": str(path), "format": fmt, "split": split, **result}


def bench_synthetic(
    root: str | Path,
    *,
    units: int,
    frames_per_unit: int,
    stride: int,
    size: int,
    workers: int,
    num_videos: int,
) -> dict:
    """Generate a small synthetic set under ``root`` (frames ``size``×``size``, 48 per video,
    ``min(num_videos, 16)`` videos, reused cyclically) and time loading ``num_videos`` of it."""
    from f4d.data.synthetic import generate

    frame_size = max(16, size + size % 2)
    generate(root, num_train=min(num_videos, 16), num_test=0, size=frame_size, frames=48,
             units=units, workers=0)  # fmt: skip
    result = bench_dataset(
        root, fmt="csv", split="train", units=units, frames_per_unit=frames_per_unit,
        stride=stride, size=size, workers=workers, num_videos=num_videos,
    )  # fmt: skip
    return result | {"dataset": "synthetic", "frame_size": frame_size}


def compare_datasets(
    path: str | Path,
    *,
    fmt: str = "csv",
    split: str = "train",
    prepared: str | Path | None = None,
    naive: bool = False,
    rounds: int = 1,
    profile: bool = False,
    on_round: Callable[[int, str, dict], None] | None = None,
    **settings: Any,
) -> dict:
    """Time f4d on ``path`` (and on its ``prepared`` copy, and the naive reader on ``path``)
    interleaved over ``rounds``; with ``profile``, add ms per step over the first videos.

    The prepared copy is parsed with the same format and split, its root swapped, so both
    read the same list of videos.
    """
    from f4d.data.annotations import load_index
    from f4d.data.bench import compare_data, profile_steps

    index = load_index(fmt, Path(path), split=split)
    variants: dict[str, tuple[Any, bool]] = {}
    if naive:
        variants["naive"] = (index, True)
    variants["f4d"] = (index, False)
    if prepared is not None:
        variants["f4d prepared"] = (load_index(fmt, Path(prepared), split=split), False)
    report = compare_data(
        variants, rounds=rounds, baseline="naive" if naive else None, on_round=on_round,
        **settings,
    )  # fmt: skip
    report |= {
        "kind": "data-compare", "dataset": str(path), "format": fmt, "split": split,
        "prepared": None if prepared is None else str(prepared), "machine": machine(),
    }  # fmt: skip
    if profile:
        report["profile"] = {}
        for name, (idx, _) in variants.items():
            if name == "naive":
                continue
            paths = [r.path for r in idx.records[: min(len(idx), 8)]]
            report["profile"][name] = profile_steps(
                paths, units=settings["units"], frames_per_unit=settings["frames_per_unit"],
                stride=settings["stride"], size=settings["size"],
            )  # fmt: skip
    return report


def machine() -> dict:
    """CPU model, available cores and load average at the time of the measurement."""
    import os
    import platform

    from f4d.data.dataset import available_cores

    return {"cpu": platform.processor() or platform.machine(), "cores": available_cores(),
            "load_average": list(os.getloadavg())}  # fmt: skip


def data_table(report: dict) -> Any:
    """A rich table: videos/s, per core, and speed-up against the baseline, per variant."""
    from rich.table import Table

    settings = report["settings"]
    steady = report["rate"] != "videos_per_s"
    rate = "steady rate, worker start-up excluded" if steady else "whole pass"
    table = Table(title=(
        f"f4d bench data: {report['dataset']} ({report['format']}), U={settings['units']} "
        f"T={settings['frames_per_unit']} stride {settings['stride']}, {settings['size']}², "
        f"{settings['workers']} worker(s), {settings['num_videos']} videos, median of "
        f"{report['rounds']} interleaved round(s); {rate}"))  # fmt: skip
    for column in ("variant", "videos/s", "per core", "every round", "vs naive"):
        table.add_column(column)
    for name, row in report["variants"].items():
        rounds = " ".join(f"{r[report['rate']]:.1f}" for r in row["runs"])
        speedup = f"{row['speedup']:.2f}x" if "speedup" in row else "-"
        table.add_row(name, f"{row['videos_per_s']:.2f}", f"{row['per_core_videos_per_s']:.2f}",
                      rounds, speedup)  # fmt: skip
    return table


def profile_table(report: dict) -> list[Any]:
    """One rich table per profiled variant: ms per step, f4d and naive."""
    from rich.table import Table

    tables = []
    for name, prof in report.get("profile", {}).items():
        table = Table(title=f"ms per video, by step ({name}; naive on the same files)")
        table.add_column("f4d step")
        table.add_column("ms", justify="right")
        table.add_column("naive step")
        table.add_column("ms", justify="right")
        ours = list(prof["f4d"].items())
        naive = [(k, v) for k, v in prof["naive"].items() if prof["naive"].get("total")]
        for i in range(max(len(ours), len(naive))):
            a = ours[i] if i < len(ours) else ("", None)
            b = naive[i] if i < len(naive) else ("", None)
            table.add_row(a[0], "" if a[1] is None else f"{a[1]:.2f}",
                          b[0], "" if b[1] is None else f"{b[1]:.2f}")  # fmt: skip
        tables.append(table)
    return tables

"""Data benchmark: videos/s of the loading pipeline, wrapping :func:`f4d.data.bench.bench_data`."""

from __future__ import annotations

from pathlib import Path


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

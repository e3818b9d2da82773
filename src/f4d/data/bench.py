"""Throughput of the loading pipeline (probe + decode + sample + augment), in videos/s.

Used by ``f4d bench data`` (via :mod:`f4d.bench.data`). Everything is measured with
``time.perf_counter`` around a real :class:`~torch.utils.data.DataLoader` pass; nothing is
estimated.
"""

from __future__ import annotations

import time

from torch.utils.data import DataLoader, Subset

from f4d.data.annotations import DatasetIndex
from f4d.data.dataset import VideoDataset, collate, seed_worker
from f4d.data.transforms import TrainTransform


def bench_data(
    index: DatasetIndex,
    *,
    units: int,
    frames_per_unit: int,
    stride: int,
    size: int,
    workers: int,
    num_videos: int,
    seed: int = 0,
) -> dict:
    """Load ``num_videos`` training clips ``(1, U, 3, T, size, size)`` with ``workers`` workers.

    Videos are taken in index order, cycling when ``num_videos > len(index)``; bad videos are
    skipped and counted. ``workers=0`` loads in the calling process.

    Returns:
        ``videos`` (asked), ``loaded``, ``skipped``, ``workers``, ``seconds`` (whole pass,
        worker start-up included), ``first_batch_s``, ``videos_per_s`` (= videos / seconds),
        ``per_worker_videos_per_s`` (divided by ``max(workers, 1)``) and
        ``steady_videos_per_s`` (after the first video arrived; ``None`` for one video).
    """
    if len(index) == 0 or num_videos < 1 or workers < 0:
        raise ValueError(
            f"need a non-empty index, num_videos >= 1 and workers >= 0, got {len(index)} videos "
            f"in index, num_videos={num_videos}, workers={workers}"
        )
    dataset = VideoDataset(
        index, units=units, frames_per_unit=frames_per_unit, stride=stride, mode="train",
        transform=TrainTransform(size=size), seed=seed,
    )  # fmt: skip
    subset = Subset(dataset, [i % len(index) for i in range(num_videos)])
    loader = DataLoader(
        subset, batch_size=1, num_workers=workers, collate_fn=collate, worker_init_fn=seed_worker
    )
    loaded = skipped = 0
    first = None
    start = time.perf_counter()
    for batch in loader:
        loaded += len(batch["label"])
        skipped += batch["skipped"]
        first = first or time.perf_counter()
    seconds = time.perf_counter() - start
    steady = (num_videos - 1) / (seconds - (first - start)) if num_videos > 1 else None
    rate = num_videos / seconds
    return {
        "videos": num_videos,
        "loaded": loaded,
        "skipped": skipped,
        "workers": workers,
        "units": units,
        "frames_per_unit": frames_per_unit,
        "stride": stride,
        "size": size,
        "seconds": seconds,
        "first_batch_s": first - start,
        "videos_per_s": rate,
        "per_worker_videos_per_s": rate / max(workers, 1),
        "steady_videos_per_s": steady,
    }

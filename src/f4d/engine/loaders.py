"""From a :class:`DataConfig` to datasets and loaders: the engine's seam with :mod:`f4d.data`.

Training uses a :class:`ResumableSampler` (a ``DistributedSampler`` whose order is a function
of ``(seed, epoch)`` and which can skip the batches a mid-epoch checkpoint already consumed);
evaluation shards the videos ``rank::world`` without padding so no video counts twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from f4d.data.dataset import VideoDataset, build_loader
from f4d.data.formats import DatasetIndex, index_from_config
from f4d.data.transforms import TestTransform, TrainTransform

__all__ = [
    "FrameCache",
    "ResumableSampler",
    "ShardSampler",
    "build_eval_loader",
    "build_train_loader",
    "load_split",
]


def _under_root(root: Path, name: str | None) -> Path | None:
    if name is None:
        return None
    path = Path(name)
    return path if path.is_absolute() else root / path


def load_split(data: Any, split: str) -> DatasetIndex:
    """Parse the ``train`` or ``val`` split described by the data config ``data``.

    Through the one split resolver (:func:`f4d.data.formats.index_from_config`): ``val`` is
    the format's held-out split, e.g. UCF101's test list or a folder dataset's ``test/``;
    ``index.split.note`` says so when they differ. A dataset without such a split raises a
    ``FileNotFoundError`` (training then runs without validation).
    """
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    return index_from_config(data, split)


def _flip_map(data: Any, classes: tuple[str, ...]) -> dict[int, int] | None:
    """Read ``data.flip_label_map``: a JSON object mapping class names or indices."""
    if not data.flip_label_map:
        return None
    path = _under_root(Path(data.root), data.flip_label_map)
    raw = json.loads(Path(path).read_text())
    lookup = {name: i for i, name in enumerate(classes)}

    def index(key: Any) -> int:
        return int(key) if str(key).isdigit() else lookup[str(key)]

    return {index(k): index(v) for k, v in raw.items()}


class FrameCache:
    """Decode each video once (all frames) and serve later reads from memory.

    A ``reader``/``prober`` pair for :class:`~f4d.data.dataset.VideoDataset` (``data.cache``):
    for small datasets such as the synthetic one, where decoding dominates the step time.
    Holds ``frames x H x W x 3`` bytes per video for the life of the process (per worker).
    ``allow_truncated`` keeps the decodable part of truncated files (``data.allow_truncated``).
    """

    def __init__(self) -> None:
        self.videos: dict[tuple[str, bool], tuple[np.ndarray, Any]] = {}

    def _get(self, path: Path, allow_truncated: bool) -> tuple[np.ndarray, Any]:
        key = (str(path), allow_truncated)
        if key not in self.videos:
            from f4d.data.decode import open_video

            with open_video(path, allow_truncated=allow_truncated) as video:  # one open
                frames = np.stack([f for _, f in video.iter_frames()])  # (F, H, W, 3)
                self.videos[key] = frames, video.info.truncation
        return self.videos[key]

    def read(self, path: Path, indices: np.ndarray, *, allow_truncated: bool = False) -> np.ndarray:
        return self._get(path, allow_truncated)[0][np.asarray(indices).reshape(-1)]

    def probe(self, path: Path, *, allow_truncated: bool = False) -> SimpleNamespace:
        frames, truncation = self._get(path, allow_truncated)
        return SimpleNamespace(num_frames=len(frames), truncation=truncation)

    def clear(self) -> None:
        self.videos.clear()


# One cache per process, shared by every dataset built with data.cache=true (train, validation
# and test splits, and the successive runs of `f4d demo`).
FRAME_CACHE = FrameCache()


def _io(data: Any) -> dict[str, Any]:
    allow = bool(data.allow_truncated)
    if not data.cache:
        return {"allow_truncated": allow}
    return {
        "reader": partial(FRAME_CACHE.read, allow_truncated=allow),
        "prober": partial(FRAME_CACHE.probe, allow_truncated=allow),
        "allow_truncated": allow,
    }


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` (order = f(seed, epoch)) that can skip its first ``skip`` items."""

    def __init__(self, dataset: Any, **kwargs: Any) -> None:
        super().__init__(dataset, **kwargs)
        self.skip = 0

    def __iter__(self) -> Iterator[int]:
        return iter(list(super().__iter__())[self.skip :])

    def __len__(self) -> int:
        return super().__len__() - self.skip


class ShardSampler(Sampler[int]):
    """Indices ``rank, rank + world, ...`` in order: every video seen once over all ranks."""

    def __init__(self, size: int, *, rank: int, world_size: int) -> None:
        self.indices = list(range(rank, size, world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def build_train_loader(
    data: Any, index: DatasetIndex, *, batch_size: int, seed: int, rank: int, world_size: int
) -> tuple[DataLoader, ResumableSampler, VideoDataset]:
    """Training clips ``(1, U, C, T, size, size)`` per video, shuffled per epoch, drop_last."""
    transform = TrainTransform(
        size=data.size, scales=list(data.scales), flip=data.flip,
        flip_label_map=_flip_map(data, index.classes),
    )  # fmt: skip
    dataset = VideoDataset(
        index, units=data.units, frames_per_unit=data.frames, stride=data.stride,
        mode="train", transform=transform, seed=seed, **_io(data),
    )  # fmt: skip
    sampler = ResumableSampler(
        dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True
    )
    loader = build_loader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=data.workers,
        sampler=sampler, drop_last=True, seed=seed,
    )  # fmt: skip
    return loader, sampler, dataset


def build_eval_loader(
    data: Any,
    index: DatasetIndex,
    *,
    views: str,
    batch_size: int,
    rank: int = 0,
    world_size: int = 1,
    seed: int = 0,
) -> DataLoader:
    """Test clips: ``multi`` = test_units x test_crops views, ``single`` = units x 1 centre crop."""
    if views == "multi":
        units = data.test_units
        transform = TestTransform(
            size=data.size, scale_size=data.scale_size, num_crops=data.test_crops
        )
    elif views == "single":
        units = data.units
        transform = TestTransform(
            size=data.size, scale_size=data.scale_size, num_crops=1, crop_size=data.size
        )
    else:
        raise ValueError(f"views must be 'multi' or 'single', got {views!r}")
    dataset = VideoDataset(
        index, units=units, frames_per_unit=data.frames, stride=data.stride, mode="test",
        transform=transform, seed=seed, **_io(data),
    )  # fmt: skip
    sampler = ShardSampler(len(dataset), rank=rank, world_size=world_size)
    return build_loader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=data.workers,
        sampler=sampler, seed=seed,
    )  # fmt: skip

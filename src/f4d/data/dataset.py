"""The video dataset, its collate function, the bad-video policy and the loader builder.

:class:`VideoDataset` only joins the layers: probe the frame count, sample ``(U, T)`` indices
(:mod:`f4d.data.sampling`), decode those frames (:mod:`f4d.data.decode`), transform them
(:mod:`f4d.data.transforms`). Randomness comes from one ``np.random.Generator`` seeded by
``(seed, epoch, index)``, so a sample is the same whatever the worker count or order.

Bad videos (missing, unreadable, truncated, zero frames): with ``skip_bad=True`` the dataset
logs a warning naming the path and reason and returns a :class:`BadVideo` marker; :func:`collate`
drops markers and reports them as ``skipped`` / ``skipped_paths`` / ``skipped_reasons``;
:class:`SkipCounter` (called by the engine once per batch) stops the run with
:class:`TooManyBadVideos` and a table of paths and reasons once more distinct videos went bad
than allowed. With ``skip_bad=False`` the error is raised where it happens.

Truncated files (:mod:`f4d.data.integrity`) are bad videos by default. With
``allow_truncated=True`` (``data.allow_truncated``) the dataset samples from the part that
decodes instead; such a sample carries ``truncated`` (the reason), :func:`collate` lists them as
``truncated_paths`` / ``truncated_reasons`` and :class:`SkipCounter` logs each file once.
"""

from __future__ import annotations

import functools
import logging
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info

from f4d.data.formats import DatasetIndex, VideoRecord
from f4d.errors import InputError

log = logging.getLogger(__name__)

Reader = Callable[[Path, np.ndarray], np.ndarray]
Prober = Callable[[Path], Any]


class TooManyBadVideos(InputError, RuntimeError):
    """More videos failed to load than the skip policy allows; the message holds a table."""


@dataclass(frozen=True)
class BadVideo:
    """Marker returned by :class:`VideoDataset` in place of a sample that could not be loaded."""

    index: int
    path: str
    reason: str


def _bad_errors() -> tuple[type[BaseException], ...]:
    from f4d.data.decode import VideoDecodeError

    return (VideoDecodeError, OSError, ShortVideoError)


class ShortVideoError(InputError, ValueError):
    """The decoder returned fewer frames than were asked for."""


class VideoDataset(Dataset):
    """Labelled clips ``(V, U, C, T, h, w)`` uint8 from a :class:`DatasetIndex`.

    Args:
        index: the parsed split.
        units, frames_per_unit, stride: segment sampling ``U``, ``T`` and frame gap.
        mode: ``"train"`` (random snippet per section) or ``"test"`` (centred snippets).
        transform: called as ``transform(clip (U, T, H, W, 3) uint8, label, rng)`` and returning
            ``(video (V, U, C, T, h, w) uint8, label)``; see :mod:`f4d.data.transforms`.
        seed: base of the per-sample rng ``default_rng([seed, epoch, index])``.
        reader: ``reader(path, indices) -> (N, H, W, 3)`` uint8.
        prober: ``prober(path) -> info`` with ``info.num_frames`` (and ``info.truncation`` for
            a truncated file it accepts). Not called when the record states ``num_frames``.
            With neither given (the default) each sample opens its video once
            (:func:`f4d.data.decode.open_video`) for the frame count and the frames; with one
            given, the other defaults to :func:`f4d.data.decode.read_frames` /
            :func:`f4d.data.decode.probe`.
        skip_bad: return a :class:`BadVideo` marker (and log a warning) instead of raising.
        allow_truncated: sample truncated files from their decodable part (passed to the
            default reader and prober) instead of treating them as bad videos.

    ``__getitem__`` returns ``dict(video, label, index)`` plus ``unit_labels`` (``(U,)``
    int64) when the record has them and ``truncated`` (str) for a truncated file.
    """

    def __init__(
        self,
        index: DatasetIndex,
        *,
        units: int,
        frames_per_unit: int,
        stride: int,
        mode: str,
        transform: Callable[..., tuple[torch.Tensor, int]],
        seed: int = 0,
        reader: Reader | None = None,
        prober: Prober | None = None,
        skip_bad: bool = True,
        allow_truncated: bool = False,
    ) -> None:
        if mode not in ("train", "test"):
            raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
        self.index = index
        self.units, self.frames_per_unit, self.stride = units, frames_per_unit, stride
        self.mode = mode
        self.transform = transform
        self.seed = seed
        self.reader = reader
        self.prober = prober
        self.skip_bad = skip_bad
        self.allow_truncated = allow_truncated
        # Shared memory, so persistent DataLoader workers see set_epoch() from the main process.
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()

    def __len__(self) -> int:
        return len(self.index)

    @property
    def epoch(self) -> int:
        return int(self._epoch[0])

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch part of the per-sample seed (call before iterating the loader)."""
        self._epoch[0] = epoch

    def rng(self, i: int) -> np.random.Generator:
        """The generator for sample ``i`` in the current epoch."""
        return np.random.default_rng([self.seed, self.epoch, i])

    def __getitem__(self, i: int) -> dict[str, Any] | BadVideo:
        if not 0 <= i < len(self.index):
            raise IndexError(f"sample {i} out of range 0..{len(self.index) - 1}")
        record = self.index.records[i]
        try:
            return self._load(i, record)
        except _bad_errors() as err:
            if not self.skip_bad:
                raise
            reason = f"{type(err).__name__}: {err}"
            log.warning("skipping bad video %s: %s", record.path, reason)
            return BadVideo(i, str(record.path), reason)

    def _load(self, i: int, record: VideoRecord) -> dict[str, Any]:
        rng = self.rng(i)
        truncation = None
        if self.reader is None and self.prober is None:
            clip, truncation = self._open_and_read(record, rng)  # (U, T, H, W, 3)
        else:
            num_frames = record.num_frames
            if not num_frames:
                num_frames, truncation = self._probe(record.path)
            clip = self._read(record.path, self._sample(num_frames, rng))
        video, label = self.transform(clip, record.label, rng)
        sample: dict[str, Any] = {"video": video, "label": label, "index": i}
        if record.unit_labels is not None:
            sample["unit_labels"] = torch.tensor(record.unit_labels, dtype=torch.int64)
        if truncation is not None:
            sample.update(truncated=str(truncation), path=str(record.path))
        return sample

    def _sample(self, num_frames: int, rng: np.random.Generator) -> np.ndarray:
        from f4d.data.sampling import sample_segments

        return sample_segments(
            num_frames, self.units, self.frames_per_unit, self.stride, self.mode, rng
        )  # (U, T)

    def _open_and_read(self, record: VideoRecord, rng: np.random.Generator) -> tuple[Any, Any]:
        """The default I/O: open the video once for its frame count and its frames.

        Returns ``(clip (U, T, H, W, 3), truncation or None)``.
        """
        from f4d.data.decode import open_video

        # In a loader worker the workers fill the cores; one FFmpeg thread each.
        threads = 1 if get_worker_info() is not None else 0
        allow = self.allow_truncated
        with open_video(record.path, threads=threads, allow_truncated=allow) as video:
            truncation = video.info.truncation
            num_frames = record.num_frames or video.info.num_frames
            if truncation is not None:  # the reader counted the frames that decode
                num_frames = video.info.num_frames
            indices = self._sample(num_frames, rng)
            return self._read(record.path, indices, video.read), truncation

    def _probe(self, path: Path) -> tuple[int, Any]:
        """``(frame count, truncation or None)`` from the prober."""
        if self.prober is None:
            from f4d.data.decode import probe

            self.prober = partial(probe, allow_truncated=self.allow_truncated)
        info = self.prober(path)
        num_frames = int(info.num_frames)
        if num_frames < 1:
            raise ShortVideoError(f"{path}: no frames")
        return num_frames, getattr(info, "truncation", None)

    def _read(self, path: Path, indices: np.ndarray, read: Callable | None = None) -> np.ndarray:
        """Decode each distinct index once (sorted), then gather into ``(U, T, H, W, 3)``.

        ``read(wanted)`` reads from an open video; by default ``self.reader(path, wanted)``.
        """
        if read is None:
            if self.reader is None:
                from f4d.data.decode import read_frames

                self.reader = partial(read_frames, allow_truncated=self.allow_truncated)
            read = functools.partial(self.reader, path)
        wanted, inverse = np.unique(indices, return_inverse=True)
        frames = np.asarray(read(wanted))
        if frames.ndim != 4 or frames.shape[0] != len(wanted):
            raise ShortVideoError(
                f"{path}: asked for {len(wanted)} frames (up to index {wanted[-1]}), "
                f"decoder returned shape {frames.shape}"
            )
        return frames[inverse.reshape(indices.shape)]


# --------------------------------------------------------------------------- collate
def collate(samples: Sequence[dict[str, Any] | BadVideo]) -> dict[str, Any]:
    """Stack good samples, drop :class:`BadVideo` markers and count them.

    Returns ``video (B·V, U, C, T, h, w)`` uint8 (row ``b·V + v``), ``label (B,)`` and
    ``index (B,)`` int64, ``num_views`` V, ``unit_labels (B, U)`` when every sample has them,
    ``skipped`` (int), ``skipped_paths`` and ``skipped_reasons`` (lists of str), and
    ``truncated_paths`` / ``truncated_reasons`` for good samples read from the decodable part
    of a truncated file. A batch with no good sample has ``video`` of shape
    ``(0, 0, 0, 0, 0, 0)`` and ``num_views`` 0.
    """
    good = [s for s in samples if not isinstance(s, BadVideo)]
    bad = [s for s in samples if isinstance(s, BadVideo)]
    cut = [s for s in good if "truncated" in s]
    batch: dict[str, Any] = {
        "skipped": len(bad),
        "skipped_paths": [b.path for b in bad],
        "skipped_reasons": [b.reason for b in bad],
        "truncated_paths": [s["path"] for s in cut],
        "truncated_reasons": [s["truncated"] for s in cut],
    }
    if not good:
        batch.update(video=torch.empty((0,) * 6, dtype=torch.uint8), num_views=0,
                     label=torch.empty(0, dtype=torch.int64),
                     index=torch.empty(0, dtype=torch.int64))  # fmt: skip
        return batch
    videos = torch.stack([s["video"] for s in good])  # (B, V, U, C, T, h, w)
    batch["video"] = videos.flatten(0, 1)  # (B·V, U, C, T, h, w)
    batch["num_views"] = videos.shape[1]
    batch["label"] = torch.tensor([int(s["label"]) for s in good], dtype=torch.int64)
    batch["index"] = torch.tensor([int(s["index"]) for s in good], dtype=torch.int64)
    if all("unit_labels" in s for s in good):
        batch["unit_labels"] = torch.stack([s["unit_labels"] for s in good])  # (B, U)
    return batch


# --------------------------------------------------------------------------- skip policy
class SkipCounter:
    """Counts skipped videos across batches and stops the run past ``max_skipped``.

    Args:
        max_skipped: an ``int`` (at most that many distinct bad videos) or a ``float`` in
            ``[0, 1)`` (at most that fraction of ``dataset_size``). The limit counts distinct
            paths, so the same bad file seen again in a later epoch does not count twice;
            ``total`` counts every skip event.
        dataset_size: number of videos in the split; required for a fraction.
    """

    def __init__(self, max_skipped: int | float, *, dataset_size: int | None = None) -> None:
        if isinstance(max_skipped, float):
            if not 0 <= max_skipped < 1 or dataset_size is None:
                raise ValueError(
                    f"a fractional max_skipped must be in [0, 1) with dataset_size given, got "
                    f"{max_skipped} (dataset_size={dataset_size})"
                )
            self.limit = int(max_skipped * dataset_size)
        elif isinstance(max_skipped, int) and max_skipped >= 0:
            self.limit = max_skipped
        else:
            raise ValueError(f"max_skipped must be an int >= 0 or a fraction, got {max_skipped!r}")
        self.reasons: dict[str, str] = {}
        self.truncated: dict[str, str] = {}
        self.total = 0

    @property
    def count(self) -> int:
        """Distinct bad videos seen so far."""
        return len(self.reasons)

    def update(self, batch: dict[str, Any]) -> None:
        """Record a collated batch's skips; raise :class:`TooManyBadVideos` past the limit.

        A truncated file read from its decodable part (``data.allow_truncated``) is logged
        the first time it is seen, and listed in :attr:`truncated`.
        """
        self.total += batch["skipped"]
        for path, reason in zip(batch["skipped_paths"], batch["skipped_reasons"]):
            self.reasons.setdefault(path, reason)
        self.note_truncated(batch)
        if self.count > self.limit:
            raise TooManyBadVideos(
                f"{self.count} bad videos exceed the limit of {self.limit}:\n{self.summary()}"
            )

    def note_truncated(self, batch: dict[str, Any]) -> None:
        """Log each truncated file read from its decodable part the first time it is seen."""
        cut = zip(batch.get("truncated_paths", ()), batch.get("truncated_reasons", ()))
        for path, reason in cut:
            if path not in self.truncated:
                self.truncated[path] = reason
                log.warning("sampling from the decodable part of %s (%s)", path, reason)

    def summary(self) -> str:
        """A plain-text table ``path | reason`` of the distinct bad videos."""
        if not self.reasons:
            return "no bad videos"
        width = max(len(p) for p in self.reasons)
        lines = [f"{'path'.ljust(width)} | reason", f"{'-' * width}-+-{'-' * 6}"]
        lines += [f"{p.ljust(width)} | {r}" for p, r in self.reasons.items()]
        return "\n".join(lines)


# --------------------------------------------------------------------------- loader
def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: seed ``random``/``numpy`` global state from the worker's torch seed.

    Samples themselves draw from :meth:`VideoDataset.rng`; this only tames third-party code
    that uses the global generators.
    """
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


class EpochShuffleSampler(Sampler[int]):
    """A random order that depends only on ``(seed, epoch)``, the epoch read from
    ``dataset.epoch`` (set with :meth:`VideoDataset.set_epoch`), so the order is the same
    whatever the worker count and however many loaders were iterated before."""

    def __init__(self, dataset: Dataset, *, seed: int = 0) -> None:
        self.dataset = dataset
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self):
        epoch = int(getattr(self.dataset, "epoch", 0))
        state = np.random.SeedSequence([self.seed, epoch]).generate_state(2)
        generator = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
        return iter(torch.randperm(len(self.dataset), generator=generator).tolist())


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a container's or taskset's
    share), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_workers(local_processes: int | None = None) -> int:
    """Loader workers that fill this process's share of the cores without oversubscribing.

    Each of the ``local_processes`` training processes on the machine (default: torchrun's
    ``LOCAL_WORLD_SIZE``, else 1) gets an equal share of :func:`available_cores`; one core of
    that share stays with the training process itself, the rest become workers (at least 1).
    """
    if local_processes is None:
        local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    share = available_cores() // max(1, local_processes)
    return max(1, share - 1)


def build_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    shuffle: bool,
    num_workers: int | None,
    sampler: Sampler | None = None,
    drop_last: bool = False,
    seed: int = 0,
    prefetch_factor: int | None = None,
) -> DataLoader:
    """A :class:`DataLoader` using :func:`collate`, seeded shuffling and worker seeding.

    ``shuffle=True`` uses :class:`EpochShuffleSampler` (order from ``(seed, epoch)``; call
    ``dataset.set_epoch(epoch)`` before each epoch). ``num_workers=None`` picks
    :func:`default_workers`. ``pin_memory`` is on when CUDA is available; workers are
    persistent when ``num_workers > 0`` (each runs one torch thread, DataLoader's default, and
    one FFmpeg thread per video, see :class:`VideoDataset`). Give either ``shuffle=True`` or a
    ``sampler`` (e.g. a ``DistributedSampler``), not both.
    """
    if num_workers is None:
        num_workers = default_workers()
    if sampler is not None and shuffle:
        raise ValueError("pass shuffle=False with a sampler (the sampler decides the order)")
    if shuffle:
        sampler = EpochShuffleSampler(dataset, seed=seed)
    extra = {}
    if num_workers > 0:
        extra = {"persistent_workers": True, "prefetch_factor": prefetch_factor or 2}
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=torch.cuda.is_available(),
        drop_last=drop_last,
        worker_init_fn=seed_worker,
        generator=torch.Generator().manual_seed(seed),
        **extra,
    )

"""Throughput of the loading pipeline (probe + decode + sample + augment), in videos/s.

Used by ``f4d bench data``; it reads videos through the reader's public API only
(:func:`f4d.data.decode.open_video`, ``VideoFile.decode`` and ``VideoFile.to_array``).
Everything is measured with ``time.perf_counter`` around a real
:class:`~torch.utils.data.DataLoader` pass; nothing is estimated. :class:`NaiveVideoDataset`
is the baseline of issue 18: PyAV decodes every frame to full-size RGB, ``U·T`` evenly spaced
frames are kept, then a float torch resize (short side to ``size``) and a centre crop.
:func:`compare_data` times several variants interleaved (round 1: each variant once, round 2:
each once more, ...) so that a change of machine load hits them alike, and reports medians.
:func:`profile_steps` splits one video's cost into the steps of the f4d path (and of the
naive one).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset

from f4d.data.dataset import VideoDataset, collate, seed_worker
from f4d.data.formats import DatasetIndex
from f4d.data.transforms import TrainTransform, centre_crop_box, resize_short_side
from f4d.errors import OptionError


class NaiveReaderError(OptionError, ValueError):
    """The naive baseline was asked to read something it cannot (a frame folder)."""


class NaiveVideoDataset(Dataset):
    """The naive reader: decode all frames to RGB, keep ``units * frames_per_unit`` evenly
    spaced ones, float resize of the short side to ``size``, centre crop; ``(1, U, C, T, s, s)``."""

    def __init__(self, index: DatasetIndex, *, units: int, frames_per_unit: int, size: int) -> None:
        self.index, self.units, self.frames, self.size = index, units, frames_per_unit, size

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, Any]:
        record = self.index.records[i]
        if record.path.is_dir():
            raise NaiveReaderError(
                f"{record.path} is a frame folder; the naive reader reads video files only "
                "(compare folders without --naive)"
            )
        with av.open(str(record.path)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        keep = np.linspace(0, len(frames) - 1, self.units * self.frames).round().astype(int)
        clip = torch.from_numpy(np.stack([frames[k] for k in keep])).permute(0, 3, 1, 2)
        size = resize_short_side(clip.shape[-2], clip.shape[-1], self.size)
        clip = F.interpolate(clip.float(), size=size, mode="bilinear", antialias=True)
        top, left, h, w = centre_crop_box(*size, self.size)
        clip = clip[..., top : top + h, left : left + w].round().clamp(0, 255).to(torch.uint8)
        clip = clip.reshape(self.units, self.frames, 3, h, w).permute(0, 2, 1, 3, 4)
        return {"video": clip.unsqueeze(0), "label": record.label, "index": i}


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
    naive: bool = False,
) -> dict:
    """Load ``num_videos`` training clips ``(1, U, 3, T, size, size)`` with ``workers`` workers.

    Videos are taken in index order, cycling when ``num_videos > len(index)``; bad videos are
    skipped and counted. ``workers=0`` loads in the calling process. ``naive=True`` times
    :class:`NaiveVideoDataset` instead of f4d's :class:`VideoDataset`.

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
    if naive:
        dataset = NaiveVideoDataset(index, units=units, frames_per_unit=frames_per_unit, size=size)
    else:
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


def compare_data(
    variants: dict[str, tuple[DatasetIndex, bool]],
    *,
    rounds: int,
    baseline: str | None = None,
    on_round: Callable[[int, str, dict], None] | None = None,
    **settings: Any,
) -> dict:
    """Time each variant ``{name: (index, naive)}`` once per round, interleaved.

    ``settings`` go to :func:`bench_data` (units, frames_per_unit, stride, size, workers,
    num_videos). Rates are the steady ones (after the first video arrived, so the one-off
    start-up of the worker processes, which persistent workers pay once per run, is left
    out; the whole-pass rate when ``num_videos`` is 1). Returns ``rounds``, ``settings``,
    ``baseline``, ``rate`` (which rate) and per variant ``runs`` (every :func:`bench_data`
    result), ``videos_per_s`` (median over rounds), ``per_core_videos_per_s`` (median /
    max(workers, 1)), and, against ``baseline``, ``speedup`` (median of the per-round ratios:
    each ratio compares passes timed seconds apart) and ``speedups`` (every round's).
    """
    if rounds < 1 or not variants:
        raise ValueError(f"need rounds >= 1 and at least one variant, got {rounds}, {variants}")
    if baseline is not None and baseline not in variants:
        raise ValueError(f"baseline {baseline!r} is not one of {list(variants)}")
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    for r in range(rounds):
        for name, (index, naive) in variants.items():
            result = bench_data(index, naive=naive, **settings)
            runs[name].append(result)
            if on_round is not None:
                on_round(r, name, result)
    steady = all(x["steady_videos_per_s"] is not None for xs in runs.values() for x in xs)
    key = "steady_videos_per_s" if steady else "videos_per_s"
    out: dict[str, Any] = {"rounds": rounds, "settings": settings, "baseline": baseline,
                           "rate": key}  # fmt: skip
    workers = max(int(settings.get("workers", 0)), 1)
    out["variants"] = {}
    for name, results in runs.items():
        rates = [x[key] for x in results]
        row = {"runs": results, "videos_per_s": statistics.median(rates),
               "per_core_videos_per_s": statistics.median(rates) / workers}  # fmt: skip
        if baseline is not None:
            base = runs[baseline]
            ratios = [a[key] / b[key] for a, b in zip(results, base)]
            row["speedups"], row["speedup"] = ratios, statistics.median(ratios)
        out["variants"][name] = row
    return out


# --------------------------------------------------------------------------- profile
class StepTimer:
    """Wall-clock seconds per named step: ``with timer("decode"): ...``, repeated."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}

    @contextlib.contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.times.setdefault(step, []).append(time.perf_counter() - start)

    def medians_ms(self) -> dict[str, float]:
        """Median milliseconds per step, and their ``total``."""
        steps = {step: 1000 * statistics.median(v) for step, v in self.times.items()}
        return steps | {"total": sum(steps.values())}


def profile_steps(
    paths: list[Path],
    *,
    units: int,
    frames_per_unit: int,
    stride: int,
    size: int,
    repeats: int = 3,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Milliseconds per video of each step, median over ``paths`` x ``repeats``, in-process
    with one torch thread (as in a loader worker) and one FFmpeg thread.

    f4d path: ``open+demux`` (one open, every packet read, frame count), ``sample``,
    ``decode`` (the keyframe-aware runs, frames not converted), ``convert`` (the wanted frames
    to RGB), ``crop+resize`` (uint8, channels-last), ``flip``, ``layout`` ((U, C, T, h, w)),
    ``collate`` and ``normalise`` (one video; in training this runs on the device, after the
    transfer, not in the loader). Naive path: ``open``, ``decode``, ``convert``
    (every frame), ``resize`` (float) and ``crop``; empty for frame folders, which it cannot
    read. Decode and convert are timed apart, so their sum can differ a little from one
    interleaved read; a frame folder's images decode straight to RGB (``decode`` only).
    """
    ours, naive = StepTimer(), StepTimer()
    videos_only = all(not Path(p).is_dir() for p in paths)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a loader worker
    try:
        for repeat in range(repeats):
            for k, path in enumerate(paths):
                rng = np.random.default_rng([seed, repeat, k])
                _profile_ours(ours, Path(path), rng, units, frames_per_unit, stride, size)
                if videos_only:
                    _profile_naive(naive, Path(path), units * frames_per_unit, size)
    finally:
        torch.set_num_threads(threads)
    return {"f4d": ours.medians_ms(), "naive": naive.medians_ms()}


def _profile_ours(
    timer: StepTimer,
    path: Path,
    rng: np.random.Generator,
    units: int,
    frames_per_unit: int,
    stride: int,
    size: int,
) -> None:
    from f4d.data.decode import FrameFolder, open_video
    from f4d.data.sampling import sample_segments
    from f4d.data.transforms import normalize, resize_frames, sample_crop_box, to_units

    with timer("open+demux"):
        video = open_video(path, threads=1)
    with video:
        with timer("sample"):
            idx = sample_segments(video.info.num_frames, units, frames_per_unit, stride, "train",
                                  rng)  # fmt: skip
        wanted = sorted(set(idx.ravel().tolist()))
        if isinstance(video, FrameFolder):  # the images decode straight to RGB
            with timer("decode"):
                arrays = list(video.read(wanted))
        else:
            with timer("decode"):
                decoded = _decode_only(video, wanted)
            with timer("convert"):
                arrays = [video.to_array(f) for f in decoded]
    frames = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)  # (N, 3, H, W)
    top, left, h, w = sample_crop_box(frames.shape[-2], frames.shape[-1], rng)
    with timer("crop+resize"):
        out = resize_frames(frames[..., top : top + h, left : left + w], (size, size))
    with timer("flip"):
        out = out.flip(-1)
    count = out.shape[0] // units
    with timer("layout"):
        clip = to_units(out[: units * count], units, count)  # (U, C, T', s, s)
    with timer("collate"):
        batch = collate([{"video": clip.unsqueeze(0), "label": 0, "index": 0}])
    with timer("normalise"):
        normalize(batch["video"])


def _decode_only(video: Any, wanted: list[int]) -> list[av.VideoFrame]:
    """The decoded, not yet converted, frames the reader would convert for ``wanted``."""
    return list(video.decode(wanted).values())


def _profile_naive(timer: StepTimer, path: Path, keep: int, size: int) -> None:
    with timer("open"):
        container = av.open(str(path))
    with container, timer("decode"):
        frames = list(container.decode(video=0))
    with timer("convert"):
        arrays = [f.to_ndarray(format="rgb24") for f in frames]
    picks = np.linspace(0, len(arrays) - 1, keep).round().astype(int)
    clip = torch.from_numpy(np.stack([arrays[k] for k in picks])).permute(0, 3, 1, 2)
    shape = resize_short_side(clip.shape[-2], clip.shape[-1], size)
    with timer("resize"):
        clip = F.interpolate(clip.float(), size=shape, mode="bilinear", antialias=True)
    top, left, h, w = centre_crop_box(*shape, size)
    with timer("crop"):
        clip[..., top : top + h, left : left + w].round().clamp(0, 255).to(torch.uint8)


# --------------------------------------------------------------------------- f4d bench data
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
    from f4d.data.formats import load_index

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
    from f4d.data.formats import load_index

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

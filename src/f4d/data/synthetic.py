"""The long-range-order synthetic dataset: classes that only the order of action units tells.

A video of ``frames`` frames is cut into ``units`` equal sections (the bounds of
:func:`f4d.data.sampling.section_bounds`, so a sampled snippet never crosses an event). Each
section holds one event: a square moving right, left, down or up (the four *primitives*). A
class is an order of the primitives (see :func:`class_orders`); every class holds the same
multiset, so any average of per-unit features (TSN-style consensus) is the same for every class
and cannot beat chance, while a model that relates units across the video can.

Per video, independently of the class and the slot: square side, travel per event (speed),
background colour, contrast, noise level, and one centre point; every event is drawn around that
centre (jitter of ±2 px at 32×32), so units can be related through the same spatial position.

Output under ``root`` (paths in the csv files are relative to ``root``)::

    videos/{train,test}/000000.mp4      (fmt="csv")   or   {train,test}/<class>/000000.mp4
    train.csv, test.csv                 path,label (class name)
    train_units.csv, test_units.csv     path,e0,e1,... (primitive index per section)
    classes.txt, primitives.txt         one name per line, index = line
    synth.json                          the generation arguments
"""

from __future__ import annotations

import csv
import itertools
import json
import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from f4d.data.sampling import section_bounds

PRIMITIVES = ("right", "left", "down", "up")
# (dx, dy) per primitive, in pixels of the image grid (y grows downwards).
DIRECTIONS = np.array([(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0)])
FORMATS = ("csv", "folder")
SPLITS = ("train", "test")
FPS = 12
# libx264: high quality; one thread and no macroblock-tree rate control, both needed for
# byte-identical output (mbtree made some tiny videos differ from run to run).
X264_OPTIONS = {"crf": "12", "preset": "veryfast", "threads": "1", "x264-params": "mbtree=0"}


def class_orders(units: int = 4, num_classes: int = 12) -> list[tuple[int, ...]]:
    """The primitive order of each class: ``num_classes`` tuples of ``units`` primitive indices.

    All distinct arrangements of the multiset ``[j % 4 for j in range(units)]``, even ones
    (an even number of inversions) first, then in lexicographic order. For ``units=4`` the
    default 12 classes are the even permutations of (right, left, down, up): each primitive sits
    in each slot in exactly 3 classes, and any two classes differ in at least 3 slots.
    """
    if units < 2:
        raise ValueError(f"units={units} must be >= 2: one event has no order")
    base = [j % len(PRIMITIVES) for j in range(units)]
    orders = sorted(set(itertools.permutations(base)), key=lambda o: (_inversions(o) % 2, o))
    if not 1 <= num_classes <= len(orders):
        raise ValueError(f"num_classes={num_classes} must be in 1..{len(orders)} for units={units}")
    return orders[:num_classes]


def class_name(order: tuple[int, ...]) -> str:
    """``(0, 2, 1, 3)`` -> ``"right-down-left-up"``."""
    return "-".join(PRIMITIVES[p] for p in order)


def _inversions(order: tuple[int, ...]) -> int:
    return sum(a > b for a, b in itertools.combinations(order, 2))


@dataclass(frozen=True)
class _Job:
    """One video to render: where, which class order, and its seed."""

    path: Path
    label: int
    order: tuple[int, ...]
    seed: tuple[int, ...]
    size: int
    frames: int


def generate(
    root: str | Path,
    *,
    num_train: int = 4000,
    num_test: int = 500,
    size: int = 32,
    frames: int = 48,
    units: int = 4,
    seed: int = 0,
    num_classes: int = 12,
    fmt: str = "csv",
    workers: int | None = None,
    progress: bool = False,
) -> Path:
    """Write the synthetic dataset under ``root`` and return ``root``.

    Args:
        root: output folder (created; existing files of the same names are overwritten).
        num_train, num_test: videos per split; labels as balanced as the counts allow.
        size: frame height = width, even, >= 16.
        frames: frames per video, at least 2 per event (``frames >= 2 * units``).
        units: events (sections) per video.
        seed: same seed and arguments -> identical files (whatever ``workers`` is).
        num_classes: how many orders of :func:`class_orders` become classes.
        fmt: ``"csv"`` (videos/<split>/, csv lists) or ``"folder"`` (<split>/<class>/).
        workers: processes encoding videos (default: all CPUs; 0 or 1 -> in this process).
        progress: show a tqdm progress bar.
    """
    _check_args(num_train, num_test, size, frames, units, fmt)
    root = Path(root)
    orders = class_orders(units, num_classes)
    names = [class_name(o) for o in orders]
    splits = {
        split: _split_jobs(
            root,
            split,
            split_id,
            count,
            orders=orders,
            names=names,
            fmt=fmt,
            seed=seed,
            size=size,
            frames=frames,
        )
        for split_id, (split, count) in enumerate(zip(SPLITS, (num_train, num_test)))
    }
    _run_jobs([job for jobs in splits.values() for job in jobs], workers, progress)
    for split, jobs in splits.items():
        _write_split(root, split, jobs, names, units)
    _write_text(root / "classes.txt", names)
    _write_text(root / "primitives.txt", PRIMITIVES)
    meta = {
        "num_train": num_train, "num_test": num_test, "size": size, "frames": frames,
        "units": units, "seed": seed, "fps": FPS, "fmt": fmt, "classes": names,
        "primitives": list(PRIMITIVES), "x264": X264_OPTIONS,
    }  # fmt: skip
    (root / "synth.json").write_text(json.dumps(meta, indent=2) + "\n")
    return root


def _split_jobs(
    root: Path,
    split: str,
    split_id: int,
    count: int,
    *,
    orders: list[tuple[int, ...]],
    names: list[str],
    fmt: str,
    seed: int,
    size: int,
    frames: int,
) -> list[_Job]:
    """The videos of one split, labels balanced and shuffled with a seed of their own."""
    labels = _balanced_labels(count, len(orders), np.random.default_rng([seed, split_id]))
    return [
        _Job(
            path=_video_path(root, fmt, split, names[label], i),
            label=int(label),
            order=orders[label],
            seed=(seed, split_id, i),
            size=size,
            frames=frames,
        )
        for i, label in enumerate(labels)
    ]


def _check_args(
    num_train: int, num_test: int, size: int, frames: int, units: int, fmt: str
) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"fmt={fmt!r} is not one of {list(FORMATS)}")
    if num_train < 0 or num_test < 0 or num_train + num_test == 0:
        raise ValueError(f"num_train={num_train}, num_test={num_test}: need >= 0 and one > 0")
    if size < 16 or size % 2:
        raise ValueError(f"size={size} must be even and >= 16 (yuv420p video)")
    if frames < 2 * units:
        raise ValueError(f"frames={frames} must be >= 2 * units = {2 * units}")


def _balanced_labels(count: int, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` labels, each class ``count // K`` or one more times, in a seeded order."""
    return rng.permutation(np.arange(count) % num_classes)


def _video_path(root: Path, fmt: str, split: str, name: str, index: int) -> Path:
    if fmt == "folder":
        return root / split / name / f"{index:06d}.mp4"
    return root / "videos" / split / f"{index:06d}.mp4"


# ---------------------------------------------------------------- rendering


def render(order: tuple[int, ...], *, size: int, frames: int, seed: tuple[int, ...]) -> np.ndarray:
    """Render one video ``(frames, size, size, 3)`` uint8 whose sections follow ``order``."""
    rng = np.random.default_rng(list(seed))
    scale = size / 32
    side = rng.uniform(3.0, 6.0) * scale
    travel = rng.uniform(7.0, 11.0) * scale  # distance covered by one event (speed)
    jitter = 2.0 * scale
    margin = travel / 2 + side / 2 + jitter + 1
    centre = rng.uniform(margin, size - margin, size=2)
    background = rng.uniform(30, 225, size=3)
    contrast = rng.uniform(70, 130) * (1 if background.mean() < 127.5 else -1)
    noise = rng.uniform(0, 6)
    xy = _positions(order, frames, centre, travel, rng.uniform(-jitter, jitter, (len(order), 2)))
    cover = _coverage(xy, side, size).astype(np.float32)  # (F, H, W)
    video = rng.standard_normal((frames, size, size, 3), dtype=np.float32)
    video *= noise
    video += cover[..., None] * np.float32(contrast)
    video += background.astype(np.float32)  # (F, H, W, 3)
    return np.clip(np.rint(video), 0, 255).astype(np.uint8)


def _positions(
    order: tuple[int, ...], frames: int, centre: np.ndarray, travel: float, offsets: np.ndarray
) -> np.ndarray:
    """Square centre ``(F, 2)`` as (x, y): each event moves through its own centre."""
    bounds = section_bounds(frames, len(order))
    xy = np.empty((frames, 2))
    for u, primitive in enumerate(order):
        lo, hi = int(bounds[u]), int(bounds[u + 1])
        phase = np.linspace(-0.5, 0.5, hi - lo)[:, None]  # (n, 1)
        xy[lo:hi] = centre + offsets[u] + phase * travel * DIRECTIONS[primitive]
    return xy


def _coverage(xy: np.ndarray, side: float, size: int) -> np.ndarray:
    """Fraction ``(F, H, W)`` of each pixel covered by the square (anti-aliased edges)."""
    grid = np.arange(size, dtype=np.float64)
    lo, hi = xy - side / 2, xy + side / 2  # (F, 2)
    cover_x = np.clip(np.minimum(grid + 1, hi[:, :1]) - np.maximum(grid, lo[:, :1]), 0, 1)
    cover_y = np.clip(np.minimum(grid + 1, hi[:, 1:]) - np.maximum(grid, lo[:, 1:]), 0, 1)
    return cover_y[:, :, None] * cover_x[:, None, :]  # (F, H, 1) * (F, 1, W)


def write_mp4(path: Path, video: np.ndarray, *, fps: int = FPS) -> None:
    """Encode ``(F, H, W, 3)`` uint8 as H.264 yuv420p mp4."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps, options=X264_OPTIONS)
        stream.width, stream.height = video.shape[2], video.shape[1]
        stream.pix_fmt = "yuv420p"
        for array in video:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
        container.mux(stream.encode())


def _make_video(job: _Job) -> None:
    video = render(job.order, size=job.size, frames=job.frames, seed=job.seed)
    write_mp4(job.path, video)


# ---------------------------------------------------------------- running and writing


def _run_jobs(jobs: list[_Job], workers: int | None, progress: bool) -> None:
    if workers is None:
        workers = os.cpu_count() or 1
    bar = _progress_bar(len(jobs), progress)
    if workers <= 1:
        for job in jobs:
            _make_video(job)
            bar.update(1)
    else:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        with context.Pool(workers) as pool:
            for _ in pool.imap_unordered(_make_video, jobs, chunksize=16):
                bar.update(1)
    bar.close()


def _progress_bar(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="video", desc="synth", disable=not enabled)


def _write_split(root: Path, split: str, jobs: list[_Job], names: list[str], units: int) -> None:
    """``<split>.csv`` (path,label) and ``<split>_units.csv`` (path,e0,e1,...)."""
    root.mkdir(parents=True, exist_ok=True)
    paths = [job.path.relative_to(root).as_posix() for job in jobs]
    _write_csv(
        root / f"{split}.csv",
        ["path", "label"],
        [(path, names[job.label]) for path, job in zip(paths, jobs)],
    )
    _write_csv(
        root / f"{split}_units.csv",
        ["path", *(f"e{u}" for u in range(units))],
        [(path, *job.order) for path, job in zip(paths, jobs)],
    )


def _write_csv(path: Path, header: list[str], rows: list[tuple]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _write_text(path: Path, lines: list[str] | tuple[str, ...]) -> None:
    path.write_text("".join(f"{line}\n" for line in lines))

"""Long videos: which actions, when (``f4d predict --timeline``, ``POST /v1/timeline``).

A window of ``window_s`` seconds slides every ``hop_s`` seconds over the video; each window
is predicted **exactly as** :func:`~f4d.engine.predict.predict_video` predicts a video made of
that window's frames: ``sample_segments(window frames, U, T, stride, "test")`` offset by the
window's first frame, the same :class:`~f4d.data.transforms.TestTransform` views, the logits
averaged over the views, then softmax.

Windows in frames (``fps`` = the file's frame rate): ``W = max(1, round(window_s * fps))``,
``H = max(1, round(hop_s * fps))`` (Python's round: halves to even). Windows start at
``0, H, 2H, ...`` while they end inside the video, and the last window ends at the video's
last frame (``[N - W, N)``), so the end is always covered; a window longer than the video
becomes one window over the whole video, with a note.

One decode pass, bounded memory: the file is decoded once, front to back; every window's
frame indices are known from its bounds, so only the frames some open window samples are
kept, already transformed to their ``(V, C, size, size)`` views, and dropped as soon as no
open or later window can use them (a deque ordered by frame index). Finished windows go
through the model ``batch`` at a time (:func:`~f4d.engine.predict.batch_probabilities`).
What is held is at most the frames of the windows that overlap one point of the video, so
the memory does not grow with the video's length (the per-window results do: ``K`` floats
per window).

Segments: each window owns the part of the time line nearer its centre than its
neighbours' (boundaries halfway between consecutive window centres, the first from 0 s, the
last to the end), consecutive windows with the same top-1 class merge into one segment whose
score is their mean top-1 probability; windows whose top-1 probability is below
``min_score`` belong to no segment.

Default window: the median length in seconds of the training videos, which ``f4d train``
records in the checkpoint meta (``video_length``); for checkpoints without it, the clip span
``U * T * stride`` frames at the video's frame rate. Default hop: half the window.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import statistics
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from f4d.data.decode import (
    FrameFolder,
    TruncatedVideoError,
    VideoDecodeError,
    VideoFile,
    VideoInfo,
    open_video,
    probe,
)
from f4d.data.sampling import sample_segments
from f4d.data.transforms import TestTransform
from f4d.engine.predict import Predictor, batch_probabilities, top_k, with_views
from f4d.errors import InputError, OptionError

DEFAULT_BATCH = 8  # windows per forward
LENGTH_SAMPLE = 32  # training videos probed for the typical length


class TimelineError(InputError, ValueError):
    """A video that cannot be laid out on a time line (e.g. a frame folder: no frame rate)."""


# ------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class WindowPrediction:
    """One window ``[start, stop)`` in frames, its class probabilities ``(K,)`` and top-k."""

    start: int
    stop: int
    probs: np.ndarray  # (K,) float32
    topk: list[tuple[int, str, float]]


@dataclass(frozen=True)
class Segment:
    """Consecutive windows with the same top-1 class: ``[start_s, end_s)``, mean top-1 prob."""

    start_s: float
    end_s: float
    index: int
    name: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"start_s": round(self.start_s, 4), "end_s": round(self.end_s, 4),
                "class": self.name, "index": self.index, "score": self.score}  # fmt: skip


@dataclass
class Timeline:
    """Windows and segments of one video, and how they were made."""

    video: str
    num_frames: int
    fps: float
    window_frames: int
    hop_frames: int
    window_source: str
    windows: list[WindowPrediction]
    segments: list[Segment]
    classes: list[str]
    views: str = "single"
    units: int = 0
    crops: int = 1
    notes: list[str] = field(default_factory=list)
    truncated: str | None = None
    frames_held_peak: int = 0  # most transformed frames held at once (bounded memory)

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.fps

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``f4d predict --timeline --json`` and ``POST /v1/timeline``."""
        windows = [
            {"start_s": round(w.start / self.fps, 4), "end_s": round(w.stop / self.fps, 4),
             "topk": [{"index": i, "class": name, "prob": p} for i, name, p in w.topk]}
            for w in self.windows
        ]  # fmt: skip
        out = {
            "video": self.video, "duration_s": round(self.duration_s, 4), "fps": self.fps,
            "num_frames": self.num_frames, "window_s": round(self.window_frames / self.fps, 4),
            "hop_s": round(self.hop_frames / self.fps, 4), "window_frames": self.window_frames,
            "hop_frames": self.hop_frames, "window_source": self.window_source,
            "views": self.views, "units": self.units, "crops": self.crops,
            "windows": windows, "segments": [s.to_dict() for s in self.segments],
            "notes": list(self.notes), "frames_held_peak": self.frames_held_peak,
        }  # fmt: skip
        return out if self.truncated is None else {**out, "truncated": self.truncated}


# ------------------------------------------------------------------------------ windows


def seconds_to_frames(seconds: float, fps: float, *, name: str) -> int:
    """``max(1, round(seconds * fps))``; raises `OptionError` unless ``seconds`` is finite > 0."""
    if isinstance(seconds, bool) or not math.isfinite(float(seconds)) or float(seconds) <= 0:
        raise OptionError(f"{name} must be a finite number of seconds > 0, got {seconds!r}")
    return max(1, round(float(seconds) * fps))


def plan_windows(num_frames: int, window: int, hop: int) -> list[tuple[int, int]]:
    """Window bounds ``[(start, stop), ...]`` in frames (see the module docstring)."""
    if min(num_frames, window, hop) < 1:
        raise ValueError(f"need num_frames, window, hop >= 1, got {num_frames}, {window}, {hop}")
    if window >= num_frames:
        return [(0, num_frames)]
    bounds = [(s, s + window) for s in range(0, num_frames - window + 1, hop)]
    if bounds[-1][1] < num_frames:
        bounds.append((num_frames - window, num_frames))
    return bounds


def window_indices(start: int, stop: int, predictor: Predictor) -> np.ndarray:
    """Frame indices ``(U, T)`` of window ``[start, stop)``: test sampling, offset by start."""
    s = predictor.settings
    return start + sample_segments(stop - start, s.units, s.frames, s.stride, mode="test")


def default_window(predictor: Predictor, fps: float) -> tuple[float, str]:
    """``(window_s, where it came from)``: the checkpoint's recorded median training-video
    length, else the clip span ``U * T * stride`` frames at ``fps``."""
    length = predictor.meta.get("video_length")
    if isinstance(length, dict) and float(length.get("median_s") or 0) > 0:
        return float(length["median_s"]), (
            f"checkpoint: median length of {length.get('videos', '?')} training videos"
        )
    s = predictor.settings
    span = s.units * s.frames * s.stride
    return span / fps, (
        f"clip span U*T*stride = {span} frames (the checkpoint records no training video length)"
    )


def typical_video_length(paths: Sequence[str | Path], limit: int = LENGTH_SAMPLE) -> dict:
    """Median length of up to ``limit`` videos spread evenly over ``paths`` (probed).

    Returns ``{"median_s", "median_frames", "fps", "videos"}`` (``{}`` when none of them has a
    frame rate: frame folders, or no video probes). What ``f4d train`` records in the
    checkpoint meta as ``video_length`` for :func:`default_window`.
    """
    picks = [paths[i] for i in np.linspace(0, len(paths) - 1, min(limit, len(paths))).astype(int)]
    infos = []
    for path in dict.fromkeys(picks):
        try:
            info = probe(path)
        except (VideoDecodeError, OSError):
            continue
        if info.fps > 0:
            infos.append(info)
    if not infos:
        return {}
    return {
        "median_s": round(statistics.median(i.num_frames / i.fps for i in infos), 4),
        "median_frames": int(statistics.median(i.num_frames for i in infos)),
        "fps": round(statistics.median(i.fps for i in infos), 4), "videos": len(infos),
    }  # fmt: skip


# ------------------------------------------------------------------------------ decoding


def _open_stream(
    path: str | Path, *, allow_truncated: bool, timeout_s: float | None = None
) -> tuple[VideoInfo, Iterator[tuple[int, np.ndarray]]]:
    """The one place the timeline decodes: ``(info, frames (index, uint8 (H, W, 3)))``.

    Opens ``path`` once with the one reader (:func:`f4d.data.decode.open_video`) and streams
    it front to back (``iter_frames``: upright frames, frame ``i`` as a random-access read of
    ``i`` gives it). With ``allow_truncated``, a decoder that fails before the frames the
    header promises just ends the stream (the timeline is then made up to where it ended);
    past ``timeout_s`` seconds, `VideoDecodeError`.
    """
    video = open_video(path, allow_truncated=allow_truncated)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    return video.info, _stream(video, allow_truncated, deadline)


def _stream(
    video: VideoFile | FrameFolder, allow_truncated: bool, deadline: float | None
) -> Iterator[tuple[int, np.ndarray]]:
    """``video.iter_frames()`` under a deadline; closes ``video`` when done."""
    with video:
        try:
            for index, frame in video.iter_frames():
                if deadline is not None and time.monotonic() > deadline:
                    raise VideoDecodeError(video.path, "decoding ran past the time limit")
                yield index, frame
        except TruncatedVideoError:
            if not allow_truncated:
                raise


@dataclass
class _OpenWindow:
    start: int
    stop: int
    indices: np.ndarray  # (U, T) absolute frame indices
    wanted: frozenset[int]
    last: int


class _WindowFeed:
    """Frames in, finished window clips out; holds only the frames open windows sample.

    ``push(index, frame)`` takes decoded frames in order; it returns the windows whose last
    sampled frame has arrived, as ``(start, stop, clip (V, U, C, T, size, size) uint8)``.
    """

    def __init__(self, predictor: Predictor, bounds: Sequence[tuple[int, int]]) -> None:
        s = predictor.settings
        self.predictor = predictor
        self.transform = TestTransform(
            size=s.size, scale_size=s.scale_size, num_crops=s.crops, crop_size=s.crop_size
        )
        self.pending = deque(bounds)  # not yet open, by start
        self.open: list[_OpenWindow] = []
        self.held: deque[tuple[int, torch.Tensor]] = deque()  # (index, (V, C, size, size))
        self.peak_held = 0

    def push(self, index: int, frame: np.ndarray) -> list[tuple[int, int, torch.Tensor]]:
        while self.pending and self.pending[0][0] <= index:
            start, stop = self.pending.popleft()
            indices = window_indices(start, stop, self.predictor)
            wanted = frozenset(indices.reshape(-1).tolist())
            self.open.append(_OpenWindow(start, stop, indices, wanted, int(indices.max())))
        if any(index in w.wanted for w in self.open):
            views, _ = self.transform(frame[None, None], 0)  # (V, 1, C, 1, size, size)
            self.held.append((index, views[:, 0, :, 0]))  # (V, C, size, size)
            self.peak_held = max(self.peak_held, len(self.held))
        done = [w for w in self.open if w.last <= index]
        self.open = [w for w in self.open if w.last > index]
        clips = [(w.start, w.stop, self._clip(w)) for w in done]
        self._drop_unneeded()
        return clips

    def _clip(self, window: _OpenWindow) -> torch.Tensor:
        frames = dict(self.held)
        flat = [frames[i] for i in window.indices.reshape(-1).tolist()]
        units, length = window.indices.shape
        stacked = torch.stack(flat)  # (U·T, V, C, size, size)
        clip = stacked.reshape(units, length, *stacked.shape[1:])  # (U, T, V, C, size, size)
        return clip.permute(2, 0, 3, 1, 4, 5).contiguous()  # (V, U, C, T, size, size)

    def _drop_unneeded(self) -> None:
        """Forget frames before the first frame any open or later window can sample."""
        starts = [w.start for w in self.open] + ([self.pending[0][0]] if self.pending else [])
        keep_from = min(starts, default=math.inf)
        while self.held and self.held[0][0] < keep_from:
            self.held.popleft()

    def unfinished(self) -> list[tuple[int, int]]:
        return [(w.start, w.stop) for w in self.open] + list(self.pending)


# ------------------------------------------------------------------------------ predicting


def predict_timeline(
    predictor: Predictor,
    path: str | Path,
    *,
    window_s: float | None = None,
    hop_s: float | None = None,
    topk: int = 5,
    min_score: float = 0.0,
    batch: int = DEFAULT_BATCH,
    views: str | None = None,
    crops: int | None = None,
    units: int | None = None,
    allow_truncated: bool = False,
    timeout_s: float | None = None,
    check_info: Callable[[VideoInfo], None] | None = None,
    progress: bool = False,
) -> Timeline:
    """Predict every window of a long video in one decode pass (see the module docstring).

    ``window_s``/``hop_s``: seconds (defaults: :func:`default_window`, half the window).
    ``views``/``crops``/``units`` as in :func:`~f4d.engine.predict.predict_video`.
    ``check_info`` sees the file's `VideoInfo` before decoding starts (limits of a server).
    ``progress``: a tqdm bar on stderr with windows/s and the real-time factor.

    Raises ``OptionError`` for a window or hop that is not a finite number > 0,
    ``TimelineError`` for a video without a frame rate (a frame folder), and what
    :func:`~f4d.data.video.probe` raises for an unreadable or truncated file (a truncated
    file is read up to the cut with ``allow_truncated``; ``Timeline.truncated`` names it).
    """
    predictor = with_views(predictor, views=views, crops=crops, units=units)
    if batch < 1 or not 0.0 <= min_score <= 1.0:
        raise OptionError(f"need batch >= 1 and 0 <= min_score <= 1, got {batch}, {min_score}")
    for name, value in (("window", window_s), ("hop", hop_s)):
        if value is not None:
            seconds_to_frames(value, 1.0, name=name)  # refuse before opening the file
    info, frames = _open_stream(path, allow_truncated=allow_truncated, timeout_s=timeout_s)
    if info.fps <= 0:
        raise TimelineError(f"{path} has no frame rate (a frame folder?); a timeline needs one")
    if check_info is not None:
        check_info(info)
    run = _Run(predictor, path, window_s, hop_s, topk, min_score, batch, progress)
    try:
        return run.timeline(info, frames)
    except _EndedEarly as early:
        if not allow_truncated or early.count == 0:
            raise TruncatedVideoError(path, early.reason) from None
        cut, reason = replace(info, num_frames=early.count), early.reason
    # the decoder stopped before the frames the header promises: again, up to where it stopped
    _, frames = _open_stream(path, allow_truncated=True, timeout_s=timeout_s)
    timeline = run.timeline(cut, frames)
    timeline.truncated = reason
    timeline.notes.append(f"truncated file: the timeline covers the part that decodes ({reason})")
    return timeline


class _EndedEarly(Exception):
    """The frames ran out before every window was complete."""

    def __init__(self, count: int, declared: int) -> None:
        self.count = count
        self.reason = (
            f"truncated: the stream ended after {count} of the {declared} frames the file declares"
        )
        super().__init__(self.reason)


@dataclass(frozen=True)
class _Run:
    """One :func:`predict_timeline` call's settings; ``timeline`` runs them over a stream."""

    predictor: Predictor
    path: str | Path
    window_s: float | None
    hop_s: float | None
    topk: int
    min_score: float
    batch: int
    progress: bool

    def timeline(self, info: VideoInfo, frames: Iterator[tuple[int, np.ndarray]]) -> Timeline:
        """Windows and segments of the stream ``frames`` of a file described by ``info``."""
        predictor = self.predictor
        timeline = _empty_timeline(predictor, self.path, info, self.window_s, self.hop_s)
        bounds = plan_windows(info.num_frames, timeline.window_frames, timeline.hop_frames)
        feed = _WindowFeed(predictor, bounds)
        results = _run_windows(predictor, frames, feed, info, self.batch, self.progress)
        timeline.frames_held_peak = feed.peak_held
        timeline.windows = [
            WindowPrediction(a, b, p, top_k(torch.from_numpy(p), predictor.classes, self.topk))
            for (a, b), p in zip(bounds, results)
        ]  # fmt: skip
        timeline.segments = merge_segments(timeline, self.min_score)
        return timeline


def _empty_timeline(
    predictor: Predictor,
    path: str | Path,
    info: VideoInfo,
    window_s: float | None,
    hop_s: float | None,
) -> Timeline:
    """The timeline's settings and notes, before any window is predicted."""
    notes = []
    source = "given"
    if window_s is None:
        window_s, source = default_window(predictor, info.fps)
    window = seconds_to_frames(window_s, info.fps, name="window")
    hop = seconds_to_frames(window_s / 2 if hop_s is None else hop_s, info.fps, name="hop")
    if window > info.num_frames:
        notes.append(
            f"the window ({window / info.fps:.3g} s) is longer than the video "
            f"({info.num_frames / info.fps:.3g} s): one window over the whole video"
        )
        window = hop = info.num_frames
    s = predictor.settings
    truncated = None if info.truncation is None else str(info.truncation)
    if truncated:
        notes.append(f"truncated file: the timeline covers the part that decodes ({truncated})")
    return Timeline(
        str(path), info.num_frames, info.fps, window, hop, source, [], [],
        list(predictor.classes), s.views, s.units, s.crops, notes, truncated,
    )  # fmt: skip


def _run_windows(
    predictor: Predictor,
    frames: Iterator[tuple[int, np.ndarray]],
    feed: _WindowFeed,
    info: VideoInfo,
    batch: int,
    progress: bool,
) -> list[np.ndarray]:
    """Class probabilities ``(K,)`` of every window, in order, from one pass over ``frames``."""
    bounds = list(feed.pending)
    waiting: list[torch.Tensor] = []
    results: list[np.ndarray] = []
    bar = _progress_bar(len(bounds), info) if progress else None

    def flush() -> None:
        probs = batch_probabilities(predictor, waiting)  # each (K,)
        results.extend(p.numpy().astype(np.float32) for p in probs)
        waiting.clear()
        if bar is not None:
            bar.update(len(probs))
            bar.set_postfix_str(_speed(bar, results, bounds, info))

    count = 0
    try:
        for index, frame in frames:
            count = index + 1
            waiting.extend(clip for _, _, clip in feed.push(index, frame))
            if len(waiting) >= batch:
                flush()
        if feed.unfinished():
            raise _EndedEarly(count, info.num_frames)
        if waiting:
            flush()
    finally:
        if bar is not None:
            bar.close()
    return results


def _progress_bar(total: int, info: VideoInfo) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="window", desc="timeline", dynamic_ncols=True, leave=False)


def _speed(bar: Any, results: list, bounds: list[tuple[int, int]], info: VideoInfo) -> str:
    """``"12.3x real time"``: video seconds covered so far over wall seconds."""
    elapsed = float(bar.format_dict.get("elapsed", 0.0))
    covered = bounds[len(results) - 1][1] / info.fps
    return f"{covered / elapsed:.1f}x real time" if elapsed > 0 else ""


# ------------------------------------------------------------------------------ segments


def window_spans(timeline: Timeline) -> list[tuple[float, float]]:
    """The part of the time line each window owns, in seconds (see the module docstring)."""
    fps = timeline.fps
    centres = [(w.start + w.stop) / 2 / fps for w in timeline.windows]
    cuts = [0.0] + [(a + b) / 2 for a, b in itertools.pairwise(centres)] + [timeline.duration_s]
    return list(itertools.pairwise(cuts))


def merge_segments(timeline: Timeline, min_score: float = 0.0) -> list[Segment]:
    """Merge consecutive windows with the same top-1 class into segments."""
    segments: list[Segment] = []
    run: list[tuple[float, float, float]] = []  # (start_s, end_s, top-1 prob)
    run_class: tuple[int, str] | None = None

    def close() -> None:
        if run and run_class is not None:
            score = sum(r[2] for r in run) / len(run)
            segments.append(Segment(run[0][0], run[-1][1], *run_class, score))
        run.clear()

    for window, (a, b) in zip(timeline.windows, window_spans(timeline)):
        index, name, prob = window.topk[0]
        if prob < min_score:
            close()
            run_class = None
            continue
        if run_class != (index, name):
            close()
            run_class = (index, name)
        run.append((a, b, prob))
    close()
    return segments


# ------------------------------------------------------------------------------ output


def timeline_table(timeline: Timeline) -> str:
    """Plain text: the settings line, then one row per segment."""
    t = timeline
    lines = [
        f"{t.video}: {t.duration_s:.2f} s at {t.fps:g} fps, {len(t.windows)} windows of "
        f"{t.window_frames / t.fps:.3g} s every {t.hop_frames / t.fps:.3g} s "
        f"(window: {t.window_source})",
        f"  {'start':>9}  {'end':>9}  {'score':>6}  class",
    ]
    lines += [f"  {_clock(s.start_s):>9}  {_clock(s.end_s):>9}  {s.score:6.3f}  {s.name}"
              for s in t.segments]  # fmt: skip
    return "\n".join(lines)


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60.0)
    return f"{int(minutes)}:{rest:05.2f}"


def write_outputs(timeline: Timeline, out_dir: str | Path) -> list[Path]:
    """Write ``timeline.json``, ``segments.csv`` and ``timeline.png`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "timeline.json"
    json_path.write_text(json.dumps(timeline.to_dict(), indent=2))
    csv_path = out / "segments.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["start_s", "end_s", "class", "index", "score"])
        for s in timeline.segments:
            writer.writerow([f"{s.start_s:.4f}", f"{s.end_s:.4f}", s.name, s.index,
                             f"{s.score:.6f}"])  # fmt: skip
    from f4d.engine.timeline_render import save_timeline_png

    return [json_path, csv_path, save_timeline_png(timeline, out / "timeline.png")]

"""Pictures of a :class:`~f4d.engine.timeline.Timeline`: the PNG plot and a labelled MP4.

``timeline.png``: the class probabilities over time (one line per class that is top-1 in some
window, at the window centres) above a strip of the segments (and, for documentation, a strip
of true segments beside it). ``labelled.mp4``: a copy of the video, H.264, with the segment's
class and score drawn on every frame it covers (Pillow), decoded once more for this.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from matplotlib.figure import Figure
from PIL import Image, ImageDraw

from f4d.engine.timeline import Segment, Timeline, _open_stream

MAX_LINES = 10  # classes drawn as probability lines
COLOURS = "tab20"


def class_colour(index: int) -> tuple[float, float, float]:
    import matplotlib

    return matplotlib.colormaps[COLOURS](index % 20)[:3]


def save_timeline_png(
    timeline: Timeline, path: str | Path, *, truth: Sequence[Segment] | None = None
) -> Path:
    """Probabilities over time and the segment strip (``truth``: a second strip beside it)."""
    strips = [("predicted", timeline.segments)] + ([("true", truth)] if truth is not None else [])
    fig = Figure(figsize=(11, 3.2 + 0.6 * len(strips)))
    axes = fig.subplots(
        1 + len(strips), 1, sharex=True, height_ratios=[4] + [1] * len(strips), squeeze=False
    )[:, 0]
    _probability_lines(axes[0], timeline)
    for ax, (label, segments) in zip(axes[1:], strips):
        _strip(ax, segments, label)
    axes[-1].set_xlabel("time (s)")
    axes[0].set_xlim(0, timeline.duration_s)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    return Path(path)


def _probability_lines(ax, timeline: Timeline) -> None:
    probs = np.stack([w.probs for w in timeline.windows])  # (windows, K)
    centres = [(w.start + w.stop) / 2 / timeline.fps for w in timeline.windows]
    tops = list(dict.fromkeys(int(w.topk[0][0]) for w in timeline.windows))[:MAX_LINES]
    for k in tops:
        ax.plot(centres, probs[:, k], marker=".", markersize=3, color=class_colour(k),
                label=timeline.classes[k])  # fmt: skip
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("probability")
    ax.legend(fontsize=7, ncol=min(4, max(1, len(tops))), loc="upper right")
    ax.grid(True, alpha=0.3)
    ax.set_title(f"{Path(timeline.video).name}: window {timeline.window_frames / timeline.fps:.3g}"
                 f" s, hop {timeline.hop_frames / timeline.fps:.3g} s", fontsize=9)  # fmt: skip


def _strip(ax, segments: Sequence[Segment], label: str) -> None:
    for s in segments:
        ax.broken_barh([(s.start_s, s.end_s - s.start_s)], (0, 1), color=class_colour(s.index))
        ax.text((s.start_s + s.end_s) / 2, 0.5, s.name, ha="center", va="center", fontsize=6,
                clip_on=True)  # fmt: skip
    ax.set_yticks([])
    ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)


def render_video(timeline: Timeline, path: str | Path, *, allow_truncated: bool = False) -> Path:
    """Write an H.264 MP4 copy of the video with each frame's segment label drawn on it."""
    info, frames = _open_stream(timeline.video, allow_truncated=allow_truncated)
    rate = Fraction(timeline.fps).limit_denominator(1001)
    width, height = info.width + info.width % 2, info.height + info.height % 2  # yuv420p: even
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index, frame in frames:
            image = _labelled(frame, _label_at(timeline, index / timeline.fps), width, height)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    return Path(path)


def _label_at(timeline: Timeline, second: float) -> str:
    for s in timeline.segments:
        if s.start_s <= second < s.end_s:
            return f"{s.name} {s.score:.2f}"
    return ""


def _labelled(frame: np.ndarray, text: str, width: int, height: int) -> np.ndarray:
    """``frame`` (H, W, 3) padded to ``(height, width)`` with ``text`` on a dark band."""
    canvas = np.zeros((height, width, 3), np.uint8)
    canvas[: frame.shape[0], : frame.shape[1]] = frame
    image = Image.fromarray(canvas)
    if text:
        draw = ImageDraw.Draw(image)
        box = draw.textbbox((2, 2), text)
        draw.rectangle((0, 0, box[2] + 2, box[3] + 2), fill=(0, 0, 0))
        draw.text((2, 2), text, fill=(255, 255, 0))
    return np.asarray(image)

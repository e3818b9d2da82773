"""Tiny generated clips for the truncation tests: write one, cut a copy, remux to Matroska."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def clip_frame(i: int, rng: np.random.Generator) -> av.VideoFrame:
    """Frame ``i`` (pts ``i`` at 10 fps) of the test clips: 64x48, top half flat red ``20 i``,
    bottom half noise from ``rng``, so that every frame carries a payload worth cutting."""
    image = np.full((48, 64, 3), (20 * i) % 256, dtype=np.uint8)
    image[24:] = rng.integers(0, 256, size=(24, 64, 3), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
    frame.pts, frame.time_base = i, Fraction(1, 10)
    return frame


def write_clip(path: Path, codec: str, *, frames: int = 12, audio: bool = False, **options) -> Path:
    """A 64x48, 10 fps clip: top half flat red ``20 i`` in frame i, bottom half noise (so that
    every frame has a payload worth cutting); optionally a mono audio track."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", options=options) as container:
        video = container.add_stream(codec, rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        sound = None
        if audio:
            sound = container.add_stream("libopus" if "webm" in path.name else "aac", rate=48000)
            sound.layout = "mono"
        stamp = 0
        for i in range(frames):
            container.mux(video.encode(clip_frame(i, rng)))
            while sound is not None and stamp < (i + 1) * 4800:
                size = sound.codec_context.frame_size or 960
                tone = (0.2 * np.sin(np.arange(size) / 9)).astype(np.float32)[None]
                chunk = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts, stamp = 48000, stamp, stamp + size
                container.mux(sound.encode(chunk))
        container.mux(video.encode(None))
        if sound is not None:
            container.mux(sound.encode(None))
    return path


def cut_copy(path: Path, fraction: float) -> Path:
    data = path.read_bytes()
    out = path.with_name(f"cut{fraction}_{path.name}")
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


def remux(src: Path, dst: Path, fmt: str = "matroska") -> Path:
    """Copy the video packets of ``src`` into container ``fmt`` at ``dst`` (no re-encoding)."""
    with av.open(str(src)) as source, av.open(str(dst), "w", format=fmt) as target:
        video = source.streams.video[0]
        out = target.add_stream_from_template(video)
        for packet in source.demux(video):
            if packet.dts is not None:
                packet.stream = out
                target.mux(packet)
    return dst


def retime(src: Path, dst: Path, pts: list[int], *, time_base: Fraction, fmt: str) -> Path:
    """Copy the video packets of ``src`` into ``fmt`` at ``dst`` with new timestamps: packet
    ``k`` (decode order; ``src`` must have no B-frames) gets ``pts[k]`` in ``time_base``.

    For late-starting streams (every ``pts`` offset, as ``ffmpeg -c copy`` keeps them),
    variable frame rates and duplicated timestamps.
    """
    with av.open(str(src)) as source, av.open(str(dst), "w", format=fmt) as target:
        video = source.streams.video[0]
        out = target.add_stream_from_template(video)
        out.time_base = time_base
        packets = [p for p in source.demux(video) if p.dts is not None]
        for packet, stamp in zip(packets, pts, strict=True):
            packet.stream, packet.time_base = out, time_base
            packet.pts = packet.dts = stamp
            packet.duration = 0
            target.mux(packet)
    return dst

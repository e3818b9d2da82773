"""Cut and bit-flipped copies of every container/codec pair f4d meets, for the truncation suite.

Sources: tiny clips encoded here with PyAV (64x48, 12 frames at 10 fps; the top half of frame
``i`` is flat red ``20 i``, the bottom half noise so that every frame carries a payload worth
cutting) in each container/codec pair, with and without a declared duration (Matroska/WebM
written to a pipe: no duration, unknown sizes, no cues; a fragmented MP4) and with and without
audio; plus the shared real videos. Each source is cut at :data:`CUT_FRACTIONS` of its bytes
and a few bytes before its end, and copies get bits flipped. Like ``generators``, nothing here
imports f4d.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from tests.data.clips import clip_frame
from tests.reliability.generators import BadInput

CUT_FRACTIONS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65,
                 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.98)  # fmt: skip
CUT_FROM_END = (1, 7, 64)  # bytes cut off the end of the file
FLIPS = 4  # bit-flipped copies per source
REAL = ("mmaction2_test.mp4", "mmaction2_test.avi", "decord_video_0.mov", "human2bot_task5_0.webm")


@dataclass(frozen=True)
class Source:
    """How to encode one source clip: ``codec`` into ``name`` (container by suffix or ``fmt``)."""

    name: str
    codec: str
    note: str
    audio: str | None = None
    fmt: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    piped: bool = False  # written to a non-seekable pipe: the muxer cannot go back to declare


SOURCES = (
    Source("h264.mp4", "libx264", "mp4 h264, index at the end"),
    Source("h264_faststart.mp4", "libx264", "mp4 h264, index first",
           options=(("movflags", "faststart"),)),
    Source("h264_frag.mp4", "libx264", "fragmented mp4 h264",
           options=(("movflags", "frag_keyframe+empty_moov"),)),
    Source("h264_aac.mp4", "libx264", "mp4 h264 + aac, index first", audio="aac",
           options=(("movflags", "faststart"),)),
    Source("h264.mov", "libx264", "mov h264"),
    Source("mpeg4.avi", "mpeg4", "avi mpeg4"),
    Source("mpeg4_mp2.avi", "mpeg4", "avi mpeg4 + mp2", audio="mp2"),
    Source("h264.mkv", "libx264", "mkv h264"),
    Source("h264_aac.mkv", "libx264", "mkv h264 + aac", audio="aac"),
    Source("h264_piped.mkv", "libx264", "mkv h264 written to a pipe (no duration)", piped=True),
    Source("vp8.webm", "libvpx", "webm vp8"),
    Source("vp9.webm", "libvpx-vp9", "webm vp9"),
    Source("vp9_opus.webm", "libvpx-vp9", "webm vp9 + opus", audio="libopus"),
    Source("vp9_piped.webm", "libvpx-vp9", "webm vp9 written to a pipe (no duration)", piped=True),
    Source("vp8_live.webm", "libvpx", "webm vp8, live (no duration, no cues)",
           options=(("live", "1"),)),
    Source("h264_in.webm", "libx264", "'webm' holding h264 (Matroska)", fmt="matroska"),
)  # fmt: skip


class _Pipe(io.RawIOBase):
    """A write-only, non-seekable file: what a muxer sees when writing to a pipe."""

    def __init__(self, handle) -> None:
        self.handle = handle

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, data) -> int:
        return self.handle.write(data)


def encode(source: Source, path: Path, *, frames: int = 12) -> Path:
    """Write ``source`` to ``path`` (see the module docstring for the picture)."""
    fmt = source.fmt or ("matroska" if source.piped and path.suffix == ".mkv" else None)
    fmt = fmt or ("webm" if source.piped else None)
    if source.piped:
        with open(path, "wb") as handle:
            _mux(source, av.open(_Pipe(handle), "w", format=fmt), frames)
    else:
        _mux(source, av.open(str(path), "w", format=fmt, options=dict(source.options)), frames)
    return path


def _mux(source: Source, container, frames: int) -> None:
    rng = np.random.default_rng(0)
    with container:
        video = container.add_stream(source.codec, rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        sound = _audio_stream(container, source.audio)
        stamp = 0
        for i in range(frames):
            container.mux(video.encode(clip_frame(i, rng)))
            while sound is not None and stamp < (i + 1) * sound.rate // 10:
                container.mux(sound.encode(_tone(sound, stamp)))
                stamp += sound.codec_context.frame_size or 1024
        container.mux(video.encode(None))
        if sound is not None:
            container.mux(sound.encode(None))


def _audio_stream(container, codec: str | None):
    if codec is None:
        return None
    stream = container.add_stream(codec, rate=48000 if codec == "libopus" else 16000)
    stream.layout = "mono"
    return stream


def _tone(stream, stamp: int) -> av.AudioFrame:
    size = stream.codec_context.frame_size or 1024
    fmt = stream.codec_context.format.name
    wave = (0.2 * np.sin((stamp + np.arange(size)) / 9)).astype(np.float32)[None]
    data = (wave * 32000).astype(np.int16) if fmt.startswith("s16") else wave
    frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="mono")
    frame.sample_rate, frame.pts = stream.rate, stamp
    return frame


def sources(root: Path, real_videos: Path | None) -> dict[str, tuple[Path, str]]:
    """Every source ``{name: (path, note)}``: the encoded clips, then the real videos found."""
    root.mkdir(parents=True, exist_ok=True)
    out = {s.name: (encode(s, root / s.name), s.note) for s in SOURCES}
    for name in REAL:
        if real_videos is not None and (real_videos / name).is_file():
            out[f"real_{name}"] = (real_videos / name, f"real {name}")
    return out


def cut_inputs(root: Path, found: dict[str, tuple[Path, str]]) -> list[BadInput]:
    """Each source cut at every offset: ``expect="error"`` (named truncated or unreadable)."""
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for name, (path, note) in found.items():
        data = path.read_bytes()
        cuts = {f"{f:.2f}": int(len(data) * f) for f in CUT_FRACTIONS}
        cuts.update({f"end-{n}": len(data) - n for n in CUT_FROM_END})
        for label, size in cuts.items():
            target = root / f"cut_{label}_{name}"
            target.write_bytes(data[:size])
            out.append(BadInput(target.name, "video", target, "error",
                                f"{note} cut to {size} of {len(data)} bytes"))  # fmt: skip
    return out


def flip_inputs(root: Path, found: dict[str, tuple[Path, str]]) -> list[BadInput]:
    """Whole sources and their 70% cuts with bits flipped: a clean decode or a clean error."""
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(14)
    out = []
    for name, (path, note) in found.items():
        whole = path.read_bytes()
        for k in range(FLIPS):
            data = bytearray(whole if k % 2 == 0 else whole[: len(whole) * 7 // 10])
            for _ in range(1 + 3 * k):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            target = root / f"flip{k}_{name}"
            target.write_bytes(bytes(data))
            what = "whole" if k % 2 == 0 else "cut to 70%"
            # A cut copy stays cut (named truncated or unreadable); a flipped whole file may
            # still decode: codecs conceal damaged payload.
            expect = "either" if k % 2 == 0 else "error"
            out.append(BadInput(target.name, "video", target, expect,
                                f"{note}, {what}, {1 + 3 * k} bits flipped"))  # fmt: skip
    return out

"""Truncated videos: what a file declares against what it delivers.

One definition, used by the one reader (:mod:`f4d.data.decode`: every ``open_video``,
``probe`` and ``read_frames``), hence by ``f4d data check``, the loaders and ``f4d predict``.
A video file is **truncated** when the file itself shows that part of it is missing:

1. *bytes*: its container declares more bytes than the file holds (the RIFF chunk sizes of
   AVI, the top-level box sizes of MP4/MOV, the EBML Segment size of Matroska/WebM), or its
   index (MP4 sample tables, AVI ``idx1``, Matroska cues) points past the end of the file,
   or an MP4/MOV ends after its media data without the ``moov`` index (even when FFmpeg
   cannot open it);
2. *FFmpeg says so*: while opening, demuxing or decoding, FFmpeg's log (captured through
   PyAV, per thread) reports an unexpected end of file: "File ended prematurely" (Matroska),
   "partial file" (MP4), "Truncating packet" (any demuxer);
3. *time*: the video ends more than a tolerance before the duration the file declares: the
   video stream's duration or frame count / frame rate, or the container's duration. Only
   facts that the container's muxer writes count (:data:`DECLARED_FACTS`); durations that
   FFmpeg estimates (from the bit rate, or from the packets present) never do. The
   tolerance is two frame durations (the longest frame of the stream, at least ``1 / fps``)
   plus, against the container's duration, the longest packet of any other stream (an audio
   frame), plus 1 ms of timestamp rounding; times are measured from each stream's
   ``start_time`` (the container's from its own ``start_time``) or from time 0, whichever
   reaches further (a clip cut with its timestamps kept, whose video starts at 2.5 s,
   declares a duration counted from 0), so start offsets, a last frame's duration, B-frame
   reordering and audio that outlasts the video by a frame do not count as missing.

A decode that stops with a decoder error well before the packets the file holds end is
counted too (rule 3 with the packets as the declaration): the decodable stream ends early.

A file that declares nothing it lacks is not truncated, however short: a 3-frame MOV whose
header says 3 frames passes. Judged from the file alone, never from a list of known files.
"""

from __future__ import annotations

import itertools
import logging
import re
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import av
import av.logging

# Phrases FFmpeg's demuxers log when the file ends inside something it declared (lower case).
PREMATURE_END = ("ended prematurely", "partial file", "truncating packet", "premature end")

MOV = "mov,mp4,m4a,3gp,3g2,mj2"
MATROSKA = "matroska,webm"
# Which header facts each container's muxer writes (rather than FFmpeg estimating them):
# ``frames`` = the video stream's frame count, ``stream`` = its duration, ``tag`` = the
# Matroska DURATION tag of the video track, ``container`` = the container's duration.
DECLARED_FACTS = {
    MOV: ("frames", "stream", "container"),
    MATROSKA: ("tag", "container"),
    "avi": ("frames",),
}
ROUNDING_S = 0.001
MAX_TOP_LEVEL = 100_000  # top-level boxes/chunks/elements walked at most

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Truncation:
    """Why a video counts as truncated.

    ``declared_s``: the longest duration the file declares (None when it declares none);
    ``delivered_s``: how much of the video decodes (``decoded``) or its packets hold;
    ``evidence``: the findings, ``"; "``-joined.
    """

    declared_s: float | None
    delivered_s: float | None
    evidence: str
    decoded: bool = True

    def span(self) -> str | None:
        """``"decodes 3.07 s of a declared 10.38 s"`` (None when nothing was measured)."""
        if self.delivered_s is None:
            return None
        verb = "decodes" if self.decoded else "holds"
        span = f"{verb} {self.delivered_s:.2f} s"
        if self.declared_s is not None:
            span += f" of a declared {self.declared_s:.2f} s"
        return span

    def __str__(self) -> str:
        span = self.span()
        return (
            f"truncated ({self.evidence})"
            if span is None
            else f"truncated: {span} ({self.evidence})"
        )


# ---------------------------------------------------------------- FFmpeg's log


_logging_ready = False


def _enable_ffmpeg_log() -> None:
    """Route FFmpeg errors through PyAV (once per process) so they can be captured.

    PyAV ignores FFmpeg's log by default. At level ERROR its callback only takes the GIL for
    errors; identical consecutive messages must not be folded, or a thread would miss the
    message another thread logged just before. Errors nobody captures (e.g. from decoder
    threads) go to the ``libav`` Python logger, which gets a NullHandler so that they are not
    printed unless the application configures logging.
    """
    global _logging_ready
    if _logging_ready:
        return
    if av.logging.get_level() is None:
        av.logging.set_level(av.logging.ERROR)
    av.logging.set_skip_repeated(False)
    logging.getLogger("libav").addHandler(logging.NullHandler())
    _logging_ready = True


@contextmanager
def ffmpeg_log() -> Iterator[list[tuple[int, str, str]]]:
    """Capture FFmpeg's log lines ``(level, component, message)`` logged by this thread."""
    _enable_ffmpeg_log()
    with av.logging.Capture(local=True) as lines:
        yield lines


def premature_end(lines: list[tuple[int, str, str]]) -> str | None:
    """The first captured line that reports an unexpected end of file, as ``[who] what``."""
    for _, who, message in lines:
        text = message.strip()
        if any(phrase in text.lower() for phrase in PREMATURE_END):
            return f"[{who}] {text}" if who else text
    return None


# ---------------------------------------------------------------- declared bytes


def declared_bytes(path: Path, format_name: str) -> int | None:
    """Where the container's top-level structure says the file ends (None: it does not say).

    Walks AVI ``RIFF`` chunks, MP4/MOV top-level boxes or Matroska top-level EBML elements by
    their size fields, reading a few bytes per element. Stops at the first element whose size
    is unknown (live streams) or malformed; returns the largest end seen. A tail too short to
    hold an element header (1-7 bytes after the last element) is the start of an element cut
    off (e.g. a fragmented MP4's closing ``mfra`` index): it declares at least a header.
    """
    walkers = {"avi": _riff_ends, MOV: _box_ends, MATROSKA: _ebml_ends}
    walker = walkers.get(format_name)
    if walker is None:
        return None
    size = path.stat().st_size
    with open(path, "rb") as handle:
        ends = [end for _, end in zip(range(MAX_TOP_LEVEL), walker(handle, size))]
    return max(ends) if ends else None


# Top-level MP4/MOV box types a file starts with (ISO-BMFF and QuickTime).
_FIRST_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"styp")


def sniff_format(path: Path) -> str | None:
    """The container family of ``path`` from its first bytes (``avi``, MOV or MATROSKA), for
    files FFmpeg cannot open; None when the bytes name none of them."""
    with open(path, "rb") as handle:
        head = handle.read(12)
    if head[:4] == b"RIFF":
        return "avi"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return MATROSKA
    if head[4:8] in _FIRST_BOXES:
        return MOV
    return None


def cut_header(path: Path) -> str | None:
    """Why a file FFmpeg cannot open (or finds no usable video in) is cut, or None.

    Only the byte rule applies (nothing can be demuxed): e.g. an MP4 whose ``moov`` index was
    at the end and is gone still declares its ``mdat`` size.
    """
    fmt = sniff_format(path)
    declared = None if fmt is None else declared_bytes(path, fmt)
    size = path.stat().st_size
    if declared is not None and declared > size:
        return f"the container declares {declared} bytes, the file has {size}"
    if fmt == MOV and _lacks_movie_box(path):
        return f"the file ends after its media data ({size} bytes), before the moov index"
    return None


def _riff_ends(handle: BinaryIO, size: int) -> Iterator[int]:
    """Ends of the ``RIFF`` chunks (AVI, then OpenDML ``AVIX`` extensions)."""
    offset = 0
    while offset < size:
        if offset + 8 > size:
            yield offset + 8  # a chunk header cut short
            return
        handle.seek(offset)
        head = handle.read(8)
        if head[:4] != b"RIFF":
            return
        (length,) = struct.unpack("<I", head[4:])
        if length in (0, 0xFFFFFFFF):  # written by a muxer that could not seek back
            return
        offset += 8 + length + (length & 1)
        yield offset


def _box_ends(handle: BinaryIO, size: int) -> Iterator[int]:
    """Ends of the top-level ISO-BMFF boxes (``ftyp``, ``moov``, ``mdat``, ``moof`` ...)."""
    for _, end in _boxes(handle, size):
        yield end


def _boxes(handle: BinaryIO, size: int) -> Iterator[tuple[bytes, int]]:
    """``(type, end)`` of each top-level ISO-BMFF box; a header cut short has type ``b""``."""
    offset = 0
    while offset < size:
        if offset + 8 > size:
            yield b"", offset + 8  # a box header cut short
            return
        handle.seek(offset)
        head = handle.read(16)
        length, kind = struct.unpack(">I4s", head[:8])
        if not all(32 <= c < 127 for c in kind):
            return  # not a box: trailing bytes after the last one
        if length == 1 and len(head) == 16:
            (length,) = struct.unpack(">Q", head[8:])
        if length < 8:  # 0: "to the end of the file" (declares nothing); 1..7: malformed
            return
        offset += length
        yield kind, offset


def _lacks_movie_box(path: Path) -> bool:
    """An MP4/MOV whose top-level boxes end exactly at the end of the file with media data
    (``mdat``) but neither the ``moov`` index nor fragments (``moof``): cut before its index,
    which most muxers write last."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        boxes = [box for _, box in zip(range(MAX_TOP_LEVEL), _boxes(handle, size))]
    kinds = {kind for kind, _ in boxes}
    complete = bool(boxes) and boxes[-1][1] == size
    return complete and b"mdat" in kinds and not kinds & {b"moov", b"moof"}


def _ebml_ends(handle: BinaryIO, size: int) -> Iterator[int]:
    """Ends of the top-level EBML elements (the EBML header, then the Segment)."""
    offset = 0
    while offset < size:
        handle.seek(offset)
        head = handle.read(12)
        element_id = _vint(head, 0, keep_marker=True)
        length = None if element_id is None else _vint(head, element_id[1], keep_marker=False)
        if length is None and head[:1] != b"\0" and offset + len(head) == size < offset + 12:
            yield size + 1  # an element header cut short by the end of the file
            return
        if length is None or length[0] is None:  # malformed, or unknown size (live stream)
            return
        offset += length[1] + length[0]
        yield offset


def _vint(data: bytes, at: int, *, keep_marker: bool) -> tuple[int | None, int] | None:
    """An EBML variable-length integer at ``data[at:]``: ``(value, end)``; value None = unknown.

    Returns None when the bytes are not a valid integer.
    """
    if at >= len(data) or data[at] == 0:
        return None
    width = 9 - data[at].bit_length()
    if at + width > len(data):
        return None
    value = int.from_bytes(data[at : at + width], "big")
    if not keep_marker:
        value &= (1 << (7 * width)) - 1
        if value == (1 << (7 * width)) - 1:
            return None, at + width
    return value, at + width


def index_end(container: av.container.InputContainer) -> int | None:
    """The furthest byte the demuxer's index (sample tables, idx1, cues) points to."""
    ends = []
    for stream in container.streams:
        entries = stream.index_entries
        count = len(entries)
        # The index is in time order; the furthest bytes sit among its last entries.
        for i in range(max(0, count - 16), count):
            entry = entries[i]
            if entry.pos >= 0:
                ends.append(entry.pos + max(entry.size, 0))
    return max(ends) if ends else None


# ---------------------------------------------------------------- declared time


@dataclass(frozen=True)
class Declared:
    """What a video file declares about itself (see the module's definition)."""

    file_bytes: int
    container_bytes: int | None = None
    index_bytes: int | None = None
    video_s: float | None = None
    container_s: float | None = None

    @property
    def longest_s(self) -> float | None:
        known = [s for s in (self.video_s, self.container_s) if s is not None]
        return max(known) if known else None


def declared(path: Path, container: av.container.InputContainer, stream: Any) -> Declared:
    """Read the declarations of ``path``, open as ``container`` with video ``stream``."""
    name = container.format.name
    facts = DECLARED_FACTS.get(name, ())
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    video = []
    if "frames" in facts and stream.frames and rate:
        video.append(float(stream.frames / Fraction(rate)))
    if "stream" in facts and stream.duration and stream.time_base:
        video.append(float(stream.duration * stream.time_base))
    if "tag" in facts:
        video += [s for s in [_tag_seconds(stream.metadata.get("DURATION"))] if s is not None]
    container_s = None
    if "container" in facts and container.duration and container.duration > 0:
        container_s = container.duration / av.time_base
    return Declared(
        file_bytes=path.stat().st_size,
        container_bytes=declared_bytes(path, name),
        index_bytes=index_end(container),
        video_s=max(video) if video else None,
        container_s=container_s,
    )


def _tag_seconds(text: str | None) -> float | None:
    """``"HH:MM:SS.fffffffff"`` (Matroska DURATION tag) in seconds."""
    match = re.fullmatch(r"\s*(\d+):(\d{1,2}):(\d{1,2}(?:\.\d*)?)\s*", text or "")
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


# ---------------------------------------------------------------- delivered time


@dataclass
class StreamSpan:
    """Timestamps seen in one stream (packets or decoded frames), in its time base."""

    time_base: Fraction
    start: int | None
    stamps: list[int] = field(default_factory=list)
    end: int | None = None
    longest: int = 0  # longest packet/frame duration seen

    def add(self, pts: int | None, duration: int | None) -> None:
        if pts is None:
            return
        self.stamps.append(pts)
        self.end = max(self.end if self.end is not None else pts, pts + (duration or 0))
        self.longest = max(self.longest, duration or 0)

    def end_s(self, origin_s: float | None = None) -> float | None:
        """Seconds from the stream's start (or from ``origin_s``) to the end of its last frame."""
        if self.end is None:
            return None
        if origin_s is not None:
            return float(self.end * self.time_base) - origin_s
        start = self.start if self.start is not None else min(self.stamps)
        return float((self.end - start) * self.time_base)

    def step_s(self) -> float:
        """The longest frame: the largest packet duration or gap between consecutive stamps."""
        stamps = sorted(self.stamps)
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        return float(max([self.longest, *gaps]) * self.time_base)


@dataclass
class Delivered:
    """What demuxing (``decoded=False``) or decoding (``decoded=True``) one file delivered.

    ``video`` holds the video frames (decoded) or packets; ``packets`` every stream's packets
    (the video's too); ``frames`` counts video frames (or non-empty video packets);
    ``failure`` is the error that stopped the pass early.
    """

    video: StreamSpan
    packets: dict[int, StreamSpan]
    index: int
    fps: float
    decoded: bool
    frames: int = 0
    failure: str | None = None


def scan(
    container: av.container.InputContainer,
    stream: Any,
    *,
    decode: bool,
    keep: Any = None,
) -> Delivered:
    """Demux every packet of every stream once; with ``decode``, decode the video's packets.

    Errors are recorded (``failure``), never raised: the file is judged by what came out.
    Run it inside :func:`ffmpeg_log` to catch what FFmpeg says about the file's end.
    ``keep`` receives the non-empty video packets, in decode order, so a reader can decode
    them later without demuxing again (:class:`f4d.data.decode.timeline.PacketTable`).
    """
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    timed = [s for s in container.streams if s.time_base] + [stream]  # data streams may lack one
    spans = {s.index: StreamSpan(s.time_base or Fraction(1), s.start_time) for s in timed}
    video = StreamSpan(stream.time_base or Fraction(1), stream.start_time) if decode else None
    video = video or spans[stream.index]
    result = Delivered(video, spans, stream.index, float(rate) if rate else 0.0, decode)
    try:
        for packet in container.demux():
            if packet.stream.index in spans:
                spans[packet.stream.index].add(packet.pts, packet.duration)
            if packet.stream.index != stream.index:
                continue
            if keep is not None and packet.size > 0:
                keep.append(packet)
            if not decode or result.failure is not None:
                result.frames += not decode and packet.size > 0
                continue
            result.failure = _decode_into(packet, video, result)
    except (av.error.FFmpegError, ValueError) as err:
        result.failure = result.failure or str(err)
    return result


def _decode_into(packet: av.Packet, video: StreamSpan, result: Delivered) -> str | None:
    """Decode one packet into ``video``; the decoder's error (then stop decoding) or None."""
    try:
        for frame in packet.decode():
            video.add(frame.pts, frame.duration)
            result.frames += 1
    except (av.error.FFmpegError, ValueError) as err:
        return str(err)
    return None


# ---------------------------------------------------------------- the verdict


def judge(
    facts: Declared,
    got: Delivered,
    lines: list[tuple[int, str, str]],
    *,
    container_start_s: float | None = None,
) -> Truncation | None:
    """The :class:`Truncation` of a file (None when it is whole); see the module's definition.

    ``lines`` is FFmpeg's log captured while the file was opened and scanned;
    ``container_start_s`` the container's ``start_time`` in seconds (its duration is
    measured from there).
    """
    evidence = _byte_evidence(facts)
    said = premature_end(lines)
    if said:
        evidence.append(f"FFmpeg: {said}")
    video_s = got.video.end_s() or 0.0
    # A declared duration may count from time 0 rather than from the stream's start (a
    # Matroska/MP4 cut with its timestamps kept, whose video starts at 2.5 s): reaching it
    # either way is enough.
    reached_s = max(video_s, got.video.end_s(0.0) or 0.0)
    frame_s = max(got.video.step_s() if got.video.stamps else 0.0, 1 / got.fps if got.fps else 0)
    tolerance = 2 * frame_s + ROUNDING_S
    short = facts.video_s is not None and facts.video_s - reached_s > tolerance
    if facts.container_s is not None:
        others = [s for i, s in got.packets.items() if i != got.index and s.stamps]
        spans = [got.video, *others]
        ends = [s.end_s(origin) for s in spans for origin in (container_start_s, 0.0)]
        reached = max([e for e in ends if e is not None], default=0.0)
        extra = max([s.step_s() for s in others], default=0.0)
        short = short or facts.container_s - reached > tolerance + extra
    if short:
        evidence.append("the stream ends before the declared duration")
    held = got.packets[got.index].end_s()
    if got.failure and got.decoded and held is not None and held - video_s > tolerance:
        evidence.append(f"the decoder failed at {video_s:.2f} s of {held:.2f} s: {got.failure}")
    if not evidence:
        return None
    return Truncation(facts.longest_s, video_s, "; ".join(evidence), got.decoded)


def cut_bytes(path: Path, container: av.container.InputContainer) -> str | None:
    """The byte rule alone (a few small reads, no demuxing): why ``path`` is cut, or None."""
    facts = Declared(
        file_bytes=path.stat().st_size,
        container_bytes=declared_bytes(path, container.format.name),
        index_bytes=index_end(container),
    )
    return "; ".join(_byte_evidence(facts)) or None


def _byte_evidence(facts: Declared) -> list[str]:
    out = []
    size = facts.file_bytes
    if facts.container_bytes is not None and facts.container_bytes > size:
        out.append(f"the container declares {facts.container_bytes} bytes, the file has {size}")
    if facts.index_bytes is not None and facts.index_bytes > size:
        out.append(f"its index points to byte {facts.index_bytes} of {size}")
    return out

"""Opening a video file with PyAV, and the facts its header states (rate, size, rotation).

Every failure to open maps to `VideoDecodeError` (or `TruncatedVideoError` when the bytes show
the file is cut). The display rotation is read from the file itself: the MP4/MOV track header
(``tkhd``) matrix of the video track, the same matrix FFmpeg turns into the rotation it
attaches to decoded frames (``frame.rotation``); other containers carry none f4d reads.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import av

from f4d.data import integrity
from f4d.data.decode.errors import TruncatedVideoError, VideoDecodeError
from f4d.data.decode.frames import VideoInfo
from f4d.data.integrity import Truncation

__all__ = ["display_rotation", "frame_rate", "header_info", "open_container", "unreadable"]


def open_container(path: Path) -> av.container.InputContainer:
    """Open ``path`` with PyAV, mapping every failure to `VideoDecodeError`."""
    if not path.exists():
        raise VideoDecodeError(path, "file not found")
    if path.stat().st_size == 0:
        raise VideoDecodeError(path, "empty file (0 bytes)")
    try:
        # Non-UTF-8 metadata tags are replaced, not fatal: the frames inside are still good.
        container = av.open(str(path), metadata_errors="replace")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as err:
        raise unreadable(path, f"not a readable video container ({err})") from err
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        container.close()
        raise unreadable(path, f"no video stream (streams: {', '.join(kinds)})")
    return container


def unreadable(path: Path, reason: str) -> VideoDecodeError:
    """The error for a file whose header cannot be used: `TruncatedVideoError` when the file
    is cut (its container declares more bytes than it holds), else `VideoDecodeError`."""
    cut = integrity.cut_header(path)
    if cut is None:
        return VideoDecodeError(path, reason)
    return TruncatedVideoError(path, Truncation(None, None, f"{cut}; {reason}"))


def frame_rate(stream: Any) -> Fraction:
    """The stream's frame rate: average, else guessed, else base rate."""
    return Fraction(stream.average_rate or stream.guessed_rate or stream.base_rate)


def header_info(path: Path, container: av.container.InputContainer, stream: Any) -> VideoInfo:
    """Frame rate, displayed size, rotation and the header's frame count (0 when it has none)."""
    if not (stream.average_rate or stream.guessed_rate or stream.base_rate):
        raise unreadable(path, "the video stream has no frame rate")
    if stream.codec_context is None:
        raise unreadable(path, "unknown or unsupported video codec")
    width, height = stream.codec_context.width, stream.codec_context.height
    if width <= 0 or height <= 0:
        raise unreadable(path, f"invalid frame size {width}x{height}")
    rotation = display_rotation(path, container, stream)
    if rotation % 180:  # a quarter turn: displayed width is the stored height
        width, height = height, width
    fps = float(frame_rate(stream))
    return VideoInfo(int(stream.frames or 0), fps, int(width), int(height), rotation=rotation)


# ---------------------------------------------------------------- display rotation


def display_rotation(path: Path, container: av.container.InputContainer, stream: Any) -> int:
    """Degrees counter-clockwise (a multiple of 90 in [-180, 180]) that turn stored frames upright.

    From the ``tkhd`` matrix ``(a b u / c d v / x y w)`` of the MP4/MOV track whose ID is the
    stream's: ``-atan2(b, a)``, FFmpeg's ``av_display_rotation_get`` (same sign as PyAV's
    ``frame.rotation``), rounded to a quarter turn. 0 for other containers.
    """
    if container.format.name != integrity.MOV:
        return 0
    matrix = _track_matrices(path).get(stream.id)
    if matrix is None:
        return 0
    a, b, c, d = matrix
    degrees = -math.degrees(math.atan2(b / (math.hypot(b, d) or 1), a / (math.hypot(a, c) or 1)))
    return int(round(degrees / 90) * 90)


def _track_matrices(path: Path) -> dict[int, tuple[float, float, float, float]]:
    """``{track ID: (a, b, c, d)}`` from every ``moov/trak/tkhd`` box of an MP4/MOV."""
    out: dict[int, tuple[float, float, float, float]] = {}
    with open(path, "rb") as handle:
        for kind, body, end in _boxes(handle, 0, path.stat().st_size):
            if kind != b"moov":
                continue
            for trak, trak_body, trak_end in _boxes(handle, body, end):
                if trak != b"trak":
                    continue
                for box, box_body, _ in _boxes(handle, trak_body, trak_end):
                    if box == b"tkhd":
                        out.update(_tkhd(handle, box_body))
    return out


def _tkhd(handle: BinaryIO, body: int) -> dict[int, tuple[float, float, float, float]]:
    """``{track ID: (a, b, c, d)}`` of one ``tkhd`` box body (version 0 or 1)."""
    handle.seek(body)
    data = handle.read(88)
    wide = bool(data[:1]) and data[0] == 1  # version 1: 64-bit times
    id_at, matrix_at = (20, 52) if wide else (12, 40)
    if len(data) < matrix_at + 36:
        return {}
    (track,) = struct.unpack(">I", data[id_at : id_at + 4])
    a, b, _, c, d = struct.unpack(">5i", data[matrix_at : matrix_at + 20])
    return {track: (a / 65536, b / 65536, c / 65536, d / 65536)}


def _boxes(handle: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """``(type, body start, end)`` of the ISO-BMFF boxes in ``[start, end)``; stops at a box
    that does not fit (a cut file)."""
    offset = start
    while offset + 8 <= end:
        handle.seek(offset)
        head = handle.read(16)
        size, kind = struct.unpack(">I4s", head[:8])
        header = 8
        if size == 1 and len(head) == 16:
            (size,), header = struct.unpack(">Q", head[8:]), 16
        elif size == 0:  # to the end of the enclosing box
            size = end - offset
        if size < header or offset + size > end:
            return
        yield kind, offset + header, offset + size
        offset += size

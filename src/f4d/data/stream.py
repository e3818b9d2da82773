"""TEMPORARY: decode a video once, front to back, as ``(index, frame)`` pairs.

Stands in for the streaming API of the one reader (issue 24, branch ``reader``) until that
lands; then :func:`f4d.engine.timeline._open_stream` switches to it and this file goes away.
Built on the public :func:`~f4d.data.video.probe` / :func:`~f4d.data.video.read_frames` and
PyAV, with the index mapping of a read from the start (frames counted in presentation order),
which is what ``read_frames`` gives for a constant-frame-rate file.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from f4d.data.video import TruncatedVideoError, VideoDecodeError, VideoInfo, probe, read_frames

FOLDER_CHUNK = 64  # frames of a frame folder read per call


def stream_frames(
    path: str | Path, *, allow_truncated: bool = False, timeout_s: float | None = None
) -> tuple[VideoInfo, Iterator[tuple[int, np.ndarray]]]:
    """``(info, frames)``: the file's `probe` result and its frames ``(i, uint8 (H, W, 3))``.

    The iterator decodes the file once from the start and stops after ``info.num_frames``
    frames. Raises as `probe` does on opening; while iterating, `TruncatedVideoError` when the
    decoder fails before the end (unless ``allow_truncated``: the stream then just ends) and
    `VideoDecodeError` past ``timeout_s`` seconds.
    """
    path = Path(path)
    info = probe(path, allow_truncated=allow_truncated)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    if path.is_dir():
        return info, _folder_frames(path, info.num_frames, deadline)
    return info, _file_frames(path, info.num_frames, allow_truncated, deadline)


def _folder_frames(
    path: Path, count: int, deadline: float | None
) -> Iterator[tuple[int, np.ndarray]]:
    for first in range(0, count, FOLDER_CHUNK):
        _check_deadline(path, deadline)
        chunk = read_frames(path, np.arange(first, min(count, first + FOLDER_CHUNK)))
        yield from enumerate(chunk, start=first)


def _file_frames(
    path: Path, count: int, allow_truncated: bool, deadline: float | None
) -> Iterator[tuple[int, np.ndarray]]:
    with av.open(str(path), metadata_errors="replace") as container:
        stream = container.streams.video[0]
        index = 0
        try:
            for frame in container.decode(stream):
                if index >= count:
                    return
                _check_deadline(path, deadline)
                yield index, frame.to_ndarray(format="rgb24")  # (H, W, 3)
                index += 1
        except av.error.FFmpegError as err:
            if not allow_truncated:
                raise TruncatedVideoError(
                    path, f"truncated: the decoder failed after {index} frames ({err})"
                ) from err


def _check_deadline(path: Path, deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise VideoDecodeError(path, "decoding ran past the time limit (timeout_s)")

"""The one video reader: a path in, an open video out; frame indices in, uint8 RGB frames out.

Every caller (training, ``f4d predict``, ``f4d serve``, ``f4d data check``, ``f4d data
prepare``, the frame cache, ``f4d bench data``) opens a video once with `open_video` and asks
the open object for its ``info`` (`VideoInfo`), for frames at indices (``read``) or for a
stream of frames front to back (``iter_frames``). `probe` and `read_frames` are one-call
wrappers. One concept per module:

- :mod:`.container`: opening a file with PyAV, header facts, display rotation;
- :mod:`.timeline`: the packet table, the timestamp -> frame index rule, the keyframe plan;
- :mod:`.video_file`: `VideoFile` (probe rule, truncation, reads, streaming);
- :mod:`.folder`: `FrameFolder` (Something-Something-v1 image folders);
- :mod:`.frames`: `VideoInfo`, index checks, rotation of frames; :mod:`.errors`: the errors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from f4d.data.decode import timeline
from f4d.data.decode.errors import TruncatedVideoError, VideoDecodeError
from f4d.data.decode.folder import IMAGE_SUFFIXES, FrameFolder
from f4d.data.decode.frames import VideoInfo, check_indices, upright
from f4d.data.decode.timeline import SEEKABLE_FORMATS
from f4d.data.decode.video_file import VideoFile

__all__ = [
    "IMAGE_SUFFIXES",
    "SEEKABLE_FORMATS",
    "FrameFolder",
    "TruncatedVideoError",
    "VideoDecodeError",
    "VideoFile",
    "VideoInfo",
    "open_video",
    "probe",
    "read_frames",
    "timeline",
    "upright",
]


def open_video(
    path: str | Path, *, threads: int = 0, allow_truncated: bool = False, exact: bool = False
) -> VideoFile | FrameFolder:
    """Open a video file or frame folder once; use as a context manager.

    Args:
        path: video file (mp4, avi, webm, mkv, mov, ... through PyAV) or frame folder.
        threads: FFmpeg decoding threads (0: FFmpeg decides); loader workers pass 1.
        allow_truncated: open a truncated file (``info.truncation`` says why; ``num_frames``
            counts the frames that decode) instead of raising.
        exact: decode every frame while opening and count those that decode.

    Raises:
        TruncatedVideoError: the file is truncated and ``allow_truncated`` is False.
        VideoDecodeError: missing, empty, unreadable, no video stream, zero frames.
    """
    path = Path(path)
    if path.is_dir():
        return FrameFolder(path)
    return VideoFile(path, threads=threads, allow_truncated=allow_truncated, exact=exact)


def probe(path: str | Path, *, exact: bool = False, allow_truncated: bool = False) -> VideoInfo:
    """``open_video(path, ...).info``: frame count, frame rate, displayed size, truncation."""
    with open_video(path, exact=exact, allow_truncated=allow_truncated) as video:
        return video.info


def read_frames(
    path: str | Path,
    indices: np.ndarray | list[int],
    *,
    timeout_s: float | None = None,
    allow_truncated: bool = False,
) -> np.ndarray:
    """``open_video(path, ...).read(indices)``: uint8 ``(N, H, W, 3)`` RGB in ``indices`` order.

    Raises:
        ValueError: an index outside ``[0, num_frames)``, or none given.
        TruncatedVideoError: the file is truncated (see `VideoFile`).
        VideoDecodeError: the file cannot deliver the frames (missing, corrupt, too slow).
    """
    check_indices(indices)
    with open_video(path, allow_truncated=allow_truncated) as video:
        return video.read(indices, timeout_s=timeout_s)

"""The two decoding errors: a video that cannot deliver, and one that is truncated."""

from __future__ import annotations

from pathlib import Path

from f4d.data.integrity import Truncation
from f4d.errors import InputError

__all__ = ["TruncatedVideoError", "VideoDecodeError", "missing_frames"]


class VideoDecodeError(InputError, ValueError):
    """A video (file or frame folder) that cannot deliver the frames asked for."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot decode video {self.path}: {reason}")


class TruncatedVideoError(VideoDecodeError):
    """A truncated video file (see :mod:`f4d.data.integrity`).

    ``truncation`` holds what the file declares and delivers; it is None when a read ran out
    of frames the header promised.
    """

    def __init__(self, path: str | Path, truncation: Truncation | str) -> None:
        self.truncation = truncation if isinstance(truncation, Truncation) else None
        super().__init__(path, str(truncation))
        self.hint = (
            "download it again; data.allow_truncated=true (f4d train/test) or --allow-truncated "
            "(f4d predict) uses the part that decodes"
        )


def missing_frames(
    path: str | Path, wanted: list[int], got: set[int] | dict, num_frames: int, why: str
) -> TruncatedVideoError:
    """The error for wanted frames (sorted) that did not come out: the first five are named."""
    missing = [i for i in wanted if i not in got]
    shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
    return TruncatedVideoError(
        path,
        f"truncated: frames [{shown}] requested but {why} before them "
        f"(header says {num_frames} frames)",
    )

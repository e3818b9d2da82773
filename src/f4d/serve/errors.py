"""Refusals as JSON: ``{"error": {"status", "code", "message"}}`` in plain words.

Messages name the problem and what is allowed; they never carry a traceback, a server path or
the client's file name back to the client (a decoder's reason is scrubbed of paths first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from f4d.data.decode import TruncatedVideoError, VideoDecodeError
from f4d.errors import F4DError

# Absolute paths in a reason from FFmpeg or the decoder (quoted or bare).
_PATH = re.compile(r"""(?:[A-Za-z]:)?[/\\][^\s'"():,]+""")
_HEADER_FRAMES = re.compile(r"header says (\d+) frames")


@dataclass
class ApiError(Exception):
    """A request the server refuses: HTTP ``status``, a stable ``code``, a plain ``message``."""

    status: int
    code: str
    message: str
    headers: dict[str, str] | None = None

    def body(self) -> dict:
        """The JSON body: ``{"error": {"status", "code", "message"}}``."""
        return {"error": {"status": self.status, "code": self.code, "message": self.message}}


TRUNCATED = "the video is truncated or damaged"

# (substring of VideoDecodeError.reason, status, code, message) in match order.
_DECODE_KINDS = (
    ("empty file", 400, "empty", "the upload is empty (0 bytes)"),
    ("not a readable video container", 415, "not_a_video",
     "the file is not a readable video: no known container format (mp4, webm, avi, mkv, "
     "mov, ...), or a video cut short before its index"),
    ("no video stream", 415, "no_video_stream", "the file holds no video stream"),
    ("unsupported video codec", 415, "unsupported_codec",
     "the video's codec is unknown or not supported"),
    ("no frame rate", 415, "unsupported_codec", "the video stream has no frame rate"),
    ("truncated", 422, "truncated", f"{TRUNCATED}: frames its header promises do not decode"),
    ("time limit", 422, "decode_timeout", "decoding the video took longer than the limit"),
    ("zero frames", 422, "no_frames", "the video has no frames that decode"),
    ("frame size changes", 422, "corrupt", "the frame size changes inside the video"),
)  # fmt: skip


def scrub(text: str) -> str:
    """``text`` with absolute paths replaced by ``<file>``."""
    return _PATH.sub("<file>", text)


def decode_error(err: VideoDecodeError, *, limit_s: float | None = None) -> ApiError:
    """The 4xx answer for a video the decoder refused, judged from its kind and reason."""
    reason = scrub(err.reason)
    truncation = getattr(err, "truncation", None)
    if truncation is not None and truncation.delivered_s is not None:
        verb = "decodes" if truncation.decoded else "holds"
        span = f"it {verb} {truncation.delivered_s:.2f} s"
        if truncation.declared_s is not None:
            span += f" of the {truncation.declared_s:.2f} s it declares"
        return ApiError(422, "truncated", f"{TRUNCATED}: {span}")
    if "moov atom not found" in err.reason:
        return ApiError(422, "truncated", f"{TRUNCATED}: the MP4/MOV has no index (moov atom), "
                        "as when a file is cut short or was never finished")  # fmt: skip
    if isinstance(err, TruncatedVideoError) and not _HEADER_FRAMES.search(err.reason):
        return ApiError(422, "truncated", TRUNCATED)
    for needle, status, code, message in _DECODE_KINDS:
        if needle in err.reason:
            if code == "decode_timeout" and limit_s is not None:
                message = f"{message} of {limit_s:g} s"
            elif header := _HEADER_FRAMES.search(err.reason):
                message = f"{message} (its header says {header.group(1)} frames)"
            return ApiError(status, code, message)
    return ApiError(422, "undecodable", f"the video cannot be decoded ({reason})")


def input_error(err: F4DError) -> ApiError:
    """422 for another user-caused error about the upload (its message, scrubbed of paths)."""
    return ApiError(422, "bad_input", scrub(str(err)))


def busy(retry_after_s: int, capacity: int) -> ApiError:
    """429: the queue is full; the client should retry after ``retry_after_s`` seconds."""
    return ApiError(
        429, "busy",
        f"the server is busy ({capacity} requests already queued or running); "
        f"retry in {retry_after_s} s",
        headers={"Retry-After": str(retry_after_s)},
    )  # fmt: skip


def too_large(limit_bytes: int) -> ApiError:
    """413: the upload is over the size limit."""
    return ApiError(
        413, "too_large", f"the upload is larger than the limit of {limit_bytes / 2**20:.4g} MiB"
    )

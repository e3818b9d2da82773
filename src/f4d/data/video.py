"""Re-export shim: the one video reader lives in :mod:`f4d.data.decode`."""

from f4d.data.decode import (  # noqa: F401
    IMAGE_SUFFIXES,
    SEEKABLE_FORMATS,
    TruncatedVideoError,
    VideoDecodeError,
    VideoInfo,
    probe,
    read_frames,
)

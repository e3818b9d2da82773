"""Re-export shim: the one video reader lives in :mod:`f4d.data.decode`."""

from f4d.data.decode import FrameFolder, VideoFile, open_video  # noqa: F401

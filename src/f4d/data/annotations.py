"""Former home of the annotation parsers, now :mod:`f4d.data.formats` (one module per format).

Kept so that ``from f4d.data.annotations import ...`` goes on working; new code imports from
:mod:`f4d.data.formats` (suffixes: :mod:`f4d.data.media`).
"""

from f4d.data.formats import *  # noqa: F403
from f4d.data.formats import __all__ as _formats_all
from f4d.data.media import IMAGE_SUFFIXES as FRAME_EXTENSIONS
from f4d.data.media import VIDEO_EXTENSIONS

__all__ = [*_formats_all, "FRAME_EXTENSIONS", "VIDEO_EXTENSIONS"]

"""`FrameFolder`: a Something-Something-v1 style folder of images (``00001.jpg, ...``).

The image files (:data:`IMAGE_SUFFIXES`, any case) are listed once, in natural order
(``2.jpg`` before ``10.jpg``); other files are ignored. Frame ``i`` is the ``i``-th image.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import numpy as np
from PIL import Image

from f4d.data.decode.errors import VideoDecodeError
from f4d.data.decode.frames import VideoInfo, check_in_range, check_indices, stack_frames
from f4d.data.media import IMAGE_SUFFIXES, not_a_frame_folder

__all__ = ["IMAGE_SUFFIXES", "FrameFolder", "frame_files"]


def frame_files(path: Path) -> list[Path]:
    """Image files of a frame folder in natural order; `VideoDecodeError` when there are none."""
    files = [p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    if not files:
        why = not_a_frame_folder(path)  # a folder of videos or a dataset says what it is
        raise VideoDecodeError(
            path, why or f"frame folder holds no images ({', '.join(IMAGE_SUFFIXES)})"
        )
    return sorted(files, key=_natural_key)


def _natural_key(path: Path) -> list[int | str]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


class FrameFolder:
    """An open frame folder: ``info`` (``fps`` 0.0: unknown), ``read``, ``iter_frames``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files = frame_files(path)
        try:
            with Image.open(self.files[0]) as image:
                width, height = image.size
        except OSError as err:
            raise VideoDecodeError(path, f"unreadable frame {self.files[0].name} ({err})") from err
        self.info = VideoInfo(len(self.files), 0.0, width, height)

    def close(self) -> None:
        """Nothing is held open; for symmetry with `VideoFile`."""

    def __enter__(self) -> FrameFolder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def read(
        self, indices: np.ndarray | list[int], *, timeout_s: float | None = None
    ) -> np.ndarray:
        """uint8 ``(N, H, W, 3)`` RGB frames at ``indices`` (any shape, C order, repeats allowed).

        ``timeout_s`` is accepted for symmetry with `VideoFile.read` and not enforced.
        """
        flat = check_indices(indices)
        check_in_range(self.path, flat, len(self.files))
        loaded = {i: self.image(i) for i in sorted(set(flat.tolist()))}
        return stack_frames(self.path, [loaded[i] for i in flat.tolist()])  # (N, H, W, 3)

    def iter_frames(
        self, start: int = 0, stop: int | None = None, every: int = 1
    ) -> Iterator[tuple[int, np.ndarray]]:
        """``(index, uint8 (H, W, 3))`` for ``range(start, stop, every)``, one image at a time."""
        if start < 0 or every < 1:
            raise ValueError(f"start must be >= 0 and every >= 1, got start={start}, every={every}")
        stop = len(self.files) if stop is None else min(stop, len(self.files))
        for i in range(start, stop, every):
            yield i, self.image(i)

    def image(self, i: int) -> np.ndarray:
        """Image ``i`` as uint8 ``(H, W, 3)`` RGB."""
        file = self.files[i]
        try:
            with Image.open(file) as image:
                return np.asarray(image.convert("RGB"), dtype=np.uint8)  # (H, W, 3)
        except OSError as err:
            raise VideoDecodeError(self.path, f"unreadable frame {file.name} ({err})") from err

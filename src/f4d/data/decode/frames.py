"""What every reader shares: `VideoInfo`, index checks, stacking, display rotation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from f4d.data.decode.errors import VideoDecodeError
from f4d.data.integrity import Truncation

__all__ = ["VideoInfo", "check_in_range", "check_indices", "stack_frames", "upright"]


@dataclass(frozen=True)
class VideoInfo:
    """What opening a video learns about it.

    ``width`` x ``height`` is the size frames come out in, i.e. as displayed (a clip stored
    568x320 with a 90 degree display rotation reports 320 x 568). ``fps`` is 0.0 for frame
    folders, which carry no frame rate. ``truncation`` is set only for a truncated file opened
    with ``allow_truncated=True`` (``num_frames`` then counts the frames that decode).
    ``rotation`` is the display rotation in degrees counter-clockwise (FFmpeg's sign:
    ``frame.rotation``), already applied to every frame read.
    """

    num_frames: int
    fps: float
    width: int
    height: int
    truncation: Truncation | None = None
    rotation: int = 0

    @property
    def duration(self) -> float:
        """Seconds the frames last at ``fps`` (0.0 for frame folders)."""
        return self.num_frames / self.fps if self.fps else 0.0


def check_indices(indices: np.ndarray | list[int]) -> np.ndarray:
    """``indices`` (any shape) as int64 ``(N,)``; ``ValueError`` if empty or not integers."""
    flat = np.asarray(indices).reshape(-1)
    if flat.size == 0:
        raise ValueError("indices is empty; ask for at least one frame")
    if not np.issubdtype(flat.dtype, np.integer):
        raise ValueError(f"indices must be integers, got dtype {flat.dtype}")
    return flat.astype(np.int64)


def check_in_range(path: Path, flat: np.ndarray, num_frames: int) -> None:
    """``ValueError`` naming the first index outside ``[0, num_frames)``."""
    bad = flat[(flat < 0) | (flat >= num_frames)]
    if bad.size:
        raise ValueError(
            f"frame index {int(bad[0])} out of range for {path} with {num_frames} frames "
            f"(valid: 0..{num_frames - 1})"
        )


def stack_frames(path: Path, frames: list[np.ndarray]) -> np.ndarray:
    """``(N, H, W, 3)`` from N ``(H, W, 3)`` frames; a size change inside the video is an error."""
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise VideoDecodeError(path, f"frame size changes inside the video: {sorted(shapes)}")
    return np.stack(frames)


def upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """``(H, W, 3)`` as stored -> as displayed: turned ``rotation`` degrees counter-clockwise."""
    turns = (rotation // 90) % 4
    return image if turns == 0 else np.ascontiguousarray(np.rot90(image, k=turns))

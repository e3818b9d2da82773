"""Spatial transforms on uint8 clips: ``(U, T, H, W, 3)`` in, ``(V, U, C, T, h, w)`` uint8 out.

Training (:class:`TrainTransform`, paper section 4.2): TSN-style multi-scale crop (crop sides
drawn from ``scales`` of the short side, width and height from scale pairs at most
``max_distort`` apart, placed at one of 13 fixed positions: 4 corners, centre and 8 in-between
points, i.e. corner cropping with location jitter), resize to ``size``, random left-right flip
with an optional label-swap map. One draw per video: every frame of every unit gets the same
crop and flip, so motion and the order of units are kept intact. ``V = 1``.

Testing (:class:`TestTransform`, paper section 4.3): short side to ``scale_size`` (256), then
3 square crops of ``crop_size`` (256) spread along the long side (left/centre/right or
top/middle/bottom, together covering the whole frame) or 1 centre crop, each resized to
``size`` (224). ``V`` = number of crops.

Resizing uses ``torch.nn.functional.interpolate`` (bilinear, antialias), on the uint8 frames
themselves on the CPU (within one grey level of the float result rounded; see
:func:`resize_frames`). :func:`normalize` turns a uint8 batch into normalised floats on the device.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TSN_SCALES = (1.0, 0.875, 0.75, 0.66)

Box = tuple[int, int, int, int]  # (top, left, height, width)


def normalize(
    video: torch.Tensor,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    *,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """uint8 ``(..., C, T, H, W)`` (e.g. ``(B, U, C, T, H, W)``) -> ``(x / 255 - mean) / std``.

    Runs on ``video``'s device; ``mean``/``std`` have one value per channel ``C``.
    """
    if video.dim() < 4 or video.shape[-4] != len(mean) or len(mean) != len(std):
        raise ValueError(
            f"normalize expects (..., C, T, H, W) with C={len(mean)} channels, "
            f"got shape {tuple(video.shape)} (mean {len(mean)}, std {len(std)} values)"
        )
    shape = (len(mean), 1, 1, 1)
    mean_t = torch.tensor(mean, dtype=dtype, device=video.device).view(shape)
    std_t = torch.tensor(std, dtype=dtype, device=video.device).view(shape)
    return (video.to(dtype) / 255.0 - mean_t) / std_t


def resize_frames(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear, antialiased resize of uint8 ``(N, C, H, W)`` to ``(N, C, *size)`` uint8.

    On the CPU the uint8 frames go to ``interpolate`` as they are (PyTorch's SIMD uint8 path,
    fastest for channels-last memory, which `_as_frames` gives); the result is within one grey
    level of the float computation rounded to the nearest integer. Elsewhere the float path
    runs and is rounded.
    """
    if tuple(frames.shape[-2:]) == tuple(size):
        return frames
    if frames.device.type == "cpu":
        return F.interpolate(
            frames, size=size, mode="bilinear", antialias=True, align_corners=False
        )
    out = F.interpolate(
        frames.float(), size=size, mode="bilinear", antialias=True, align_corners=False
    )
    return out.round_().clamp_(0, 255).to(torch.uint8)


def _as_frames(clip: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """uint8 ``(U, T, H, W, 3)`` -> ``(U·T, 3, H, W)`` tensor, plus U and T."""
    clip = torch.as_tensor(clip)
    if clip.dim() != 5 or clip.shape[-1] != 3 or clip.dtype != torch.uint8:
        raise ValueError(
            f"expected a uint8 clip (U, T, H, W, 3), got {clip.dtype} {tuple(clip.shape)}"
        )
    units, frames = clip.shape[:2]
    return clip.flatten(0, 1).permute(0, 3, 1, 2), units, frames  # (U·T, 3, H, W)


def to_units(frames: torch.Tensor, units: int, length: int) -> torch.Tensor:
    """``(U·T, C, h, w)`` -> ``(U, C, T, h, w)``, contiguous."""
    _, c, h, w = frames.shape
    return frames.reshape(units, length, c, h, w).permute(0, 2, 1, 3, 4).contiguous()


# --------------------------------------------------------------------------- training
def crop_sizes(
    height: int, width: int, scales: Sequence[float] = TSN_SCALES, max_distort: int = 1
) -> list[tuple[int, int]]:
    """Candidate ``(crop_h, crop_w)``: sides ``int(short_side * s)``, scale indices of height
    and width at most ``max_distort`` apart (so the aspect ratio jitters a little)."""
    sides = [int(min(height, width) * s) for s in scales]
    return [
        (sides[i], sides[j])
        for i in range(len(sides))
        for j in range(len(sides))
        if abs(i - j) <= max_distort
    ]


def crop_offsets(height: int, width: int, crop_h: int, crop_w: int) -> list[tuple[int, int]]:
    """The 13 ``(top, left)`` crop positions on a 5×5 grid of quarter steps.

    Order: centre, 4 corners, the 4 edge midpoints, then the 4 points halfway between the
    centre and each corner.
    """
    step_y, step_x = (height - crop_h) // 4, (width - crop_w) // 4
    grid = [(2, 2), (0, 0), (0, 4), (4, 0), (4, 4), (0, 2), (4, 2), (2, 0), (2, 4),
            (1, 1), (1, 3), (3, 1), (3, 3)]  # fmt: skip
    return [(gy * step_y, gx * step_x) for gy, gx in grid]


def sample_crop_box(
    height: int,
    width: int,
    rng: np.random.Generator,
    *,
    scales: Sequence[float] = TSN_SCALES,
    max_distort: int = 1,
) -> Box:
    """Draw one crop ``(top, left, h, w)`` from :func:`crop_sizes` × :func:`crop_offsets`."""
    sizes = crop_sizes(height, width, scales, max_distort)
    crop_h, crop_w = sizes[rng.integers(len(sizes))]
    offsets = crop_offsets(height, width, crop_h, crop_w)
    top, left = offsets[rng.integers(len(offsets))]
    return top, left, crop_h, crop_w


class TrainTransform:
    """Multi-scale crop + resize + optional flip; ``(U, T, H, W, 3)`` -> ``(1, U, C, T, s, s)``.

    Args:
        size: output side (224 in the paper).
        scales: crop sides as fractions of the short side (TSN: 1, .875, .75, .66).
        max_distort: largest index gap between the height and width scale.
        flip: draw a left-right flip with probability 0.5. Off by default: it is wrong for
            Something-Something and the synthetic data, whose classes depend on direction.
        flip_label_map: ``{label: label_after_flip}`` applied when a clip is flipped (e.g.
            "pushing left to right" <-> "pushing right to left"); labels not in the map keep
            their value. Unit labels are not remapped.
    """

    def __init__(
        self,
        *,
        size: int = 224,
        scales: Sequence[float] = TSN_SCALES,
        max_distort: int = 1,
        flip: bool = False,
        flip_label_map: Mapping[int, int] | None = None,
    ) -> None:
        if size <= 0 or not scales or any(not 0 < s <= 1 for s in scales):
            raise ValueError(f"need size > 0 and scales in (0, 1], got {size}, {scales}")
        if flip_label_map and not flip:
            raise ValueError("flip_label_map given but flip=False; enable flip or drop the map")
        self.size = size
        self.scales = tuple(scales)
        self.max_distort = max_distort
        self.flip = flip
        self.flip_label_map = dict(flip_label_map or {})
        self.num_views = 1

    def __call__(
        self, clip: np.ndarray | torch.Tensor, label: int, rng: np.random.Generator
    ) -> tuple[torch.Tensor, int]:
        """Return the ``(1, U, C, T, size, size)`` uint8 view and the (maybe swapped) label."""
        frames, units, length = _as_frames(clip)
        top, left, h, w = sample_crop_box(
            frames.shape[-2], frames.shape[-1], rng, scales=self.scales,
            max_distort=self.max_distort,
        )  # fmt: skip
        frames = resize_frames(frames[..., top : top + h, left : left + w], (self.size,) * 2)
        if self.flip and rng.random() < 0.5:
            frames = frames.flip(-1)
            label = self.flip_label_map.get(label, label)
        return to_units(frames, units, length).unsqueeze(0), label


# --------------------------------------------------------------------------- testing
def resize_short_side(height: int, width: int, short: int) -> tuple[int, int]:
    """``(h, w)`` with the short side equal to ``short`` and the aspect ratio kept (rounded)."""
    if height <= width:
        return short, max(short, round(width * short / height))
    return max(short, round(height * short / width)), short


def three_crop_boxes(height: int, width: int, crop: int) -> list[Box]:
    """Three ``crop``-square boxes at the start, centre and end of the long side.

    Together they cover every pixel when ``3 * crop >= long side`` (the paper's case:
    short side 256, crops 256, any aspect ratio up to 3:1).
    """
    if min(height, width) < crop:
        raise ValueError(f"frame {height}x{width} is smaller than the crop {crop}")
    if width >= height:
        top = (height - crop) // 2
        return [(top, left, crop, crop) for left in (0, (width - crop) // 2, width - crop)]
    left = (width - crop) // 2
    return [(top, left, crop, crop) for top in (0, (height - crop) // 2, height - crop)]


def centre_crop_box(height: int, width: int, crop: int) -> Box:
    """The centred ``crop``-square box."""
    if min(height, width) < crop:
        raise ValueError(f"frame {height}x{width} is smaller than the crop {crop}")
    return (height - crop) // 2, (width - crop) // 2, crop, crop


class TestTransform:
    """Short side to ``scale_size``, ``num_crops`` (1 or 3) square crops, resize to ``size``.

    ``(U, T, H, W, 3)`` -> ``(V, U, C, T, size, size)`` with ``V = num_crops``, view order
    left/top, centre, right/bottom. ``crop_size`` defaults to ``scale_size`` (the paper's
    256×256 crops resized to 224); pass ``crop_size=size`` for the plain 224 centre crop.
    """

    __test__ = False  # not a pytest class

    def __init__(
        self,
        *,
        size: int = 224,
        scale_size: int = 256,
        num_crops: int = 3,
        crop_size: int | None = None,
    ) -> None:
        crop_size = scale_size if crop_size is None else crop_size
        if num_crops not in (1, 3):
            raise ValueError(f"num_crops must be 1 or 3, got {num_crops}")
        if not 0 < crop_size <= scale_size or size <= 0:
            raise ValueError(
                f"need 0 < crop_size <= scale_size and size > 0, got crop_size={crop_size}, "
                f"scale_size={scale_size}, size={size}"
            )
        self.size = size
        self.scale_size = scale_size
        self.crop_size = crop_size
        self.num_crops = num_crops
        self.num_views = num_crops

    def __call__(
        self, clip: np.ndarray | torch.Tensor, label: int, rng: np.random.Generator | None = None
    ) -> tuple[torch.Tensor, int]:
        """Return ``(V, U, C, T, size, size)`` uint8 views and the unchanged label."""
        frames, units, length = _as_frames(clip)
        frames = resize_frames(frames, resize_short_side(*frames.shape[-2:], self.scale_size))
        h, w = frames.shape[-2:]
        if self.num_crops == 3:
            boxes = three_crop_boxes(h, w, self.crop_size)
        else:
            boxes = [centre_crop_box(h, w, self.crop_size)]
        views = [
            to_units(resize_frames(frames[..., t : t + bh, l : l + bw], (self.size,) * 2),
                      units, length)
            for t, l, bh, bw in boxes
        ]  # fmt: skip
        return torch.stack(views), label  # (V, U, C, T, size, size)


TRANSFORMS = {"train": TrainTransform, "test": TestTransform}


def build_transform(mode: str, **kwargs) -> TrainTransform | TestTransform:
    """``"train"`` -> :class:`TrainTransform`, ``"test"`` -> :class:`TestTransform`."""
    if mode not in TRANSFORMS:
        raise ValueError(f"unknown transform mode {mode!r}; valid: {', '.join(TRANSFORMS)}")
    return TRANSFORMS[mode](**kwargs)

"""Segment-based sampling (paper section 3.1): which frames of a video become the action units.

Pure functions of (frame count, units, frames per unit, stride, mode, seeded rng); no I/O.

The video's ``N`` frames are cut into ``U`` sections with integer bounds
``b_u = (u * N) // U`` (section ``u`` is ``[b_u, b_{u+1})``; lengths differ by at most one).
Each section contributes one snippet of ``S = T * stride`` frames, from which ``T`` frames are
taken ``stride`` apart: ``start + k * stride`` for ``k = 0 .. T-1``.

- ``mode="train"``: ``start`` is drawn uniformly from ``[b_u, b_{u+1} - S]`` with the given
  ``np.random.Generator`` (required, so every draw is reproducible).
- ``mode="test"``: ``start = b_u + (len_u - S) // 2``, the snippet's centre at the section's
  centre (exact when ``len_u - S`` is even, else half a frame earlier).
- Short sections (``len_u < S``): the unit's ``T`` frames are spread evenly over its own section,
  ``b_u + ((2k + 1) * len_u) // (2T)``, the same in both modes. Frames repeat when the section
  holds fewer than ``T`` frames; when ``N < U`` a section may be empty and its unit repeats frame
  ``b_u``. Indices never leave ``[0, N)`` and stay non-decreasing across units.
"""

from __future__ import annotations

import itertools

import numpy as np

SAMPLING_MODES = ("train", "test")


def section_bounds(num_frames: int, units: int) -> np.ndarray:
    """Return the ``U + 1`` integer section bounds ``b_u = (u * N) // U``, shape ``(U + 1,)``."""
    _check_positive(num_frames=num_frames, units=units)
    return (np.arange(units + 1, dtype=np.int64) * num_frames) // units


def sample_segments(
    num_frames: int,
    units: int,
    frames_per_unit: int,
    stride: int,
    mode: str,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Return frame indices ``(U, T)`` int64 for ``units`` action units of ``frames_per_unit``.

    Args:
        num_frames: frames in the video, ``N >= 1``.
        units: action units ``U >= 1`` (equal sections of the video).
        frames_per_unit: frames ``T >= 1`` per unit.
        stride: gap ``>= 1`` between a unit's frames; the snippet spans ``T * stride`` frames.
        mode: ``"train"`` (random snippet in each section) or ``"test"`` (centred snippet).
        rng: required in ``"train"`` mode; ignored in ``"test"`` mode.

    Raises:
        ValueError: a non-positive or non-integer size, an unknown mode, or no rng in training.
    """
    _check_positive(
        num_frames=num_frames, units=units, frames_per_unit=frames_per_unit, stride=stride
    )
    if mode not in SAMPLING_MODES:
        raise ValueError(f"mode={mode!r} is not one of {list(SAMPLING_MODES)}")
    if mode == "train" and not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"mode='train' needs rng=np.random.Generator (e.g. np.random.default_rng(seed)), "
            f"got rng={rng!r}"
        )
    bounds = section_bounds(num_frames, units)
    rows = [
        _unit_indices(int(lo), int(hi), frames_per_unit, stride, mode, rng)
        for lo, hi in itertools.pairwise(bounds)
    ]
    return np.stack(rows).astype(np.int64)  # (U, T)


def _unit_indices(
    lo: int, hi: int, frames: int, stride: int, mode: str, rng: np.random.Generator | None
) -> np.ndarray:
    """Indices ``(T,)`` of one unit inside the section ``[lo, hi)``."""
    length = hi - lo
    span = frames * stride
    steps = np.arange(frames, dtype=np.int64)
    if length < span:  # short section: spread the T frames evenly over it
        return lo + ((2 * steps + 1) * length) // (2 * frames)
    slack = length - span
    if mode == "train":
        offset = int(rng.integers(0, slack + 1))
    else:
        offset = slack // 2
    return lo + offset + steps * stride


def _check_positive(**values: int) -> None:
    """Raise ValueError naming every argument that is not an integer >= 1."""
    bad = {
        name: value
        for name, value in values.items()
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1
    }
    if bad:
        listed = ", ".join(f"{name}={value!r}" for name, value in bad.items())
        raise ValueError(f"expected integers >= 1, got {listed}")

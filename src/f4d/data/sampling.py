"""Segment-based sampling (paper section 3.1): which frames of a video become the action units.

Pure functions of (frame count, units, frames per unit, stride, mode, seeded rng); no I/O.

The video's ``N`` frames are cut into ``U`` sections with integer bounds
``b_u = (u * N) // U`` (section ``u`` is ``[b_u, b_{u+1})``; lengths differ by at most one).
Each section gives one action unit of ``T`` frames. The paper: "each action unit A_i is randomly
selected from each of the U sections" in training; in testing "the center of each A_i is located
exactly at the center of the corresponding section".

- Long sections (``len_u >= S = T * stride``): the unit is a snippet of ``S`` frames, from which
  ``T`` frames are taken ``stride`` apart, ``start + k * stride`` for ``k = 0 .. T-1``.

  - ``mode="train"``: ``start`` is drawn uniformly from ``[b_u, b_{u+1} - S]`` with the given
    ``np.random.Generator`` (required, so every draw is reproducible).
  - ``mode="test"``: ``start = b_u + (len_u - S) // 2``, the snippet's centre at the section's
    centre (exact when ``len_u - S`` is even, else half a frame earlier).

- Short sections (``len_u < S``): the section is cut into ``T`` equal sub-bins of ``len_u / T``
  frames, each frame belonging to the sub-bin that holds its centre, and the unit takes one
  frame per sub-bin, as TSN and TSM take one frame per segment:

  - ``mode="train"``: one of the sub-bin's frames, uniformly at random, so every frame of the
    section can be drawn and the units change from epoch to epoch however short the video
    (Something-Something v1's 36-70 frame videos are shorter than ``U * S = 128``);
  - ``mode="test"``: the frame under each sub-bin's centre, ``b_u + ((2k + 1) * len_u) // (2T)``.

  With ``len_u >= T`` every sub-bin owns a frame and the unit's frames are distinct. With
  ``len_u < T`` frames repeat and there is nothing to draw (both modes agree); when ``N < U`` a
  section may be empty and its unit repeats frame ``b_u``. Indices never leave ``[0, N)`` or
  their own section, and stay non-decreasing across units.
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
    if length < span:
        return lo + _sub_bin_offsets(length, frames, mode, rng)
    slack = length - span
    offset = int(rng.integers(0, slack + 1)) if mode == "train" else slack // 2
    return lo + offset + np.arange(frames, dtype=np.int64) * stride


def _sub_bin_offsets(
    length: int, frames: int, mode: str, rng: np.random.Generator | None
) -> np.ndarray:
    """One frame from each of ``T`` equal sub-bins of a section of ``length`` frames, ``(T,)``.

    Sub-bin ``k`` is ``[k * L / T, (k + 1) * L / T)``; frame ``j`` belongs to the sub-bin that
    holds its centre ``j + 1/2``, so a sub-bin owns frames ``first[k] .. first[k + 1] - 1`` with
    ``first[k] = ceil((2kL - T) / 2T)``. Testing takes the frame under the sub-bin's centre,
    ``((2k + 1) * L) // (2T)`` (always one of its own frames); training one of its own frames
    uniformly at random. A sub-bin that owns no frame (only when ``L < T``) takes the centre
    frame in both modes.
    """
    k = np.arange(frames + 1, dtype=np.int64)
    first = -((frames - 2 * k * length) // (2 * frames))  # (T + 1,) ceil((2kL - T) / 2T)
    centre = ((2 * k[:-1] + 1) * length) // (2 * frames)  # (T,)
    if mode != "train":
        return centre
    owned = np.diff(first)  # (T,) frames per sub-bin, they sum to L
    drawn = first[:-1] + rng.integers(0, np.maximum(owned, 1), dtype=np.int64)
    return np.where(owned > 0, drawn, centre)


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

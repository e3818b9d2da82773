"""Segment sampling: hand-worked tables, the short-video rule, properties, and errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from f4d.data.sampling import sample_segments, section_bounds


def _ramp(start: int, count: int, step: int) -> list[int]:
    return list(range(start, start + count * step, step))


# (num_frames, units, frames_per_unit, stride) -> expected (U, T) indices in test mode.
TEST_MODE_TABLE = [
    # 4 sections of 25; snippet 16 frames, slack 9 -> offset 4.
    ((100, 4, 8, 2), [_ramp(4, 8, 2), _ramp(29, 8, 2), _ramp(54, 8, 2), _ramp(79, 8, 2)]),
    # paper setting: 8 x 4 = 32-frame snippets in 4 sections of 75 (slack 43 -> offset 21).
    ((300, 4, 8, 4), [_ramp(21, 8, 4), _ramp(96, 8, 4), _ramp(171, 8, 4), _ramp(246, 8, 4)]),
    # uneven sections: bounds 0,33,66,100; lengths 33,33,34; snippet 30.
    ((100, 3, 10, 3), [_ramp(1, 10, 3), _ramp(34, 10, 3), _ramp(68, 10, 3)]),
    # short sections (lengths 2,3,2,3 < snippet 4): frames spread over each section.
    ((10, 4, 2, 2), [[0, 1], [2, 4], [5, 6], [7, 9]]),
    # fewer frames than units: bounds 0,0,1,2,3; the empty first section repeats frame 0.
    ((3, 4, 2, 1), [[0, 0], [0, 0], [1, 1], [2, 2]]),
    # a single frame.
    ((1, 2, 3, 4), [[0, 0, 0], [0, 0, 0]]),
    # section of 5 frames, 8 frames wanted: repeats, in order.
    ((10, 2, 8, 1), [[0, 0, 1, 2, 2, 3, 4, 4], [5, 5, 6, 7, 7, 8, 9, 9]]),
]


@pytest.mark.parametrize(("args", "expected"), TEST_MODE_TABLE)
def test_test_mode_matches_hand_worked_table(args, expected):
    got = sample_segments(*args, mode="test")
    assert got.dtype == np.int64
    assert got.tolist() == expected


def test_section_bounds_table():
    assert section_bounds(10, 4).tolist() == [0, 2, 5, 7, 10]
    assert section_bounds(3, 4).tolist() == [0, 0, 1, 2, 3]


def test_train_mode_short_sections_follow_the_same_spread_rule():
    rng = np.random.default_rng(0)
    assert sample_segments(10, 4, 2, 2, "train", rng).tolist() == [[0, 1], [2, 4], [5, 6], [7, 9]]


def test_train_mode_covers_every_start_in_a_section():
    # One section of 12 frames, snippet of 4 -> starts 0..8, each reachable.
    rng = np.random.default_rng(0)
    starts = {int(sample_segments(12, 1, 2, 2, "train", rng)[0, 0]) for _ in range(400)}
    assert starts == set(range(9))


sizes = st.integers(1, 6)
frame_counts = st.integers(1, 400)


@settings(max_examples=300, deadline=None)
@given(frame_counts, sizes, sizes, sizes, st.sampled_from(["train", "test"]), st.integers(0, 999))
def test_properties_in_range_monotone_and_inside_sections(n, units, frames, stride, mode, seed):
    idx = sample_segments(n, units, frames, stride, mode, np.random.default_rng(seed))
    assert idx.shape == (units, frames)
    assert idx.min() >= 0
    assert idx.max() < n
    flat = idx.ravel()
    assert np.all(np.diff(flat) >= 0)
    bounds = section_bounds(n, units)
    for u in range(units):
        lo, hi = int(bounds[u]), int(bounds[u + 1])
        if hi - lo >= frames * stride:  # it fits: strided, inside its own section
            assert np.all(np.diff(idx[u]) == stride)
            assert lo <= idx[u, 0]
            assert idx[u, 0] + frames * stride <= hi
        elif hi > lo:
            assert lo <= idx[u].min() and idx[u].max() < hi


@settings(max_examples=200, deadline=None)
@given(frame_counts, sizes, sizes, sizes, st.integers(0, 2**32 - 1))
def test_train_mode_is_deterministic_for_a_seeded_rng(n, units, frames, stride, seed):
    a = sample_segments(n, units, frames, stride, "train", np.random.default_rng(seed))
    b = sample_segments(n, units, frames, stride, "train", np.random.default_rng(seed))
    np.testing.assert_array_equal(a, b)


@settings(max_examples=300, deadline=None)
@given(frame_counts, sizes, sizes, sizes)
def test_test_mode_is_centred(n, units, frames, stride):
    idx = sample_segments(n, units, frames, stride, "test")
    bounds = section_bounds(n, units)
    span = frames * stride
    for u in range(units):
        lo, hi = int(bounds[u]), int(bounds[u + 1])
        if hi - lo < span:
            continue
        snippet_centre = idx[u, 0] + span / 2
        section_centre = (lo + hi) / 2
        if (hi - lo - span) % 2 == 0:
            assert snippet_centre == section_centre
        else:
            assert snippet_centre == section_centre - 0.5


def test_test_mode_ignores_rng():
    a = sample_segments(97, 3, 4, 2, "test", np.random.default_rng(1))
    b = sample_segments(97, 3, 4, 2, "test")
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_frames": 0}, "num_frames=0"),
        ({"num_frames": -3}, "num_frames=-3"),
        ({"units": 0}, "units=0"),
        ({"frames_per_unit": 2.5}, "frames_per_unit=2.5"),
        ({"stride": 0}, "stride=0"),
        ({"mode": "val"}, "mode='val'"),
        ({"mode": "train", "rng": None}, "rng"),
        ({"mode": "train", "rng": 7}, "rng=7"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs, message):
    args = {"num_frames": 50, "units": 4, "frames_per_unit": 2, "stride": 2, "mode": "test"}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        sample_segments(**args)

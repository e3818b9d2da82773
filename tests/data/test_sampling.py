"""Segment sampling: hand-worked tables, the short-video rule, properties, and errors."""

from __future__ import annotations

import math
from fractions import Fraction

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


def test_train_mode_jitters_short_sections():
    # The case: SSv1-length video, paper sampling (8 x stride 4, U=4): sections of 11-12
    # frames are shorter than the 32-frame snippet. Training must still vary with the seed.
    draws = {
        tuple(sample_segments(45, 4, 8, 4, "train", np.random.default_rng(seed)).ravel())
        for seed in range(20)
    }
    assert len(draws) > 10
    # unit 0 (11 frames, 8 sub-bins of 11/8 frames): the frames each position can take
    unit0 = np.array([d[:8] for d in draws] + [
        sample_segments(45, 4, 8, 4, "train", np.random.default_rng(s))[0] for s in range(20, 200)
    ])  # fmt: skip
    assert [set(column) for column in unit0.T.tolist()] == [
        {0}, {1, 2}, {3}, {4}, {5, 6}, {7}, {8, 9}, {10}
    ]  # fmt: skip
    assert sample_segments(45, 4, 8, 4, "test").tolist() == [
        [0, 2, 3, 4, 6, 7, 8, 10],
        [11, 13, 14, 15, 17, 18, 19, 21],
        [22, 24, 25, 26, 28, 29, 30, 32],
        [33, 35, 36, 38, 39, 41, 42, 44],
    ]


def test_train_mode_short_section_hand_worked():
    # One section of 5 frames, T=2 (stride 4, snippet 8 > 5): sub-bins [0, 2.5) and [2.5, 5)
    # own the frames whose centres they hold, {0, 1} and {2, 3, 4} (frame 2's centre is 2.5);
    # test takes the frames under the sub-bins' centres 1.25 and 3.75: 1 and 3.
    seen = {tuple(sample_segments(5, 1, 2, 4, "train", np.random.default_rng(s))[0]) for s in
            range(200)}  # fmt: skip
    assert seen == {(a, b) for a in (0, 1) for b in (2, 3, 4)}
    assert sample_segments(5, 1, 2, 4, "test").tolist() == [[1, 3]]


def test_train_mode_fewer_frames_than_the_unit_needs_is_the_test_spread():
    # len_u < T: every frame is needed (some twice); nothing to draw, both modes agree.
    rng = np.random.default_rng(0)
    assert sample_segments(10, 2, 8, 1, "train", rng).tolist() == TEST_MODE_TABLE[6][1]
    assert sample_segments(3, 4, 2, 1, "train", rng).tolist() == [[0, 0], [0, 0], [1, 1], [2, 2]]


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


def _old_test_mode(n: int, units: int, frames: int, stride: int) -> list[list[int]]:
    """Test-mode sampling as specified before training jitter on short sections was added."""
    rows = []
    for u in range(units):
        lo, hi = u * n // units, (u + 1) * n // units
        length, span = hi - lo, frames * stride
        if length < span:
            rows.append([lo + ((2 * k + 1) * length) // (2 * frames) for k in range(frames)])
        else:
            rows.append([lo + (length - span) // 2 + k * stride for k in range(frames)])
    return rows


def _owner(j: int, length: int, frames: int) -> int:
    """The sub-bin (0..T-1) whose interval [kL/T, (k+1)L/T) holds frame j's centre j + 1/2."""
    return math.floor(Fraction(2 * j + 1, 2) * frames / length)


@settings(max_examples=300, deadline=None)
@given(frame_counts, sizes, sizes, sizes)
def test_test_mode_is_unchanged(n, units, frames, stride):
    assert sample_segments(n, units, frames, stride, "test").tolist() == _old_test_mode(
        n, units, frames, stride
    )


@settings(max_examples=300, deadline=None)
@given(frame_counts, sizes, sizes, sizes, st.integers(0, 2**32 - 1))
def test_short_sections_take_one_frame_per_sub_bin(n, units, frames, stride, seed):
    idx = sample_segments(n, units, frames, stride, "train", np.random.default_rng(seed))
    test = sample_segments(n, units, frames, stride, "test")
    bounds = section_bounds(n, units)
    for u in range(units):
        lo, hi = int(bounds[u]), int(bounds[u + 1])
        length = hi - lo
        if length >= frames * stride or length == 0:
            continue
        if length >= frames:  # every sub-bin owns a frame: distinct frames, one per sub-bin
            assert [_owner(int(j) - lo, length, frames) for j in idx[u]] == list(range(frames))
            assert [_owner(int(j) - lo, length, frames) for j in test[u]] == list(range(frames))
        else:  # fewer frames than wanted: nothing to draw
            assert idx[u].tolist() == test[u].tolist()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.integers(1, 80), st.integers(1, 4), sizes, sizes)
def test_training_draws_cover_the_section(n, units, frames, stride):
    """Over many draws every frame of a short section and every snippet start of a long one
    comes up, and each test-mode index is one a training draw can give."""
    span = frames * stride
    bounds = section_bounds(n, units)
    choices = max(int(np.diff(bounds).max()), 1)  # no unit has more ways to vary than this
    rng = np.random.default_rng(0)
    draws = np.stack(
        [sample_segments(n, units, frames, stride, "train", rng) for _ in range(25 * choices)]
    )  # (draws, U, T): each possible index misses with probability < e^-25
    test = sample_segments(n, units, frames, stride, "test")
    for u in range(units):
        lo, hi = int(bounds[u]), int(bounds[u + 1])
        if hi == lo:
            continue
        for k in range(frames):
            assert test[u, k] in set(draws[:, u, k].tolist())
        if hi - lo >= span:
            assert set(draws[:, u, 0].tolist()) == set(range(lo, hi - span + 1))
        else:
            assert set(np.unique(draws[:, u]).tolist()) == set(range(lo, hi))


@settings(max_examples=200, deadline=None)
@given(frame_counts, sizes, sizes, sizes, st.integers(0, 2**32 - 1))
def test_long_sections_draw_as_before(n, units, frames, stride, seed):
    """Videos whose sections all hold a snippet (the demo's 48 frames, U=4, 4 x 2) draw the
    same indices as before short sections got jitter: one start per unit from the same rng."""
    span = frames * stride
    if n // units < span:
        return
    rng = np.random.default_rng(seed)
    expected = []
    for u in range(units):
        lo, hi = u * n // units, (u + 1) * n // units
        start = lo + int(rng.integers(0, hi - lo - span + 1))
        expected.append([start + k * stride for k in range(frames)])
    got = sample_segments(n, units, frames, stride, "train", np.random.default_rng(seed))
    assert got.tolist() == expected

"""The frame-index rule and the keyframe plan against hand-worked packet tables."""

from __future__ import annotations

from array import array

import pytest

from f4d.data.decode.timeline import NO_TIMESTAMP, PacketTable, Run, Timeline


def _table(pts: list[int | None], keys: list[int]) -> PacketTable:
    """A table of packets in decode order (dts = position) with keyframes at ``keys``, stored
    as the demux pass stores them (a missing timestamp: ``NO_TIMESTAMP``)."""
    table = PacketTable()
    table.pts = array("q", [NO_TIMESTAMP if p is None else p for p in pts])
    table.dts = array("q", range(len(pts)))
    table.keyframe = bytearray(p in keys for p in range(len(pts)))
    return table


def test_b_frames_rank_by_presentation_time_and_runs_share_keyframes():
    # decode order I P B B | I P B: presentation 0 3 1 2 | 4 6 5 (timestamps x 10)
    line = Timeline(_table([0, 30, 10, 20, 40, 60, 50], keys=[0, 4]))
    assert line.index.tolist() == [0, 3, 1, 2, 4, 6, 5]
    assert line.keys == [(0, 0), (4, 4)]
    assert [line.keyframe_before(i) for i in range(7)] == [0, 0, 0, 0, 4, 4, 4]
    assert line.plan([1, 3]) == [Run(0, (1, 3))]
    assert line.plan([2, 4, 6]) == [Run(0, (2,)), Run(4, (4, 6))]  # keyframe 4 lies past 2
    assert line.plan([3, 5]) == [Run(0, (3,)), Run(4, (5,))]
    assert not line.repeats


def test_a_run_goes_on_when_its_keyframe_is_already_decoded():
    line = Timeline(_table(list(range(0, 120, 10)), keys=[0, 4, 8]))
    assert line.plan([4, 5, 9]) == [Run(4, (4, 5)), Run(8, (9,))]
    assert line.plan([3, 4]) == [Run(0, (3,)), Run(4, (4,))]  # 4 is a keyframe after 3
    assert line.plan([5, 7]) == [Run(4, (5, 7))]


def test_variable_frame_rate_and_late_start_keep_one_index_per_frame():
    # 100 ms and 140 ms both round to index 1 at 10 fps; the rank keeps them apart.
    line = Timeline(_table([2500, 2600, 2640, 2700, 2800], keys=[0]))
    assert line.index.tolist() == [0, 1, 2, 3, 4]
    index_of = line.frame_indexer()
    assert [index_of(p) for p in (2500, 2600, 2640, 2700, 2800, 1234, None)] == [
        0, 1, 2, 3, 4, None, None]  # fmt: skip


def test_duplicated_timestamps_take_their_ranks_in_output_order():
    line = Timeline(_table([0, 100, 100, 200, 200, 300], keys=[0, 3]))
    assert line.repeats and line.index.tolist() == [0, 1, 2, 3, 4, 5]
    index_of = line.frame_indexer()
    assert [index_of(p) for p in (0, 100, 100, 200, 200, 300)] == [0, 1, 2, 3, 4, 5]
    again = line.frame_indexer()  # a fresh pass counts afresh
    assert again(200) == 3 and again(200) == 4
    assert line.key_position == {(0, 0): 0, (3, 200): 3}


def test_a_seek_is_placed_by_its_keyframe_even_among_repeated_stamps():
    table = _table([0, 100, 100, 200], keys=[0, 2])
    table.dts = array("q", [0, 100, 100, 200])  # timestamps copied to dts: (dts, pts) repeats
    assert Timeline(table).key_position == {(0, 0): 0, (100, 100): 2}


def test_a_table_without_every_timestamp_has_no_timeline():
    with pytest.raises(ValueError, match="presentation timestamp"):
        Timeline(_table([0, None, 20], keys=[0]))
    assert Timeline(_table([10, 20], keys=[1])).plan([0]) is None  # no keyframe before 0

"""The packet table of an open file, the timestamp -> frame index mapping, the keyframe plan.

Frame index (one rule for every read, random or streamed):
    Frame ``i`` is the ``i``-th frame in presentation order. For files whose timestamps can be
    trusted (:data:`SEEKABLE_FORMATS`, every video packet stamped) the index of a packet is
    its **rank** among the packets' presentation timestamps (ties: demux order). Where
    ``round((pts - start_time) * time_base * fps)`` numbers the frames ``0..n-1`` without a gap
    or a collision (every constant-frame-rate file, whatever its ``start_time``) the rank is
    that same number; where it does not (variable frame rate, duplicated timestamps), two
    frames never share an index and none is skipped, and a sequential decode (which counts
    frames) gives the same numbering. Other containers (AVI: packed B-frames carry no usable
    timestamps) are read by counting decoded frames from the start.

Keyframe plan:
    The wanted frames (sorted) are grouped into runs; a new run starts (decoder flushed, fed
    from the keyframe at or before its first frame) whenever that keyframe lies after the
    previous run's last frame; otherwise decoding simply continues.

Memory:
    The table keeps each video packet's timestamps and keyframe flag. Packet payloads are kept
    too, so that reads need no demuxing, while their total stays under
    :data:`PACKET_BUDGET_BYTES`, each counted at its payload plus :data:`PACKET_OVERHEAD_BYTES`
    (what a held packet costs besides its bytes); past it none are kept and reads seek instead
    (long videos: a 2-hour file of many small packets no longer holds them all).
"""

from __future__ import annotations

import bisect
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import av
import numpy as np

__all__ = [
    "PACKET_BUDGET_BYTES",
    "PACKET_OVERHEAD_BYTES",
    "SEEKABLE_FORMATS",
    "PacketTable",
    "Run",
    "Timeline",
]

# Container formats (PyAV `format.name`) whose timestamps are reliable enough to seek by.
SEEKABLE_FORMATS = ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm")
# Packet payloads kept in memory per open file at most (a few minutes of 720p).
PACKET_BUDGET_BYTES = 48 * 2**20
# Native memory a held `av.Packet` costs besides its payload (measured on the timeline's 2-hour
# benchmark file: 86,400 packets of 13 MB in all raised peak RSS by 200 MiB, ~2.4 KiB each).
PACKET_OVERHEAD_BYTES = 2048
# FFmpeg's AV_NOPTS_VALUE: how a missing timestamp (PyAV's None) is stored in the table's arrays.
NO_TIMESTAMP = -(2**63)


class PacketTable:
    """The non-empty video packets of one file, in decode order (filled by a demux pass).

    ``pts``, ``dts``: per packet, int64 arrays (8 bytes a packet: a 2-hour file has ~10^5),
    :data:`NO_TIMESTAMP` where the packet has none; ``keyframe``: per packet; ``payload``: the
    packets themselves, or None once ``bytes`` (their sizes plus :data:`PACKET_OVERHEAD_BYTES`
    each) passed ``budget``.
    """

    def __init__(self, budget: int | None = None) -> None:
        self.budget = PACKET_BUDGET_BYTES if budget is None else budget
        self.pts = array("q")
        self.dts = array("q")
        self.keyframe = bytearray()
        self.payload: list[av.Packet] | None = []
        self.bytes = 0

    def append(self, packet: av.Packet) -> None:
        self.pts.append(NO_TIMESTAMP if packet.pts is None else packet.pts)
        self.dts.append(NO_TIMESTAMP if packet.dts is None else packet.dts)
        self.keyframe.append(bool(packet.is_keyframe))
        self.bytes += packet.size + PACKET_OVERHEAD_BYTES
        if self.payload is not None and self.bytes > self.budget:
            self.payload = None  # seek instead
        if self.payload is not None:
            self.payload.append(packet)

    def __len__(self) -> int:
        return len(self.pts)

    def missing_pts(self) -> bool:
        """Whether some packet has no presentation timestamp."""
        return NO_TIMESTAMP in self.pts


def _stamp(value: int) -> int | None:
    """A table entry as PyAV gives it: None for :data:`NO_TIMESTAMP`."""
    return None if value == NO_TIMESTAMP else int(value)


@dataclass(frozen=True)
class Run:
    """Decode from packet ``start`` until every frame of ``wanted`` (sorted) has come out."""

    start: int
    wanted: tuple[int, ...]


class Timeline:
    """Frame index of every packet and of every decoded frame (see the module's rule)."""

    def __init__(self, table: PacketTable) -> None:
        if table.missing_pts():
            raise ValueError("every packet needs a presentation timestamp")
        stamps = np.asarray(table.pts, dtype=np.int64)  # (packets,) in decode order
        order = np.argsort(stamps, kind="stable")  # presentation order; ties: demux order
        self.index = np.empty(len(stamps), dtype=np.int64)  # packet position -> frame index
        self.index[order] = np.arange(len(stamps))
        # Arrays, not dicts of Python ints: a 2-hour file has ~10^5 packets (docs/data.md).
        self.sorted_pts = stamps[order]  # frame index -> pts
        self.repeats = bool((np.diff(self.sorted_pts) == 0).any())  # a duplicated timestamp
        keys = [p for p, key in enumerate(table.keyframe) if key]
        self.keys = sorted((int(self.index[p]), p) for p in keys)
        # A seek lands on a keyframe: where each keyframe's (dts, pts) sits in the table.
        self.key_position = {(_stamp(table.dts[p]), _stamp(table.pts[p])): p for p in keys}

    def first_index(self, pts: int) -> int | None:
        """The lowest frame index whose packet has timestamp ``pts`` (None: no packet has it)."""
        rank = int(np.searchsorted(self.sorted_pts, pts, side="left"))
        found = rank < len(self.sorted_pts) and self.sorted_pts[rank] == pts
        return rank if found else None

    def frame_indexer(self) -> Callable[[int | None], int | None]:
        """A fresh ``pts -> frame index`` for one decode pass (None: not a packet's timestamp).

        Frames sharing a timestamp take its ranks in the order they come out.
        """
        # only duplicated timestamps are counted: a pass over a 2-hour file must not keep a
        # Python int per frame (docs/data.md, "Memory")
        seen: Counter[int] = Counter()
        stamps = self.sorted_pts

        def index_of(pts: int | None) -> int | None:
            first = None if pts is None else self.first_index(pts)
            if first is None:
                return None
            if first + 1 == len(stamps) or stamps[first + 1] != pts:
                return first  # a timestamp of one frame
            seen[pts] += 1
            return first + seen[pts] - 1

        return index_of

    def keyframe_before(self, index: int) -> int | None:
        """Packet position of the keyframe at or before frame ``index`` (None: there is none)."""
        k = bisect.bisect_right([i for i, _ in self.keys], index) - 1
        return None if k < 0 else self.keys[k][1]

    def plan(self, wanted: list[int]) -> list[Run] | None:
        """The runs that decode ``wanted`` (sorted, unique); None without a keyframe before
        the first wanted frame."""
        key_index = [k for k, _ in self.keys]
        runs: list[tuple[int, list[int]]] = []
        for w in wanted:
            k = bisect.bisect_right(key_index, w) - 1
            if k < 0:
                return None
            if runs and key_index[k] <= runs[-1][1][-1]:
                runs[-1][1].append(w)  # that keyframe is already behind us: keep decoding
            else:
                runs.append((self.keys[k][1], [w]))
        return [Run(start, tuple(ws)) for start, ws in runs]

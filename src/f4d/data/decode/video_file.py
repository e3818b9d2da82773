"""`VideoFile`: one open video file: ``info``, random-access ``read``, streaming ``iter_frames``.

Opening demuxes every packet once (:func:`f4d.data.integrity.scan`) into a `PacketTable`;
that pass gives the frame count when the header has none (WebM) and the verdict on
truncation (:mod:`f4d.data.integrity`). The probe rule, the same for every caller:

- ``num_frames`` is the header's frame count, else the number of video packets;
- ``exact=True`` decodes every frame during that pass and counts the frames that decode;
- a truncated file raises `TruncatedVideoError` unless ``allow_truncated``; then the file is
  decoded once more from the start and ``num_frames`` counts the frames that decode, so that
  every index in ``[0, num_frames)`` can be read (``info.truncation`` says why).

Reads decode only what they must (:mod:`f4d.data.decode.timeline`: keyframe runs, frame
index by timestamp rank); frames that no other frame refers to and that are not wanted are
dropped by the decoder (FFmpeg's ``skip_frame=NONREF``). When a run's frames do not carry the
packets' timestamps, or a file's timestamps cannot be trusted, the read decodes from the
start and counts frames instead. Only wanted frames are converted to RGB and turned upright.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Container, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np

from f4d.data import integrity
from f4d.data.decode.container import header_info, open_container
from f4d.data.decode.errors import TruncatedVideoError, VideoDecodeError, missing_frames
from f4d.data.decode.frames import (
    VideoInfo,
    check_in_range,
    check_indices,
    stack_frames,
    upright,
)
from f4d.data.decode.timeline import SEEKABLE_FORMATS, PacketTable, Timeline
from f4d.data.integrity import Truncation

__all__ = ["TIME_LIMIT", "VideoFile"]

TIME_LIMIT = "decoding ran past the time limit (timeout_s)"
Keep = Callable[[av.VideoFrame], Any] | None  # what a read keeps of a wanted frame


class DecoderFailed(Exception):
    """The decoder stopped with an error before the wanted frames came out."""


class Misled(Exception):
    """The timestamps did not lead to the wanted frames: count from the start instead."""


class VideoFile:
    """An open video file; use as a context manager.

    Args:
        path: the video file.
        threads: FFmpeg decoding threads (0: FFmpeg decides, usually one per core). Data
            loader workers pass 1, since the workers themselves already fill the cores.
        allow_truncated: open a truncated file (see the module's probe rule) instead of raising.
        exact: count the frames that decode rather than trust the header (``f4d data check``).

    Raises:
        TruncatedVideoError: the file is truncated and ``allow_truncated`` is False.
        VideoDecodeError: missing, empty, unreadable, no video stream, zero frames.
    """

    def __init__(
        self, path: Path, *, threads: int = 0, allow_truncated: bool = False, exact: bool = False
    ) -> None:
        self.path = path
        self.allow_truncated = allow_truncated
        self.table = PacketTable()
        with integrity.ffmpeg_log() as lines:
            self.container = open_container(path)
            try:
                self.stream = self.container.streams.video[0]
                self.info = self._scan(lines, exact, threads)
            except BaseException:
                self.container.close()
                raise
        self.timeline = self._timeline()

    def close(self) -> None:
        """Close the file and free the decoder (and its threads) now, not at garbage collection:
        a process forked later must not inherit a threaded codec context."""
        self.container.close()
        self.table = PacketTable()
        self.stream = None

    def __enter__(self) -> VideoFile:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ opening
    def _scan(self, lines: list, exact: bool, threads: int) -> VideoInfo:
        """One demux pass (decoding too with ``exact``): the packet table, the frame count and
        the truncation verdict (see the module's probe rule)."""
        header = header_info(self.path, self.container, self.stream)  # checks the codec
        self.stream.codec_context.thread_count = threads
        facts = integrity.declared(self.path, self.container, self.stream)
        opened = len(lines)
        got = integrity.scan(self.container, self.stream, decode=exact, keep=self.table)
        truncation = self._judge(facts, got, lines)
        if truncation is not None and not self.allow_truncated:
            raise TruncatedVideoError(self.path, truncation)
        if truncation is not None and not exact:  # count what decodes, not what is held
            del lines[opened:]
            self._rewind()
            got = integrity.scan(self.container, self.stream, decode=True)
            truncation, exact = self._judge(facts, got, lines), True
        self.held = header.num_frames or len(self.table)  # frames the file claims to hold
        num_frames = got.frames if exact else header.num_frames or got.frames
        if num_frames <= 0 and truncation is not None:
            raise TruncatedVideoError(self.path, truncation)  # nothing left to sample
        if num_frames <= 0:
            raise VideoDecodeError(self.path, "zero frames decode" if exact else "zero frames")
        return VideoInfo(
            num_frames, header.fps, header.width, header.height, truncation, header.rotation
        )

    def _judge(
        self, facts: integrity.Declared, got: integrity.Delivered, lines: list
    ) -> Truncation | None:
        start = self.container.start_time
        origin = None if start is None else start / av.time_base
        return integrity.judge(facts, got, lines, container_start_s=origin)

    def _timeline(self) -> Timeline | None:
        """The frame index by timestamp; None where timestamps cannot be used."""
        if self.container.format.name not in SEEKABLE_FORMATS:
            return None
        if self.table.missing_pts():
            return None
        return Timeline(self.table)

    def _rewind(self) -> None:
        """Seek back to the start of the file."""
        try:
            self.container.seek(0)
        except av.error.FFmpegError as err:
            raise VideoDecodeError(self.path, f"cannot seek back to the start ({err})") from err

    # ------------------------------------------------------------------ public reads
    def read(
        self, indices: np.ndarray | list[int], *, timeout_s: float | None = None
    ) -> np.ndarray:
        """uint8 ``(N, H, W, 3)`` RGB frames at ``indices`` (any shape, C order, repeats
        allowed), upright (``info.rotation`` applied).

        Raises:
            ValueError: an index outside ``[0, info.num_frames)``, or none given.
            VideoDecodeError: the file cannot deliver a wanted frame (truncated, corrupt, slow).
        """
        flat = check_indices(indices)
        arrays = self._gather(sorted(set(flat.tolist())), timeout_s, self.to_array)
        return stack_frames(self.path, [arrays[i] for i in flat.tolist()])  # (N, H, W, 3)

    def decode(
        self, wanted: Iterable[int], *, timeout_s: float | None = None
    ) -> dict[int, av.VideoFrame]:
        """The decoded frames ``{index: frame}`` at ``wanted``, not yet converted (`to_array`
        converts one); what `read` does before converting, public for ``f4d bench data``.

        Raises as `read` does.
        """
        return self._gather(sorted(set(wanted)), timeout_s, None)

    def _gather(self, wanted: list[int], timeout_s: float | None, keep: Keep) -> dict[int, Any]:
        """``{index: keep(frame)}`` for the sorted ``wanted`` (``keep`` None: the frame itself).

        Converting as frames come out (``keep=to_array``) hands each decoded frame back to the
        decoder's pool at once; holding them costs more (AVI reads took twice as long).
        """
        if not wanted:
            return {}
        self._check_range(wanted)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with integrity.ffmpeg_log() as lines:
            frames = None
            if self.timeline is not None and wanted:
                frames = self._decode_runs(wanted, deadline, keep)
            if frames is None:  # no usable timestamps, or they misled: count from the start
                frames = self._decode_counting(wanted, deadline, keep)
        said = integrity.premature_end(lines)
        if said is not None and not self.allow_truncated:
            raise TruncatedVideoError(self.path, Truncation(None, None, f"FFmpeg: {said}"))
        return frames

    def _check_range(self, wanted: list[int]) -> None:
        """``ValueError`` for an index outside what the file holds; `TruncatedVideoError` for
        one a truncated file holds a packet for but cannot decode."""
        lost = [i for i in wanted if self.info.num_frames <= i < self.held]
        if lost and self.info.truncation is not None:
            raise missing_frames(self.path, lost, set(), self.held, "the stream ended")
        check_in_range(self.path, np.asarray(wanted, dtype=np.int64), self.info.num_frames)

    def keyframe_indices(self) -> list[int]:
        """Frame indices of the keyframes, ascending (empty when timestamps are not used)."""
        return [] if self.timeline is None else [i for i, _ in self.timeline.keys]

    def to_array(self, frame: av.VideoFrame) -> np.ndarray:
        """One decoded frame as uint8 ``(H, W, 3)`` RGB, as displayed."""
        return upright(frame.to_ndarray(format="rgb24"), self.info.rotation)

    def iter_frames(
        self, start: int = 0, stop: int | None = None, every: int = 1
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Stream ``(index, uint8 (H, W, 3) RGB upright)`` for ``range(start, stop, every)``.

        Decodes the file once, front to back from the keyframe at or before ``start``, holding
        one frame at a time (and, for long files, no packets: they are demuxed as they go).
        Frame ``i`` is bit-for-bit ``read([i])[0]`` (the same index rule). ``stop`` defaults
        to (and is capped at) ``info.num_frames``. The stream owns the decoder: finish (or drop)
        it before calling ``read`` on the same open video.

        Raises:
            ValueError: ``start`` negative or ``every`` below 1.
            TruncatedVideoError: frames of the range did not come out (after those that did),
                or FFmpeg reported an early end of file (unless ``allow_truncated``).
            VideoDecodeError: the stream's timestamps do not match its packets.
        """
        if start < 0 or every < 1:
            raise ValueError(f"start must be >= 0 and every >= 1, got start={start}, every={every}")
        stop = self.info.num_frames if stop is None else min(stop, self.info.num_frames)
        wanted = range(start, stop, every)
        if not wanted:
            return
        stream, said = self._stream(wanted), None
        while True:  # FFmpeg's log is captured while decoding, never across a yield
            with integrity.ffmpeg_log() as lines:
                item = next(stream, None)
            said = said or integrity.premature_end(lines)
            if item is None:
                break
            yield item
        if said is not None and not self.allow_truncated:
            raise TruncatedVideoError(self.path, Truncation(None, None, f"FFmpeg: {said}"))

    def _stream(self, wanted: range) -> Iterator[tuple[int, np.ndarray]]:
        first = 0 if self.timeline is None else self.timeline.keyframe_before(wanted[0])
        # ``wanted`` stays a range and what came out a bitmap: nothing here grows by a Python
        # int per frame (a 2-hour file has ~10^5 frames)
        indexed = self._indexed(first or 0, None, wanted)
        done = bytearray(len(wanted))
        try:
            for index, frame in indexed:
                if index is None:
                    raise VideoDecodeError(self.path, "frame timestamps do not match the packets")
                if index in wanted:
                    done[wanted.index(index)] = 1
                    yield index, self.to_array(frame)
                if index >= wanted[-1]:
                    break
        except DecoderFailed as err:
            raise missing_frames(
                self.path, list(wanted), _came_out(wanted, done), self.info.num_frames,
                f"the decoder failed ({err})",
            ) from err  # fmt: skip
        except Misled as err:
            raise VideoDecodeError(self.path, "a seek missed its keyframe") from err
        if not all(done):
            raise missing_frames(
                self.path, list(wanted), _came_out(wanted, done), self.info.num_frames,
                "the stream ended",
            )  # fmt: skip

    def frames(self) -> Iterator[av.VideoFrame]:
        """Every frame from the start, in presentation order, as decoded: stored orientation,
        not converted (`to_array` converts one; ``info.rotation`` says how to turn it), for
        ``f4d data prepare``, which scales before converting.

        Raises:
            VideoDecodeError: the decoder failed (the frames before it have been yielded).
        """
        try:
            yield from self._frames_from(0, None, None)
        except DecoderFailed as err:
            raise VideoDecodeError(self.path, f"the decoder failed ({err})") from err

    # ------------------------------------------------------------------ decoding
    def _decode_runs(self, wanted: list[int], deadline: float | None, keep: Keep) -> dict | None:
        """Keyframe runs by timestamp; None when a run misled (read by counting instead)."""
        runs = self.timeline.plan(wanted)
        if runs is None:
            return None
        out: dict[int, Any] = {}
        try:
            for run in runs:
                indexed = self._indexed(run.start, deadline, set(run.wanted))
                out.update(self._collect(indexed, list(run.wanted), keep))
        except Misled:
            return None
        return out

    def _decode_counting(self, wanted: list[int], deadline: float | None, keep: Keep) -> dict:
        """Decode from the start, numbering frames as they come out."""
        frames = self._frames_from(0, deadline, None)
        return self._collect(enumerate(frames), wanted, keep, counting=True)

    def _collect(
        self,
        indexed: Iterator[tuple[int | None, av.VideoFrame]],
        wanted: list[int],
        keep: Keep,
        *,
        counting: bool = False,
    ) -> dict[int, av.VideoFrame]:
        """The ``wanted`` (sorted) frames of ``(index, frame)`` pairs, stopping after the last.

        Raises `Misled` (timestamps only) when a frame has no known timestamp or the frames
        passed a wanted one, and `TruncatedVideoError` when the stream ends or fails first.
        """
        targets = set(wanted)
        out: dict[int, av.VideoFrame] = {}
        passed = False
        try:
            for index, frame in indexed:
                if index is None:
                    raise Misled
                if index in targets:  # indices never repeat within a pass (the index rule)
                    out[index] = frame if keep is None else keep(frame)
                    if len(out) == len(targets):
                        return out
                passed = passed or index > wanted[-1]
                if counting and passed:
                    break
        except DecoderFailed as err:
            why = f"the decoder failed ({err})"
            raise missing_frames(self.path, wanted, out, self.info.num_frames, why) from err
        if passed and not counting:
            raise Misled
        raise missing_frames(self.path, wanted, out, self.info.num_frames, "the stream ended")

    def _indexed(
        self, start: int, deadline: float | None, wanted: Container[int]
    ) -> Iterator[tuple[int | None, av.VideoFrame]]:
        """``(frame index, frame)`` from packet ``start`` on, indexed by timestamp, or by count
        from the start when the file has no usable timestamps."""
        if self.timeline is None:
            yield from enumerate(self._frames_from(0, deadline, None))
            return
        index_of = self.timeline.frame_indexer()
        skip = None if self.timeline.repeats else wanted
        for frame in self._frames_from(start, deadline, skip):
            yield index_of(frame.pts), frame

    def _frames_from(
        self, start: int, deadline: float | None, wanted: Container[int] | None
    ) -> Iterator[av.VideoFrame]:
        """Frames in presentation order from a fresh decoder fed the packets from position
        ``start``, then drained; a decoder error raises `DecoderFailed`.

        With ``wanted`` (frame indices; needs the timeline), the decoder may drop every other
        packet's frame if no other frame refers to it (``skip_frame=NONREF``, set per packet):
        such frames cannot change any frame that is decoded, and they never come out.
        """
        codec = self.stream.codec_context
        codec.flush_buffers()
        codec.skip_frame = "DEFAULT"
        index = self.timeline.index if wanted is not None else None
        try:
            for position, packet in self._packets_from(start):
                if deadline is not None and time.monotonic() > deadline:
                    raise VideoDecodeError(self.path, TIME_LIMIT)
                if index is not None:
                    # int(): a range tests a Python int in O(1), a numpy integer by scanning
                    needed = int(index[position]) in wanted
                    codec.skip_frame = "DEFAULT" if needed else "NONREF"
                yield from codec.decode(packet)
            codec.skip_frame = "DEFAULT"
            yield from codec.decode(None)
        except av.error.FFmpegError as err:
            raise DecoderFailed(str(err)) from err
        finally:
            codec.skip_frame = "DEFAULT"

    def _packets_from(self, start: int) -> Iterator[tuple[int, av.Packet]]:
        """``(position, packet)`` of the video packets from position ``start``: from memory,
        else demuxed after a seek to that packet's keyframe (``start`` must be one)."""
        payload = self.table.payload
        if payload is not None:
            yield from zip(range(start, len(payload)), itertools.islice(payload, start, None))
            return
        self._seek_to(start)
        position = None
        try:
            for packet in self.container.demux(self.stream):
                if packet.size <= 0:
                    continue
                if position is None:
                    position = self._position_after_seek(packet, start)
                else:
                    position += 1
                if position >= start:
                    yield position, packet
        except av.error.FFmpegError as err:
            raise DecoderFailed(f"demuxing failed ({err})") from err

    def _seek_to(self, start: int) -> None:
        if start == 0:
            self._rewind()
            return
        try:
            self.container.seek(
                self.table.pts[start], stream=self.stream, backward=True, any_frame=False
            )
        except av.error.FFmpegError as err:
            raise Misled from err

    def _position_after_seek(self, packet: av.Packet, start: int) -> int:
        """Where the first packet demuxed after a seek sits in the table."""
        if start == 0 or self.timeline is None:
            return 0
        position = self.timeline.key_position.get((packet.dts, packet.pts))
        if position is None or position > start:
            raise Misled
        return position


def _came_out(wanted: range, done: bytearray) -> set[int]:
    """The frames of ``wanted`` marked in ``done`` (for an error message)."""
    return {index for index, flag in zip(wanted, done, strict=True) if flag}

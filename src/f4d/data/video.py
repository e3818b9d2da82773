"""Decoding: a path and frame indices in, uint8 RGB frames out, or a `VideoDecodeError`.

Two kinds of path go through the same two functions:

- a video file (mp4, avi, webm, mkv, mov, ...) read with PyAV;
- a frame folder (Something-Something v1 style ``00001.jpg, 00002.jpg, ...``) read with Pillow.

Frame ``i`` is the ``i``-th frame in presentation order, counted from 0.

Probe policy (`probe`):
    The frame count comes from the stream header when it has one; when it is missing (WebM
    stores none) it is the number of video packets. `probe` demuxes every packet once (reading
    the file, decoding nothing) and judges the file by :mod:`f4d.data.integrity`'s definition of
    *truncated* (declared bytes or index past the end of the file, FFmpeg reporting an early end
    of file, or a stream that ends before the duration the file declares). ``probe(path,
    exact=True)`` decodes every frame instead of only demuxing, counts those that decode before
    the end or the first error, and judges by what decodes. A truncated file raises
    `TruncatedVideoError` unless ``allow_truncated=True``; then the returned `VideoInfo` counts
    only the frames that decode and carries the `Truncation` (``info.truncation``).

Truncation on reading (`read_frames`):
    Cheap checks only: the container's declared bytes and index against the file size, and
    FFmpeg's log while decoding. A frame the header promises but the file cannot deliver raises
    `TruncatedVideoError` ("truncated: frames [...] requested but ...") whatever the option.

Seek policy (`read_frames`):
    For MP4/MOV and Matroska/WebM the reader seeks to the nearest keyframe at or before the first
    wanted frame, decodes forward, maps each frame to its index from its timestamp
    (``round((pts - start) * time_base * fps)``) and stops after the last wanted frame. Other
    containers (notably AVI, whose packed B-frames carry no usable timestamps; UCF101 and HMDB51
    clips are short) are decoded sequentially from the start, counting frames, and stopped after
    the last wanted frame. If a seek lands after the first wanted frame the read restarts from
    the start.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from f4d.data import integrity
from f4d.data.integrity import Truncation
from f4d.errors import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
# Container formats (PyAV `format.name`) whose timestamps are reliable enough to seek by.
SEEKABLE_FORMATS = ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm")


class VideoDecodeError(InputError, ValueError):
    """A video (file or frame folder) that cannot deliver the frames asked for."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot decode video {self.path}: {reason}")


class TruncatedVideoError(VideoDecodeError):
    """A truncated video file (see :mod:`f4d.data.integrity`).

    ``truncation`` holds what the file declares and delivers; it is None when a read ran out
    of frames the header promised.
    """

    def __init__(self, path: str | Path, truncation: Truncation | str) -> None:
        self.truncation = truncation if isinstance(truncation, Truncation) else None
        super().__init__(path, str(truncation))
        self.hint = (
            "download it again; data.allow_truncated=true (f4d train/test) or --allow-truncated "
            "(f4d predict) uses the part that decodes"
        )


@dataclass(frozen=True)
class VideoInfo:
    """What `probe` learns about a video.

    ``fps`` is 0.0 for frame folders, which carry no frame rate. ``truncation`` is set only
    for a truncated file probed with ``allow_truncated=True`` (``num_frames`` then counts the
    frames that decode).
    """

    num_frames: int
    fps: float
    width: int
    height: int
    truncation: Truncation | None = None


def probe(path: str | Path, *, exact: bool = False, allow_truncated: bool = False) -> VideoInfo:
    """Return the frame count, frame rate and frame size of a video file or frame folder.

    Args:
        path: video file or frame folder.
        exact: decode every frame and count those that decode (see the module's probe policy).
        allow_truncated: return a truncated file's decodable part instead of raising.

    Raises:
        TruncatedVideoError: the file is truncated and ``allow_truncated`` is False.
        VideoDecodeError: missing, empty, unreadable, no video stream, or zero frames.
    """
    path = Path(path)
    if path.is_dir():
        return _probe_folder(path)
    with integrity.ffmpeg_log() as lines, _open_video(path) as container:
        stream = container.streams.video[0]
        header = _header_info(path, stream)
        facts = integrity.declared(path, container, stream)
        got = integrity.scan(container, stream, decode=exact)
        start = container.start_time
    origin = None if start is None else start / av.time_base
    truncation = integrity.judge(facts, got, lines, container_start_s=origin)
    if truncation is not None and not allow_truncated:
        raise TruncatedVideoError(path, truncation)
    if truncation is not None and not exact:
        return probe(path, exact=True, allow_truncated=True)  # count what decodes
    num_frames = got.frames if exact or truncation else header.num_frames or got.frames
    if num_frames <= 0 and truncation is not None:
        raise TruncatedVideoError(path, truncation)  # nothing left to sample
    if num_frames <= 0:
        raise VideoDecodeError(path, "zero frames decode" if exact else "zero frames")
    return VideoInfo(num_frames, header.fps, header.width, header.height, truncation)


def read_frames(
    path: str | Path,
    indices: np.ndarray | list[int],
    *,
    timeout_s: float | None = None,
    allow_truncated: bool = False,
) -> np.ndarray:
    """Decode the frames at ``indices``, in that order (repeats allowed).

    Args:
        path: video file or frame folder.
        indices: frame indices of any shape (e.g. ``(U, T)`` from `sample_segments`), read in
            C order; each in ``[0, probe(path).num_frames)``.
        timeout_s: give up with `VideoDecodeError` once decoding has taken longer than this.
        allow_truncated: read the decodable part of a truncated file instead of raising.

    Returns:
        uint8 array ``(N, H, W, 3)`` RGB, ``N = indices.size``.

    Raises:
        ValueError: an index that is negative or not below the probed frame count, or none given.
        TruncatedVideoError: the file is truncated (see the module's truncation policy).
        VideoDecodeError: the file cannot deliver the frames (missing, corrupt, ...).
    """
    path = Path(path)
    flat = _check_indices_shape(indices)
    if path.is_dir():
        return _read_folder(path, flat)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    with integrity.ffmpeg_log() as lines, _open_video(path) as container:
        stream = container.streams.video[0]
        info = _stream_info(path, container, stream)
        _check_in_range(path, flat, info.num_frames)
        if not allow_truncated:
            _refuse_cut(path, integrity.cut_bytes(path, container))
        wanted = sorted(set(flat.tolist()))
        frames = _decode_wanted(path, container, stream, info, wanted, deadline)
    if not allow_truncated:
        _refuse_cut(path, integrity.premature_end(lines), prefix="FFmpeg: ")
    return _stack(path, [frames[i] for i in flat.tolist()])  # (N, H, W, 3)


def _refuse_cut(path: Path, evidence: str | None, *, prefix: str = "") -> None:
    if evidence is not None:
        raise TruncatedVideoError(path, Truncation(None, None, prefix + evidence))


# ---------------------------------------------------------------- video files


def _open_video(path: Path) -> av.container.InputContainer:
    """Open ``path`` with PyAV, mapping every failure to `VideoDecodeError`."""
    if not path.exists():
        raise VideoDecodeError(path, "file not found")
    if path.stat().st_size == 0:
        raise VideoDecodeError(path, "empty file (0 bytes)")
    try:
        # Non-UTF-8 metadata tags are replaced, not fatal: the frames inside are still good.
        container = av.open(str(path), metadata_errors="replace")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as err:
        raise _unreadable(path, f"not a readable video container ({err})") from err
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        container.close()
        raise _unreadable(path, f"no video stream (streams: {', '.join(kinds)})")
    return container


def _unreadable(path: Path, reason: str) -> VideoDecodeError:
    """The error for a file whose header cannot be used: `TruncatedVideoError` when the file
    is cut (its container declares more bytes than it holds), else `VideoDecodeError`."""
    cut = integrity.cut_header(path)
    if cut is None:
        return VideoDecodeError(path, reason)
    return TruncatedVideoError(path, Truncation(None, None, f"{cut}; {reason}"))


def _stream_info(path: Path, container: av.container.InputContainer, stream) -> VideoInfo:
    """Header facts of the first video stream; packets are counted when the header has none."""
    info = _header_info(path, stream)
    num_frames = info.num_frames or _count_packets(path, container, stream)
    if num_frames <= 0:
        raise VideoDecodeError(path, "zero frames")
    return VideoInfo(int(num_frames), info.fps, info.width, info.height)


def _header_info(path: Path, stream) -> VideoInfo:
    """Frame rate, size and the header's frame count (0 when it states none)."""
    if not (stream.average_rate or stream.guessed_rate or stream.base_rate):
        raise _unreadable(path, "the video stream has no frame rate")
    if stream.codec_context is None:
        raise _unreadable(path, "unknown or unsupported video codec")
    width, height = stream.codec_context.width, stream.codec_context.height
    if width <= 0 or height <= 0:
        raise _unreadable(path, f"invalid frame size {width}x{height}")
    return VideoInfo(int(stream.frames or 0), float(_rate(stream)), int(width), int(height))


def _count_packets(path: Path, container: av.container.InputContainer, stream) -> int:
    """Number of non-empty video packets (one per frame), by demuxing without decoding."""
    try:
        count = sum(1 for packet in container.demux(stream) if packet.size > 0)
    except av.error.FFmpegError as err:
        raise VideoDecodeError(path, f"demuxing failed ({err})") from err
    if count:
        _rewind(path, container)
    return count


def _rewind(path: Path, container: av.container.InputContainer) -> None:
    """Seek back to the start of the file."""
    try:
        container.seek(0)
    except av.error.FFmpegError as err:
        raise VideoDecodeError(path, f"cannot seek back to the start ({err})") from err


def _decode_wanted(
    path: Path,
    container: av.container.InputContainer,
    stream,
    info: VideoInfo,
    wanted: list[int],
    deadline: float | None,
) -> dict[int, np.ndarray]:
    """Frames ``{index: (H, W, 3) uint8}`` for the sorted unique ``wanted`` indices."""
    if wanted[0] > 0 and container.format.name in SEEKABLE_FORMATS:
        frames = _decode_after_seek(path, container, stream, info, wanted, deadline)
        if frames is not None:
            return frames
        _rewind(path, container)  # the seek failed or misled: count from the start
    decoded = _decoded(path, container, stream, deadline)
    return _collect(path, enumerate(decoded), wanted, info, seeking=False)


def _decode_after_seek(
    path: Path,
    container: av.container.InputContainer,
    stream,
    info: VideoInfo,
    wanted: list[int],
    deadline: float | None,
) -> dict[int, np.ndarray] | None:
    """Seek to the keyframe at or before ``wanted[0]`` and index frames by timestamp."""
    rate = _rate(stream)
    origin = stream.start_time or 0
    target = origin + round(wanted[0] / rate / stream.time_base)
    try:
        container.seek(int(target), stream=stream, backward=True, any_frame=False)
    except av.error.FFmpegError:
        return None
    indexed = _by_timestamp(_decoded(path, container, stream, deadline), origin, rate)
    return _collect(path, indexed, wanted, info, seeking=True)


def _rate(stream) -> Fraction:
    return Fraction(stream.average_rate or stream.guessed_rate or stream.base_rate)


def _decoded(
    path: Path, container: av.container.InputContainer, stream, deadline: float | None
) -> Iterator[av.VideoFrame]:
    """Decoded frames in presentation order; a decoder error raises `_StreamBroken`."""
    try:
        for frame in container.decode(stream):
            if deadline is not None and time.monotonic() > deadline:
                raise VideoDecodeError(path, "decoding ran past the time limit (timeout_s)")
            yield frame
    except av.error.FFmpegError as err:
        raise _StreamBroken(str(err)) from err


def _by_timestamp(
    frames: Iterator[av.VideoFrame], origin: int, rate: Fraction
) -> Iterator[tuple[int | None, av.VideoFrame]]:
    """Pair each frame with ``round((pts - origin) * time_base * fps)`` (None without pts)."""
    for frame in frames:
        if frame.pts is None or frame.time_base is None:
            yield None, frame
        else:
            yield round((frame.pts - origin) * frame.time_base * rate), frame


class _StreamBroken(Exception):
    """The decoder stopped with an error before the end of the stream."""


def _collect(
    path: Path,
    indexed: Iterator[tuple[int | None, av.VideoFrame]],
    wanted: list[int],
    info: VideoInfo,
    *,
    seeking: bool,
) -> dict[int, np.ndarray] | None:
    """Keep the wanted frames of ``(index, frame)`` pairs, stopping after the last one.

    After a seek, returns None (read again from the start) when the first frame lies past the
    first wanted one, a frame has no timestamp, or a wanted index was skipped.
    """
    targets = set(wanted)
    out: dict[int, np.ndarray] = {}
    started = reached_last = False
    try:
        for index, frame in indexed:
            if index is None or (not started and index > wanted[0]):
                return None
            started = True
            if index in targets and index not in out:
                out[index] = frame.to_ndarray(format="rgb24")  # (H, W, 3)
            if index >= wanted[-1]:
                reached_last = True
                break
    except _StreamBroken as err:
        _raise_truncated(path, wanted, out, info, f"the decoder failed ({err})")
    if len(out) == len(targets):
        return out
    if seeking and reached_last:  # timestamps jumped over a wanted frame
        return None
    _raise_truncated(path, wanted, out, info, "the stream ended")
    return None


def _raise_truncated(
    path: Path, wanted: list[int], got: dict[int, np.ndarray], info: VideoInfo, why: str
) -> None:
    missing = [i for i in wanted if i not in got]
    shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
    raise TruncatedVideoError(
        path,
        f"truncated: frames [{shown}] requested but {why} before them "
        f"(header says {info.num_frames} frames)",
    )


# ---------------------------------------------------------------- frame folders


def _frame_files(path: Path) -> list[Path]:
    """Image files of a frame folder in natural order (``2.jpg`` before ``10.jpg``)."""
    files = [p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    if not files:
        raise VideoDecodeError(path, f"frame folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return sorted(files, key=_natural_key)


def _natural_key(path: Path) -> list[int | str]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _probe_folder(path: Path) -> VideoInfo:
    files = _frame_files(path)
    try:
        with Image.open(files[0]) as image:
            width, height = image.size
    except OSError as err:
        raise VideoDecodeError(path, f"unreadable frame {files[0].name} ({err})") from err
    return VideoInfo(len(files), 0.0, width, height)


def _read_folder(path: Path, flat: np.ndarray) -> np.ndarray:
    files = _frame_files(path)
    _check_in_range(path, flat, len(files))
    loaded = {i: _load_image(path, files[i]) for i in sorted(set(flat.tolist()))}
    return _stack(path, [loaded[i] for i in flat.tolist()])  # (N, H, W, 3)


def _load_image(folder: Path, file: Path) -> np.ndarray:
    try:
        with Image.open(file) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)  # (H, W, 3)
    except OSError as err:
        raise VideoDecodeError(folder, f"unreadable frame {file.name} ({err})") from err


# ---------------------------------------------------------------- shared checks


def _check_indices_shape(indices: np.ndarray | list[int]) -> np.ndarray:
    flat = np.asarray(indices).reshape(-1)
    if flat.size == 0:
        raise ValueError("indices is empty; ask for at least one frame")
    if not np.issubdtype(flat.dtype, np.integer):
        raise ValueError(f"indices must be integers, got dtype {flat.dtype}")
    return flat.astype(np.int64)


def _check_in_range(path: Path, flat: np.ndarray, num_frames: int) -> None:
    bad = flat[(flat < 0) | (flat >= num_frames)]
    if bad.size:
        raise ValueError(
            f"frame index {int(bad[0])} out of range for {path} with {num_frames} frames "
            f"(valid: 0..{num_frames - 1})"
        )


def _stack(path: Path, frames: list[np.ndarray]) -> np.ndarray:
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise VideoDecodeError(path, f"frame size changes inside the video: {sorted(shapes)}")
    return np.stack(frames)

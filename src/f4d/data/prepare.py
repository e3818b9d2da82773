"""``f4d data prepare``: a copy of a dataset that decodes fast (short side, frequent keyframes).

Every video file under ``src`` (by extension, :data:`f4d.data.media.VIDEO_EXTENSIONS`) is
decoded once and written to the same relative path under ``out``:

- as a video (default): short side scaled to ``short_side`` (aspect kept, sides even, never
  enlarged), H.264 (libx264, ``crf``, ``tune=fastdecode``) with a keyframe exactly every ``gop``
  frames, no audio. The file keeps its name, extension included, so every annotation format
  finds it with only ``data.root`` changed; inside is MP4 for ``.mp4 .mov .m4v`` and Matroska
  for every other extension (``.webm``, ``.avi``, ...): FFmpeg, and so f4d, reads a file by its
  content, not its extension.
- as a frame folder (``frames_dir=True``, the Something-Something v1 layout): a folder with the
  video's file name (``78687.webm/``) holding ``00001.jpg, 00002.jpg, ...``, one per frame.

Frame ``i`` of the copy is frame ``i`` of the source, and the copy has as many frames as f4d
counts in the source (:attr:`VideoInfo.num_frames`), so segment sampling picks the same indices
for the same seed; pixels differ by the resize and the re-encoding only.

Every other file (annotation lists, label files) is copied as it is. A source that does not
decode to the frame count its header promises (truncated or corrupt) is not written; it is
listed among the bad inputs. Writes are atomic (a hidden temporary next to the target, renamed
when complete), finished targets are skipped on the next run, and ``out/.f4d-prepare.json``
records the options so that a rerun with different ones stops instead of mixing two formats.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from f4d.data.media import VIDEO_EXTENSIONS
from f4d.errors import InputError, OptionError

OPTIONS_FILE = ".f4d-prepare.json"
TEMP_MARK = ".f4d-tmp"
MP4_EXTENSIONS = (".mp4", ".mov", ".m4v")


class PrepareError(OptionError, ValueError):
    """``prepare`` cannot run as asked (bad options, an ``out`` prepared differently, ``out``
    inside ``src``)."""


class MissingSourceError(InputError, FileNotFoundError):
    """The source folder does not exist."""


@dataclass(frozen=True)
class PrepareOptions:
    """How videos are rewritten. ``short_side=0`` keeps the size."""

    short_side: int = 256
    gop: int = 16
    frames_dir: bool = False
    crf: int = 18
    jpeg_quality: int = 90

    def __post_init__(self) -> None:
        if self.short_side < 0 or self.short_side % 2:
            raise PrepareError(
                f"short_side must be 0 (keep) or a positive even number, got {self.short_side}"
            )
        if self.gop < 1:
            raise PrepareError(f"gop must be >= 1, got {self.gop}")
        if not 0 <= self.crf <= 51:
            raise PrepareError(f"crf must be in 0..51, got {self.crf}")
        if not 1 <= self.jpeg_quality <= 100:
            raise PrepareError(f"jpeg_quality must be in 1..100, got {self.jpeg_quality}")


@dataclass(frozen=True)
class Outcome:
    """What happened to one source file: ``status`` is written, skipped, copied or bad."""

    path: str
    status: str
    detail: str = ""


@dataclass
class PrepareReport:
    """Counts and bad inputs of one ``prepare`` run."""

    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def bad(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "bad"]


# --------------------------------------------------------------------------- planning
def output_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """``(h, w)`` with the short side ``short_side`` (never enlarged; 0 keeps it), the aspect
    ratio kept, both sides rounded to even numbers (4:2:0 chroma needs them)."""
    short = min(height, width)
    if short_side and short > short_side:
        scale = short_side / short
        height, width = height * scale, width * scale
    return max(2, 2 * round(height / 2)), max(2, 2 * round(width / 2))


def find_files(src: Path) -> tuple[list[Path], list[Path]]:
    """``(videos, others)``: relative paths of the video files and of every other file under
    ``src``, sorted; hidden entries (and the temporaries of an interrupted run) are skipped."""
    videos, others = [], []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            relative = Path(dirpath, name).relative_to(src)
            (videos if relative.suffix.lower() in VIDEO_EXTENSIONS else others).append(relative)
    return videos, others


def _check_options(out: Path, options: PrepareOptions) -> None:
    """Refuse to mix formats: ``out`` must be new or prepared with the same options."""
    record = out / OPTIONS_FILE
    wanted = asdict(options)
    if record.is_file():
        before = json.loads(record.read_text())
        if before != wanted:
            raise PrepareError(
                f"{out} was prepared with {before}, not {wanted}; use another OUT folder "
                f"or the same options to resume"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    _atomic_text(record, json.dumps(wanted, indent=1) + "\n")


def _atomic_text(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}{TEMP_MARK}")
    temp.write_text(text)
    os.replace(temp, path)


def _remove_temporaries(out: Path) -> None:
    """Delete what an interrupted run left half-written."""
    for dirpath, dirnames, filenames in os.walk(out):
        for name in [*dirnames, *filenames]:
            if name.startswith(".") and TEMP_MARK in name:
                target = Path(dirpath, name)
                shutil.rmtree(target) if target.is_dir() else target.unlink()


# --------------------------------------------------------------------------- one video
def prepare_video(source: Path, target: Path, options: PrepareOptions) -> Outcome:
    """Write ``target`` from ``source`` atomically; a bad source gives a ``bad`` outcome."""
    from f4d.data.decode import VideoDecodeError, open_video

    if target.exists():
        return Outcome(str(source), "skipped", "already prepared")
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}{TEMP_MARK}")
    try:
        with open_video(source, threads=1) as video:
            expected = video.info.num_frames
            frames = _until_broken(video.frames())
            size = output_size(video.info.height, video.info.width, options.short_side)
            if options.frames_dir:
                written = _write_jpegs(frames, temp, size, options, video.info.rotation)
            else:
                written = _write_video(frames, temp, size, options, target.suffix.lower(), video)
        if written != expected:
            raise VideoDecodeError(
                source, f"truncated: {written} of the {expected} frames it declares decode"
            )
        os.replace(temp, target)
    except (VideoDecodeError, av.error.FFmpegError, OSError) as err:
        _discard(temp)
        return Outcome(str(source), "bad", str(err))
    except BaseException:
        _discard(temp)
        raise
    return Outcome(str(source), "written", f"{written} frames, {size[1]}x{size[0]}")


def _discard(temp: Path) -> None:
    if temp.is_dir():
        shutil.rmtree(temp)
    elif temp.exists():
        temp.unlink()


def _until_broken(frames: Iterator[av.VideoFrame]) -> Iterator[av.VideoFrame]:
    """``frames`` up to a decoder error; the frame count then shows the file is truncated."""
    from f4d.data.decode import VideoDecodeError

    try:
        yield from frames
    except VideoDecodeError:
        return


def _write_video(
    frames: Iterator[av.VideoFrame],
    temp: Path,
    size: tuple[int, int],
    options: PrepareOptions,
    suffix: str,
    video,
) -> int:
    height, width = size
    fmt = "mp4" if suffix in MP4_EXTENSIONS else "matroska"
    count = 0
    with av.open(str(temp), "w", format=fmt) as container:
        rate = Fraction(video.stream.average_rate or video.stream.guessed_rate or 25)
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.thread_count = 1
        stream.options = {
            "crf": str(options.crf), "preset": "veryfast", "tune": "fastdecode",
            "x264-params": f"keyint={options.gop}:min-keyint={options.gop}:scenecut=0",
        }  # fmt: skip
        for frame in frames:
            scaled = _scaled_yuv(frame, (height, width), video.info.rotation)
            scaled.pts, scaled.time_base = count, 1 / rate
            scaled.pict_type = av.video.frame.PictureType.NONE
            container.mux(stream.encode(scaled))
            count += 1
        container.mux(stream.encode())
    return count


def _scaled_yuv(frame: av.VideoFrame, size: tuple[int, int], rotation: int) -> av.VideoFrame:
    """``frame`` scaled to the displayed ``size`` ``(height, width)`` in yuv420p, upright."""
    height, width = size
    if rotation % 360 == 0:
        return frame.reformat(width=width, height=height, format="yuv420p",
                              interpolation="BILINEAR")  # fmt: skip
    rgb = _scaled_rgb(frame, size, rotation)  # (height, width, 3)
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")


def _scaled_rgb(frame: av.VideoFrame, size: tuple[int, int], rotation: int) -> np.ndarray:
    """``frame`` scaled to the displayed ``size`` ``(height, width)``: uint8 ``(h, w, 3)``
    RGB, turned upright by ``rotation`` (degrees counter-clockwise, ``VideoInfo.rotation``)."""
    from f4d.data.decode import upright

    height, width = size
    if rotation % 180:  # stored on its side: scale to the sideways size, then turn
        height, width = width, height
    rgb = frame.to_ndarray(width=width, height=height, format="rgb24",
                           interpolation="BILINEAR")  # fmt: skip
    return upright(rgb, rotation)


def _write_jpegs(
    frames: Iterator[av.VideoFrame],
    temp: Path,
    size: tuple[int, int],
    options: PrepareOptions,
    rotation: int = 0,
) -> int:
    from PIL import Image

    temp.mkdir(parents=True, exist_ok=True)
    count = 0
    for count, frame in enumerate(frames, start=1):
        rgb = _scaled_rgb(frame, size, rotation)  # (h, w, 3)
        Image.fromarray(np.ascontiguousarray(rgb)).save(
            temp / f"{count:05d}.jpg", quality=options.jpeg_quality
        )
    return count


def _copy(source: Path, target: Path) -> Outcome:
    if target.exists():
        return Outcome(str(source), "skipped", "already copied")
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}{TEMP_MARK}")
    shutil.copyfile(source, temp)
    os.replace(temp, target)
    return Outcome(str(source), "copied")


def _job(args: tuple[Path, Path, PrepareOptions | None]) -> Outcome:
    """One file; an unexpected error is that file's outcome, not the end of the whole run."""
    source, target, options = args
    try:
        if options is None:
            return _copy(source, target)
        return prepare_video(source, target, options)
    except Exception as err:  # reported per file in the summary
        return Outcome(str(source), "bad", f"{type(err).__name__}: {err}")


# --------------------------------------------------------------------------- the folder
def prepare(
    src: str | Path,
    out: str | Path,
    options: PrepareOptions | None = None,
    *,
    workers: int | None = None,
    progress: Callable[[Outcome], None] | None = None,
) -> PrepareReport:
    """Prepare every video under ``src`` into ``out`` (see the module docstring).

    Args:
        src: the dataset root (``data.root``).
        out: the new root; created if needed; may hold a previous, interrupted run.
        options: sizes and codecs (default :class:`PrepareOptions`).
        workers: processes (default: one per available core); 0 runs in this process.
        progress: called with each finished file's :class:`Outcome`.

    Raises:
        MissingSourceError: ``src`` is not a folder.
        PrepareError: ``out`` lies inside ``src`` or was prepared with other options.
    """
    from f4d.data.dataset import available_cores

    src, out = Path(src), Path(out)
    options = options or PrepareOptions()
    if not src.is_dir():
        raise MissingSourceError(f"source folder not found: {src}")
    if out.resolve() == src.resolve() or src.resolve() in out.resolve().parents:
        raise PrepareError(f"OUT {out} must not be SRC {src} or lie inside it")
    _check_options(out, options)
    _remove_temporaries(out)
    videos, others = find_files(src)
    jobs = [(src / r, out / r, options) for r in videos]
    jobs += [(src / r, out / r, None) for r in others]
    report = PrepareReport()
    workers = available_cores() if workers is None else workers
    for outcome in _run(jobs, workers):
        report.outcomes.append(outcome)
        if progress is not None:
            progress(outcome)
    return report


def _run(jobs: list, workers: int) -> Iterator[Outcome]:
    if workers <= 0 or len(jobs) <= 1:
        yield from map(_job, jobs)
        return
    # Spawned, not forked: a forked child inherits the calling process's FFmpeg codec contexts
    # without their threads, and freeing one there waits forever for a thread that is gone.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield from pool.map(_job, jobs, chunksize=1)

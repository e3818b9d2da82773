"""``f4d data check``: scan every video of a split and list what would break training.

For each record: the file must exist and decode. A video file is decoded once, whole
(:func:`inspect_video`: one open, every packet demuxed, every video frame decoded, nothing
converted), which both counts its frames and judges it by the one definition
of *truncated* in :mod:`f4d.data.integrity`; a truncated file is reported as ``truncated``
with what it declares and what decodes ("truncated: decodes 3.07 s of a declared 10.38 s
(...)"). A frame folder is listed and its first and last frame read. A video shorter than one
action-unit snippet (``frames_per_unit * stride`` frames) is reported as ``short``: sampling
still works (it repeats frames), but the clip no longer has the configured stride.
Labels outside the class list are ``label`` problems. Classes without videos are notes, not
problems. Annotation errors (malformed rows, unknown labels) are raised by the parsers before
the scan starts.

Dataset descriptions can also come from a YAML file. ``f4d data check`` reads training configs
with the engine's loader (bases, overrides, validation); any other YAML file is read here: the
``data`` section (or the top level) with keys ``format``, ``root``, and optionally
``annotations``, ``train_list``, ``val_list``, ``classes``, ``train_unit_labels``,
``val_unit_labels``, ``split`` (the fold, 1-3), ``units``, ``frames``, ``stride``. Unknown keys
are ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from f4d.data.formats import DatasetIndex, VideoRecord

PROBLEM_KINDS = ("missing", "unreadable", "truncated", "short", "label")
# Kinds that training copes with (it repeats frames): reported, but not a failed check.
WARNING_KINDS = ("short",)


@dataclass(frozen=True)
class Problem:
    """One bad video: ``kind`` is one of :data:`PROBLEM_KINDS`."""

    path: str
    kind: str
    detail: str


@dataclass
class CheckReport:
    """What :func:`check_index` found."""

    checked: int
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    frame_counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No problem of any kind, warnings included."""
        return not self.problems

    @property
    def failed(self) -> bool:
        """A problem that is not only a warning (:data:`WARNING_KINDS`): exit code 1."""
        return any(p.kind not in WARNING_KINDS for p in self.problems)

    def counts(self) -> dict[str, int]:
        """Problems per kind, every kind listed."""
        return {k: sum(p.kind == k for p in self.problems) for k in PROBLEM_KINDS}


def check_record(
    record: VideoRecord,
    *,
    num_classes: int,
    min_frames: int,
    prober: Callable[[Path], Any],
    reader: Callable[[Path, Any], Any] | None = None,
) -> tuple[list[Problem], int | None]:
    """Check one video; return its problems and its frame count (``None`` if unreadable).

    ``prober(path)`` returns an info with ``num_frames`` and, for a truncated file,
    ``truncation``; ``reader(path, [0, last])``, when given, must then read the first and last
    frame (the extremes any segment sampling may ask for).
    """
    from f4d.data.decode import TruncatedVideoError, VideoDecodeError

    path = str(record.path)
    problems = []
    if not 0 <= record.label < num_classes:
        problems.append(Problem(path, "label", f"label {record.label} not in 0..{num_classes - 1}"))
    if not record.path.exists():
        return [*problems, Problem(path, "missing", "file or frame folder does not exist")], None
    try:
        info = prober(record.path)
        num_frames = int(info.num_frames)
        if reader is not None:
            reader(record.path, [0, num_frames - 1])
    except (VideoDecodeError, OSError) as err:
        kind = "truncated" if isinstance(err, TruncatedVideoError) else "unreadable"
        return [*problems, Problem(path, kind, str(err))], None
    truncation = getattr(info, "truncation", None)
    if truncation is not None:
        problems.append(Problem(path, "truncated", str(truncation)))
    elif num_frames < min_frames:
        detail = f"{num_frames} frames < {min_frames} (one unit snippet); frames will repeat"
        problems.append(Problem(path, "short", detail))
    return problems, num_frames


def inspect_video(path: Path) -> Any:
    """Open ``path`` once: count the frames that decode, truncation allowed
    (``info.truncation`` says why), and read a frame folder's first and last image."""
    from f4d.data.decode import FrameFolder, open_video

    with open_video(path, exact=True, allow_truncated=True) as video:
        if isinstance(video, FrameFolder):
            video.read([0, video.info.num_frames - 1])
        return video.info


def check_index(
    index: DatasetIndex,
    *,
    units: int = 4,
    frames_per_unit: int = 8,
    stride: int = 4,
    workers: int = 4,
    prober: Callable[[Path], Any] | None = None,
    reader: Callable[[Path, Any], Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> CheckReport:
    """Decode every video of ``index`` once (``workers`` threads); return a report.

    ``units`` is accepted for symmetry with training; only ``frames_per_unit * stride``
    decides what counts as short. ``progress(n)`` is called after each video. ``prober`` and
    ``reader`` replace the default, :func:`inspect_video` (one open per video).
    """
    report = CheckReport(checked=len(index))

    def one(record: VideoRecord) -> tuple[list[Problem], int | None]:
        result = check_record(
            record, num_classes=index.num_classes, min_frames=frames_per_unit * stride,
            prober=prober or inspect_video, reader=reader,
        )  # fmt: skip
        if progress is not None:
            progress(1)
        return result

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for record, (problems, num_frames) in zip(index.records, pool.map(one, index.records)):
            report.problems.extend(problems)
            if num_frames is not None:
                report.frame_counts[str(record.path)] = num_frames
    empty = [name for name, n in zip(index.classes, index.class_counts()) if n == 0]
    if empty:
        shown = ", ".join(empty[:10]) + (" ..." if len(empty) > 10 else "")
        report.notes.append(f"{len(empty)} of {index.num_classes} classes have no videos: {shown}")
    return report


# --------------------------------------------------------------------------- YAML configs
def read_data_config(path: Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The ``data`` section (or top level) of a YAML file as a plain dict.

    ``overrides`` are dotted ``key=value`` strings (``data.root=/data/x``) merged on top.
    """
    from omegaconf import OmegaConf

    loaded = OmegaConf.load(path)
    if overrides:
        loaded = OmegaConf.merge(loaded, OmegaConf.from_dotlist(list(overrides)))
    cfg = OmegaConf.to_container(loaded, resolve=True)
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    data = cfg.get("data", cfg)
    if not isinstance(data, dict) or "root" not in data:
        raise ValueError(f"{path}: needs data.root (and data.format, default 'csv')")
    return data

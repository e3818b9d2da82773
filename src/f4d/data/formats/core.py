"""The shared core of every dataset format: records, the index, reading list files, errors.

Every format module builds a :class:`DatasetIndex` of :class:`VideoRecord` rows with integer
labels ``0 .. len(classes) - 1`` from text alone (no video is opened), through the same pieces:
:func:`read_lines` / :func:`read_text` (UTF-8, errors naming file and line), :func:`class_list`
(an explicit class file, else ``classes.txt`` in the given folders), :class:`Labels` (name ->
index, unknown names an error at file:line) and :class:`Collector` (duplicates, root
containment, label range, missing files). A malformed row raises :class:`AnnotationError`
naming the file and the 1-based line number.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from f4d.data.media import VALIDATION_NAMES
from f4d.errors import InputError, OptionError

if TYPE_CHECKING:
    from f4d.data.formats.splits import SplitChoice

CLASS_FILE = "classes.txt"  # the class list any format may find next to its annotations
DEFAULT_FORMAT = "csv"  # a data config without ``format`` (as engine.config.DataConfig)


class AnnotationError(InputError, ValueError):
    """An annotation file (or the dataset tree it describes) is wrong; names file and line."""

    label = "annotation error"


class AnnotationFileNotFound(AnnotationError, FileNotFoundError):
    """A list or label file the format needs is not where it looked (names every place)."""


@dataclass(frozen=True)
class VideoRecord:
    """One labelled video: a file (or frame folder) and its class index.

    ``num_frames`` is filled when the annotation states it (otherwise the decoder probes);
    ``unit_labels`` holds one label per action unit when the dataset has them (synthetic data).
    """

    path: Path
    label: int
    num_frames: int | None = None
    unit_labels: tuple[int, ...] | None = None


@dataclass(frozen=True)
class DatasetIndex:
    """The parsed list of one split: ``records`` and the ordered class names.

    ``split``, when the index came through :func:`f4d.data.formats.load_split`, says which of
    the dataset's splits was read for the one asked for (e.g. ``test/`` for validation).
    """

    records: tuple[VideoRecord, ...]
    classes: tuple[str, ...]
    root: Path | None = None
    source: str = field(default="", compare=False)
    split: SplitChoice | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "records", tuple(self.records))
        object.__setattr__(self, "classes", tuple(self.classes))

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> VideoRecord:
        return self.records[i]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def missing_files(self) -> list[VideoRecord]:
        """Records whose video file or frame folder does not exist."""
        return [r for r in self.records if not r.path.exists()]

    def class_counts(self) -> list[int]:
        """Number of videos per class, in class order (labels out of range are not counted)."""
        counts = [0] * len(self.classes)
        for record in self.records:
            if 0 <= record.label < len(counts):
                counts[record.label] += 1
        return counts


# --------------------------------------------------------------------------- text
def read_lines(path: Path) -> list[tuple[int, str]]:
    """Return ``(line_number, text)`` for each non-blank line, stripped of CR/LF and spaces.

    Raises:
        AnnotationError: the file is missing or holds bytes that are not UTF-8.
    """
    text = read_text(path)
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def read_text(path: Path) -> str:
    """Read a UTF-8 file (a BOM is allowed); errors name the file and line of a bad byte."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise AnnotationFileNotFound(f"annotation file not found: {path}") from None
    except IsADirectoryError:
        raise AnnotationError(f"annotation path is a folder, expected a file: {path}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise AnnotationError(
            f"{path}:{line}: bytes that are not UTF-8 ({data[err.start : err.start + 4]!r})"
        ) from None


def fail(path: Path, line: int | None, message: str) -> AnnotationError:
    """The error for ``message`` at ``path:line`` (``path`` alone when ``line`` is None)."""
    where = f"{path}:{line}" if line is not None else str(path)
    return AnnotationError(f"{where}: {message}")


# --------------------------------------------------------------------------- classes
def read_class_file(path: Path) -> tuple[str, ...]:
    """Class names one per line (a label map, ``classes.txt``); index = line order.

    Duplicate names are an error.
    """
    names: list[str] = []
    seen: dict[str, int] = {}
    for number, name in read_lines(path):
        if name in seen:
            raise fail(path, number, f"duplicate class {name!r} (first on line {seen[name]})")
        seen[name] = number
        names.append(name)
    if not names:
        raise AnnotationError(f"{path}: no class names in file")
    return tuple(names)


def class_list(class_file: Path | None, folders: Iterable[Path]) -> Path | None:
    """The class file to use: ``class_file`` if given, else the first ``folders/classes.txt``.

    None when neither exists (the format then derives the classes from its rows).
    """
    if class_file is not None:
        return Path(class_file)
    for folder in folders:
        if (Path(folder) / CLASS_FILE).is_file():
            return Path(folder) / CLASS_FILE
    return None


class Labels:
    """Class name -> index of ``classes``; an unknown name is an error at file:line."""

    def __init__(self, classes: Sequence[str]) -> None:
        self.classes = tuple(classes)
        self._index = {name: i for i, name in enumerate(self.classes)}

    def __contains__(self, name: str) -> bool:
        return name in self._index

    def lookup(self, name: str, *, file: Path, line: int | None, unknown: str) -> int:
        """The index of ``name``; else raise ``file:line: <unknown>``."""
        if name not in self._index:
            raise fail(file, line, unknown)
        return self._index[name]


# --------------------------------------------------------------------------- records
class Collector:
    """Builds records while checking duplicates, root containment and label range."""

    def __init__(self, *, root: Path, classes: Sequence[str], allow_outside_root: bool) -> None:
        self.root = Path(root)
        self._abs_root = Path(os.path.abspath(self.root))
        self.classes = tuple(classes)
        self.allow_outside_root = allow_outside_root
        self.records: list[VideoRecord] = []
        self._seen: dict[str, tuple[Path, int | None]] = {}

    def add(
        self,
        relative: str | Path,
        label: int,
        *,
        file: Path,
        line: int | None,
        key: str | None = None,
        num_frames: int | None = None,
        unit_labels: tuple[int, ...] | None = None,
    ) -> None:
        """Add ``root/relative`` with ``label``; ``key`` (default the path) must be new."""
        key = str(relative) if key is None else key
        if key in self._seen:
            first_file, first_line = self._seen[key]
            raise fail(file, line, f"duplicate video {key!r} (first at {first_file}:{first_line})")
        self._seen[key] = (file, line)
        if not 0 <= label < len(self.classes):
            raise fail(file, line, f"label {label} outside 0..{len(self.classes) - 1}")
        path = self._resolve(relative, file=file, line=line)
        self.records.append(VideoRecord(path, label, num_frames, unit_labels))

    def _resolve(self, relative: str | Path, *, file: Path, line: int | None) -> Path:
        path = self.root / relative
        if not self.allow_outside_root:
            # Lexical check ("..", absolute paths); symlinks inside the root are allowed.
            absolute = Path(os.path.abspath(path))
            if absolute != self._abs_root and self._abs_root not in absolute.parents:
                raise fail(
                    file,
                    line,
                    f"video path {str(relative)!r} escapes the dataset root {self.root} "
                    "(pass allow_outside_root=True to permit it)",
                )
        return path

    def build(self, *, source: str, check_files: bool) -> DatasetIndex:
        """The index of the records added so far (``check_files``: every one must exist)."""
        index = DatasetIndex(tuple(self.records), self.classes, self.root, source)
        if check_files:
            require_files(index)
        return index


def require_files(index: DatasetIndex) -> None:
    """Raise :class:`AnnotationError` naming the missing videos of ``index`` (first 10)."""
    missing = index.missing_files()
    if missing:
        shown = "\n  ".join(str(r.path) for r in missing[:10])
        more = f"\n  ... and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise AnnotationError(
            f"{len(missing)} of {len(index)} listed videos do not exist ({index.source}):"
            f"\n  {shown}{more}"
        )


# --------------------------------------------------------------------------- where files are
def find_file(folders: Iterable[Path], names: Sequence[str], what: str) -> Path:
    """The first ``folder/name`` that is a file (folders outer, names inner), else an error."""
    folders = [Path(f) for f in folders]
    for folder in folders:
        for name in names:
            if (folder / name).is_file():
                return folder / name
    tried = ", ".join(str(f / n) for f in folders for n in names)
    raise AnnotationFileNotFound(f"{what} not found; looked for: {tried}")


def annotation_dirs(root: Path, annotations: Path | None, subfolders: Sequence[str]) -> list[Path]:
    """Where a format looks for its files: ``annotations`` alone if given, else the root,
    its ``subfolders`` and its parent."""
    if annotations is not None:
        return [Path(annotations)]
    root = Path(root)
    return [root, *(root / s for s in subfolders), root.parent]


# --------------------------------------------------------------------------- options
def check_fold(fold: int) -> None:
    """UCF101 and HMDB51 have folds 1, 2 and 3."""
    if fold not in (1, 2, 3):
        raise OptionError(f"fold must be 1, 2 or 3, got {fold!r}")


def check_split(split: str, allowed: Sequence[str], fmt: str) -> str:
    """``split`` in the format's own words (``val`` -> ``validation``), one of ``allowed``."""
    canonical = "validation" if split in VALIDATION_NAMES else split
    if canonical not in allowed:
        raise OptionError(f"{fmt}: unknown split {split!r}; valid: {', '.join(allowed)}")
    return canonical

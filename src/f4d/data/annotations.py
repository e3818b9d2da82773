"""Annotation parsers: native list files of the five benchmarks and a generic format.

Every parser returns a :class:`DatasetIndex` of :class:`VideoRecord` rows with integer labels
``0 .. len(classes) - 1``. Parsers only read text; they never open a video. A malformed row,
an unknown label, a duplicate video, or bytes that are not UTF-8 raise :class:`AnnotationError`
naming the file and the 1-based line number. Video paths are resolved against the dataset
root and must stay inside it unless ``allow_outside_root=True``; with ``check_files=True`` a
listed video that does not exist is an error too.

Use :func:`load_index` with a format name from :data:`FORMATS`, or call a parser directly.
Expected folder layouts, with worked examples, are in ``docs/datasets.md``.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from f4d.errors import InputError, OptionError

VIDEO_EXTENSIONS = (".mp4", ".avi", ".webm", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".ogv")
FRAME_EXTENSIONS = (".jpg", ".jpeg", ".png")


class AnnotationError(InputError, ValueError):
    """An annotation file (or the dataset tree it describes) is wrong; names file and line."""

    label = "annotation error"


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
    """The parsed list of one split: ``records`` and the ordered class names."""

    records: tuple[VideoRecord, ...]
    classes: tuple[str, ...]
    root: Path | None = None
    source: str = field(default="", compare=False)

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


# --------------------------------------------------------------------------- text helpers
def read_lines(path: Path) -> list[tuple[int, str]]:
    """Return ``(line_number, text)`` for each non-blank line, stripped of CR/LF and spaces.

    Raises:
        AnnotationError: the file is missing or holds bytes that are not UTF-8.
    """
    text = read_text(path)
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            rows.append((number, line.strip()))
    return rows


def read_text(path: Path) -> str:
    """Read a UTF-8 file (a BOM is allowed); errors name the file and line of a bad byte."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise AnnotationError(f"annotation file not found: {path}") from None
    except IsADirectoryError:
        raise AnnotationError(f"annotation path is a folder, expected a file: {path}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise AnnotationError(
            f"{path}:{line}: bytes that are not UTF-8 ({data[err.start : err.start + 4]!r})"
        ) from None


def read_class_file(path: Path) -> tuple[str, ...]:
    """Class names one per line (a label map, ``classes.txt``); index = line order.

    Duplicate names are an error.
    """
    names: list[str] = []
    seen: dict[str, int] = {}
    for number, name in read_lines(path):
        if name in seen:
            raise AnnotationError(
                f"{path}:{number}: duplicate class {name!r} (first on line {seen[name]})"
            )
        seen[name] = number
        names.append(name)
    if not names:
        raise AnnotationError(f"{path}: no class names in file")
    return tuple(names)


def _fail(path: Path, line: int | None, message: str) -> AnnotationError:
    where = f"{path}:{line}" if line is not None else str(path)
    return AnnotationError(f"{where}: {message}")


class _Collector:
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
        key = str(relative) if key is None else key
        if key in self._seen:
            first_file, first_line = self._seen[key]
            raise _fail(file, line, f"duplicate video {key!r} (first at {first_file}:{first_line})")
        self._seen[key] = (file, line)
        if not 0 <= label < len(self.classes):
            raise _fail(file, line, f"label {label} outside 0..{len(self.classes) - 1}")
        path = self._resolve(relative, file=file, line=line)
        self.records.append(VideoRecord(path, label, num_frames, unit_labels))

    def _resolve(self, relative: str | Path, *, file: Path, line: int | None) -> Path:
        path = self.root / relative
        if not self.allow_outside_root:
            # Lexical check ("..", absolute paths); symlinks inside the root are allowed.
            absolute = Path(os.path.abspath(path))
            if absolute != self._abs_root and self._abs_root not in absolute.parents:
                raise _fail(
                    file,
                    line,
                    f"video path {str(relative)!r} escapes the dataset root {self.root} "
                    "(pass allow_outside_root=True to permit it)",
                )
        return path

    def build(self, *, source: str, check_files: bool) -> DatasetIndex:
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


def _find_file(folders: Iterable[Path], names: Sequence[str], what: str) -> Path:
    folders = [Path(f) for f in folders]
    for folder in folders:
        for name in names:
            if (folder / name).is_file():
                return folder / name
    tried = ", ".join(str(f / n) for f in folders for n in names)
    raise AnnotationError(f"{what} not found; looked for: {tried}")


def _annotation_dirs(root: Path, annotations: Path | None, subfolders: Sequence[str]) -> list[Path]:
    if annotations is not None:
        return [Path(annotations)]
    root = Path(root)
    return [root, *(root / s for s in subfolders), root.parent]


def _check_fold(fold: int) -> None:
    if fold not in (1, 2, 3):
        raise OptionError(f"fold must be 1, 2 or 3, got {fold!r}")


def _check_split(split: str, allowed: Sequence[str], fmt: str) -> str:
    aliases = {"val": "validation", "valid": "validation", "validate": "validation"}
    canonical = aliases.get(split, split)
    if canonical not in allowed:
        raise OptionError(f"{fmt}: unknown split {split!r}; valid: {', '.join(allowed)}")
    return canonical


# --------------------------------------------------------------------------- UCF101
def load_ucf101(
    root: Path,
    *,
    split: str = "train",
    fold: int = 1,
    annotations: Path | None = None,
    check_files: bool = False,
    allow_outside_root: bool = False,
) -> DatasetIndex:
    """UCF101 from ``classInd.txt`` + ``trainlist0N.txt`` / ``testlist0N.txt``.

    Videos live at ``root/<Class>/v_<Class>_gXX_cYY.avi``. Train rows are ``Class/v_x.avi K``
    with ``K`` the 1-based ``classInd`` index (it must agree with the folder); test rows are
    ``Class/v_x.avi`` and take the label from the folder. CRLF line ends are accepted.
    """
    split = _check_split(split, ("train", "test"), "ucf101")
    _check_fold(fold)
    dirs = _annotation_dirs(root, annotations, ("ucfTrainTestlist",))
    class_file = _find_file(dirs, ("classInd.txt",), "UCF101 classInd.txt")
    classes = _read_class_ind(class_file)
    list_file = _find_file(dirs, (f"{split}list0{fold}.txt",), f"UCF101 {split}list0{fold}.txt")
    lookup = {name: i for i, name in enumerate(classes)}
    out = _Collector(root=root, classes=classes, allow_outside_root=allow_outside_root)
    for number, line in read_lines(list_file):
        rel, label = _ucf_row(line, split, lookup, classes, list_file, number)
        out.add(rel, label, file=list_file, line=number)
    return out.build(source=str(list_file), check_files=check_files)


def _read_class_ind(path: Path) -> tuple[str, ...]:
    classes: list[str] = []
    for number, line in read_lines(path):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise _fail(path, number, f"expected '<index> <ClassName>', got {line!r}")
        if int(parts[0]) != len(classes) + 1:
            raise _fail(
                path, number, f"class index {parts[0]} out of order, expected {len(classes) + 1}"
            )
        classes.append(parts[1])
    if not classes:
        raise _fail(path, None, "no classes in file")
    return tuple(classes)


def _ucf_row(
    line: str,
    split: str,
    lookup: dict[str, int],
    classes: Sequence[str],
    file: Path,
    number: int,
) -> tuple[str, int]:
    parts = line.split()
    expected = 2 if split == "train" else 1
    if len(parts) != expected:
        form = "'Class/v_x.avi K'" if split == "train" else "'Class/v_x.avi'"
        raise _fail(file, number, f"expected {form}, got {line!r}")
    rel = parts[0]
    folder = rel.split("/")[0] if "/" in rel else ""
    if folder not in lookup:
        raise _fail(file, number, f"unknown class folder {folder!r} in {rel!r}")
    label = lookup[folder]
    if split == "train":
        if not parts[1].isdigit() or not 1 <= int(parts[1]) <= len(classes):
            raise _fail(file, number, f"label {parts[1]!r} is not in 1..{len(classes)}")
        if int(parts[1]) - 1 != label:
            raise _fail(
                file,
                number,
                f"label {parts[1]} ({classes[int(parts[1]) - 1]}) disagrees with folder {folder!r}",
            )
    return rel, label


# --------------------------------------------------------------------------- HMDB51
_HMDB_SPLIT = re.compile(r"^(?P<cls>.+)_test_split(?P<fold>[123])\.txt$")
_HMDB_FLAGS = {"train": "1", "test": "2"}


def load_hmdb51(
    root: Path,
    *,
    split: str = "train",
    fold: int = 1,
    annotations: Path | None = None,
    class_file: Path | None = None,
    check_files: bool = False,
    allow_outside_root: bool = False,
) -> DatasetIndex:
    """HMDB51 from the 51 per-class ``<class>_test_split<fold>.txt`` files.

    Each row is ``<video>.avi <flag>`` with flag 1 = train, 2 = test, 0 = unused (skipped).
    Classes are the file-name prefixes sorted by name (the MMAction2 label map order), or the
    order of ``class_file`` (e.g. TSN's ``class_list.txt``, which must name exactly the same
    classes). Videos live at ``root/<class>/<video>.avi``.
    """
    split = _check_split(split, ("train", "test"), "hmdb51")
    _check_fold(fold)
    dirs = _annotation_dirs(root, annotations, ("testTrainMulti_7030_splits", "splits"))
    files = _hmdb_split_files(dirs, fold)
    classes = tuple(sorted(files))
    if class_file is not None:
        classes = read_class_file(class_file)
        if sorted(classes) != sorted(files):
            diff = sorted(set(classes) ^ set(files))
            raise _fail(Path(class_file), None, f"classes differ from the split files: {diff}")
    out = _Collector(root=root, classes=classes, allow_outside_root=allow_outside_root)
    wanted = _HMDB_FLAGS[split]
    for label, name in enumerate(classes):
        for number, line in read_lines(files[name]):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise _fail(files[name], number, f"expected '<video>.avi <0|1|2>', got {line!r}")
            if parts[1] == wanted:
                out.add(f"{name}/{parts[0]}", label, file=files[name], line=number)
    return out.build(source=f"{files[classes[0]].parent} fold {fold}", check_files=check_files)


def _hmdb_split_files(dirs: Sequence[Path], fold: int) -> dict[str, Path]:
    for folder in dirs:
        found = {}
        if folder.is_dir():
            for path in folder.iterdir():
                match = _HMDB_SPLIT.match(path.name)
                if match and int(match["fold"]) == fold:
                    found[match["cls"]] = path
        if found:
            return found
    tried = ", ".join(str(d) for d in dirs)
    raise AnnotationError(f"no HMDB51 '*_test_split{fold}.txt' files in: {tried}")


# --------------------------------------------------------------------------- Something-Something
def load_sthv1(
    root: Path,
    *,
    split: str = "train",
    annotations: Path | None = None,
    list_file: Path | None = None,
    check_files: bool = False,
    allow_outside_root: bool = False,
) -> DatasetIndex:
    """Something-Something v1: ``something-something-v1-{labels,train,validation}.csv``.

    The labels file lists one category per line (index = line order); split rows are
    ``<id>;<category name>``. Each video is a frame folder ``root/<id>/00001.jpg ...``.
    ``list_file`` names the split file directly (any file name).
    """
    split = _check_split(split, ("train", "validation"), "sthv1")
    dirs = _annotation_dirs(root, annotations, ("annotations",))
    label_file = _sth_file(dirs, 1, "labels", "csv")
    classes = read_class_file(label_file)
    list_file = Path(list_file) if list_file is not None else _sth_file(dirs, 1, split, "csv")
    lookup = {name: i for i, name in enumerate(classes)}
    out = _Collector(root=root, classes=classes, allow_outside_root=allow_outside_root)
    for number, line in read_lines(list_file):
        parts = line.split(";")
        if len(parts) != 2 or not parts[0].strip():
            raise _fail(list_file, number, f"expected '<id>;<label>', got {line!r}")
        video_id, name = parts[0].strip(), parts[1].strip()
        if name not in lookup:
            raise _fail(list_file, number, f"unknown label {name!r} (not in {label_file.name})")
        out.add(video_id, lookup[name], file=list_file, line=number)
    return out.build(source=str(list_file), check_files=check_files)


def load_sthv2(
    root: Path,
    *,
    split: str = "train",
    annotations: Path | None = None,
    list_file: Path | None = None,
    check_files: bool = False,
    allow_outside_root: bool = False,
) -> DatasetIndex:
    """Something-Something v2: ``something-something-v2-{labels,train,validation}.json``.

    The labels json maps ``{template without brackets: "index"}``. Split entries carry
    ``id`` and ``template`` (``"Putting [something] on [something]"``); the class is the
    template with the brackets removed. Videos are ``root/<id>.webm``. ``list_file`` names
    the split file directly (any file name).
    """
    split = _check_split(split, ("train", "validation"), "sthv2")
    dirs = _annotation_dirs(root, annotations, ("annotations", "labels"))
    label_file = _sth_file(dirs, 2, "labels", "json")
    classes = _sthv2_classes(label_file)
    list_file = Path(list_file) if list_file is not None else _sth_file(dirs, 2, split, "json")
    lookup = {name: i for i, name in enumerate(classes)}
    out = _Collector(root=root, classes=classes, allow_outside_root=allow_outside_root)
    for number, entry in json_array_lines(list_file):
        video_id, label = _sthv2_entry(entry, lookup, list_file, number)
        out.add(f"{video_id}.webm", label, file=list_file, line=number, key=video_id)
    return out.build(source=str(list_file), check_files=check_files)


def _sth_file(dirs: Sequence[Path], version: int, part: str, ext: str) -> Path:
    """``something-something-v<version>-<part>.<ext>`` (``part``: ``labels`` or a split) from
    the first of ``dirs`` that holds it."""
    name = f"something-something-v{version}-{part}.{ext}"
    return _find_file(dirs, (name,), f"sthv{version} {part} {ext}")


def _sthv2_classes(path: Path) -> tuple[str, ...]:
    mapping = _load_json(path)
    if not isinstance(mapping, dict) or not mapping:
        raise _fail(path, None, 'expected a non-empty object {name: "index"}')
    by_index: dict[int, str] = {}
    for name, value in mapping.items():
        if not str(value).isdigit():
            raise _fail(path, None, f"class {name!r} has index {value!r}, expected digits")
        if int(value) in by_index:
            raise _fail(path, None, f"index {value} used by {by_index[int(value)]!r} and {name!r}")
        by_index[int(value)] = name
    if sorted(by_index) != list(range(len(by_index))):
        raise _fail(path, None, f"indices must be 0..{len(by_index) - 1} without gaps")
    return tuple(by_index[i] for i in range(len(by_index)))


def _sthv2_entry(entry: object, lookup: dict[str, int], file: Path, number: int) -> tuple[str, int]:
    if not isinstance(entry, dict) or "id" not in entry or "template" not in entry:
        raise _fail(file, number, "entry needs 'id' and 'template' (test entries have no label)")
    video_id = str(entry["id"]).strip()
    if not video_id:
        raise _fail(file, number, "empty 'id'")
    name = str(entry["template"]).replace("[", "").replace("]", "")
    if name not in lookup:
        raise _fail(file, number, f"unknown template {entry['template']!r}")
    return video_id, lookup[name]


def _load_json(path: Path) -> object:
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise _fail(path, err.lineno, f"invalid JSON: {err.msg}") from None


def json_array_lines(path: Path) -> Iterator[tuple[int, object]]:
    """Yield ``(line_number, element)`` for each element of a top-level JSON array."""
    text = read_text(path)
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, 0)
    if pos >= len(text) or text[pos] != "[":
        raise _fail(path, text.count("\n", 0, pos) + 1, "expected a JSON array")
    pos = _skip_ws(text, pos + 1)
    if pos < len(text) and text[pos] == "]":
        return
    while True:
        line = text.count("\n", 0, pos) + 1
        try:
            element, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            raise _fail(path, err.lineno, f"invalid JSON: {err.msg}") from None
        yield line, element
        pos = _skip_ws(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
        elif pos < len(text) and text[pos] == "]":
            return
        else:
            raise _fail(path, text.count("\n", 0, pos) + 1, "expected ',' or ']' in JSON array")


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


# --------------------------------------------------------------------------- Kinetics-400
_K400_FILES = {
    "train": ("kinetics-400_train.csv", "kinetics400_train.csv", "train.csv"),
    "validation": ("kinetics-400_val.csv", "kinetics400_val.csv", "validate.csv", "val.csv"),
    "test": ("kinetics-400_test.csv", "kinetics400_test.csv", "test.csv"),
}
_K400_COLUMNS = ("label", "youtube_id", "time_start", "time_end")


def load_k400(
    root: Path,
    *,
    split: str = "train",
    annotations: Path | None = None,
    list_file: Path | None = None,
    class_file: Path | None = None,
    check_files: bool = False,
    allow_outside_root: bool = False,
) -> DatasetIndex:
    """Kinetics-400 from the csv ``label,youtube_id,time_start,time_end,split[,is_cc]``.

    A clip is ``<youtube_id>_<start:06d>_<end:06d>.mp4``, looked up (first match wins) in
    ``root/<split>/<label>/``, ``root/<split>/``, ``root/<label>/``, ``root/`` where the
    label folder may use spaces or underscores. Classes come from ``class_file`` (one name a
    line) or ``classes.txt`` in the annotation folder, else the sorted labels of the train
    csv, else of the csv itself.
    """
    split = _check_split(split, tuple(_K400_FILES), "k400")
    dirs = _annotation_dirs(root, annotations, ("annotations",))
    csv_file = Path(list_file) if list_file else _find_file(dirs, _K400_FILES[split], "k400 csv")
    rows = _k400_rows(csv_file)
    classes = _k400_classes(rows, dirs, class_file, csv_file)
    lookup = {name: i for i, name in enumerate(classes)}
    out = _Collector(root=root, classes=classes, allow_outside_root=allow_outside_root)
    for number, row in rows:
        if row["label"] not in lookup:
            raise _fail(csv_file, number, f"unknown label {row['label']!r}")
        rel = _k400_clip_path(Path(root), row)
        out.add(rel, lookup[row["label"]], file=csv_file, line=number, key=rel.name)
    return out.build(source=str(csv_file), check_files=check_files)


def _k400_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    lines = read_text(path).splitlines()
    reader = csv.reader(lines)
    header = [h.strip() for h in next(reader, [])]
    if not set(_K400_COLUMNS) <= set(header):
        raise _fail(path, 1, f"header must contain {','.join(_K400_COLUMNS)}, got {header}")
    rows = []
    for number, cells in enumerate(reader, start=2):
        if not cells or not "".join(cells).strip():
            continue
        if len(cells) != len(header):
            raise _fail(path, number, f"expected {len(header)} columns, got {len(cells)}")
        row = {h: c.strip() for h, c in zip(header, cells)}
        for key in ("time_start", "time_end"):
            if not re.fullmatch(r"\d+(\.0*)?", row[key]):
                raise _fail(path, number, f"{key} must be a whole number, got {row[key]!r}")
        if not row["youtube_id"] or not row["label"]:
            raise _fail(path, number, "empty label or youtube_id")
        rows.append((number, row))
    return rows


def _k400_classes(
    rows: list[tuple[int, dict[str, str]]],
    dirs: Sequence[Path],
    class_file: Path | None,
    csv_file: Path,
) -> tuple[str, ...]:
    if class_file is not None:
        return read_class_file(class_file)
    for folder in dirs:
        if (folder / "classes.txt").is_file():
            return read_class_file(folder / "classes.txt")
    for folder in dirs:
        for name in _K400_FILES["train"]:
            train = folder / name
            if train.is_file() and train.resolve() != csv_file.resolve():
                return tuple(sorted({row["label"] for _, row in _k400_rows(train)}))
    return tuple(sorted({row["label"] for _, row in rows}))


def _k400_clip_path(root: Path, row: dict[str, str]) -> Path:
    start, end = int(float(row["time_start"])), int(float(row["time_end"]))
    name = f"{row['youtube_id']}_{start:06d}_{end:06d}.mp4"
    label, split = row["label"], row.get("split", "")
    folders = [Path(split, label), Path(split, label.replace(" ", "_")), Path(split)]
    folders = [f for f in folders if split] + [Path(label), Path(label.replace(" ", "_")), Path()]
    for folder in folders:
        if (root / folder / name).exists():
            return folder / name
    return folders[0] / name


# --------------------------------------------------------------------------- generic
def load_folder(
    root: Path,
    *,
    class_file: Path | None = None,
    check_files: bool = False,
    allow_outside_root: bool = False,
) -> DatasetIndex:
    """One sub-folder per class: ``root/<class>/<video file or frame folder>``.

    Classes are the order of ``class_file`` (default ``root/classes.txt`` if present; then
    every sub-folder must be listed, and listed classes may lack a folder), else the sorted
    sub-folder names. Hidden entries are ignored.
    """
    root = Path(root)
    if not root.is_dir():
        raise AnnotationError(f"dataset folder not found: {root}")
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if class_file is None and (root / "classes.txt").is_file():
        class_file = root / "classes.txt"
    classes = read_class_file(class_file) if class_file is not None else tuple(folders)
    unknown = sorted(set(folders) - set(classes))
    if unknown:
        raise AnnotationError(f"{class_file}: class folders not listed: {unknown}")
    out = _Collector(root=root, classes=classes, allow_outside_root=allow_outside_root)
    for label, name in enumerate(classes):
        for entry in _folder_videos(root / name):
            out.add(entry.relative_to(root), label, file=root / name, line=None)
    if not out.records:
        raise AnnotationError(f"no videos found under {root} (classes: {list(classes)[:5]})")
    return out.build(source=str(root), check_files=check_files)


def _folder_videos(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [e for e in sorted(folder.iterdir()) if not e.name.startswith(".") and _is_video(e)]


def _is_video(entry: Path) -> bool:
    if entry.is_file():
        return entry.suffix.lower() in VIDEO_EXTENSIONS
    return entry.is_dir() and any(p.suffix.lower() in FRAME_EXTENSIONS for p in entry.iterdir())


def load_csv(
    csv_file: Path,
    *,
    root: Path | None = None,
    class_file: Path | None = None,
    units_file: Path | None = None,
    check_files: bool = False,
    allow_outside_root: bool = False,
) -> DatasetIndex:
    """Generic CSV ``path,label[,e0,e1,...]``; an optional header row starts with ``path``.

    ``label`` is a class name or a 0-based index. Classes come from ``class_file`` or
    ``classes.txt`` next to the csv (or in ``root``); without one, names are the sorted
    distinct labels (or ``"0".."K-1"`` for integer labels). Columns ``e0, e1, ...`` (or a
    companion ``<stem>_units.csv`` with ``path,e0,...``, as written by ``f4d synth``) give
    per-unit labels as integers. Paths are relative to ``root`` (default: the csv's folder).
    """
    csv_file = Path(csv_file)
    root = Path(root) if root is not None else csv_file.parent
    rows, unit_columns = _csv_rows(csv_file)
    classes = _csv_classes(rows, csv_file, root, class_file)
    units = _units_table(csv_file, units_file)
    lookup = {name: i for i, name in enumerate(classes)}
    out = _Collector(root=root, classes=classes, allow_outside_root=allow_outside_root)
    for number, cells in rows:
        label = _csv_label(cells[1], lookup, classes, csv_file, number)
        unit_labels = _int_tuple(cells[2:], csv_file, number) if unit_columns else None
        if units is not None:
            if cells[0] not in units:
                raise _fail(csv_file, number, f"{cells[0]!r} has no row in {units[None]}")
            unit_labels = units[cells[0]]
        out.add(cells[0], label, file=csv_file, line=number, unit_labels=unit_labels)
    return out.build(source=str(csv_file), check_files=check_files)


def _csv_rows(
    path: Path, leading: Sequence[str] = ("path", "label")
) -> tuple[list[tuple[int, list[str]]], bool]:
    reader = csv.reader(read_text(path).splitlines())
    rows: list[tuple[int, list[str]]] = []
    width = None
    unit_columns = False
    for number, cells in enumerate(reader, start=1):
        cells = [c.strip() for c in cells]
        if not "".join(cells):
            continue
        if number == 1 and cells[0].lower() == "path":
            unit_columns = _check_header(cells, path, leading)
            width = len(cells)
            continue
        width = width or len(cells)
        if len(cells) != width or len(cells) < len(leading) or not cells[0]:
            raise _fail(
                path, number, f"expected {width} columns '{','.join(leading)},...', got {cells}"
            )
        rows.append((number, cells))
    unit_columns = unit_columns or (width or 0) > len(leading)
    if not rows:
        raise _fail(path, None, "no rows")
    return rows, unit_columns


def _check_header(cells: list[str], path: Path, leading: Sequence[str]) -> bool:
    expected = [*leading, *(f"e{i}" for i in range(len(cells) - len(leading)))]
    if [c.lower() for c in cells] != expected:
        raise _fail(path, 1, f"header must be {','.join(expected)}, got {','.join(cells)}")
    return len(cells) > len(leading)


def _csv_classes(
    rows: list[tuple[int, list[str]]], csv_file: Path, root: Path, class_file: Path | None
) -> tuple[str, ...]:
    if class_file is not None:
        return read_class_file(class_file)
    for folder in (csv_file.parent, root):
        if (folder / "classes.txt").is_file():
            return read_class_file(folder / "classes.txt")
    labels = {cells[1] for _, cells in rows}
    if all(label.isdigit() for label in labels):
        return tuple(str(i) for i in range(max(int(label) for label in labels) + 1))
    return tuple(sorted(labels))


def _csv_label(
    value: str, lookup: dict[str, int], classes: Sequence[str], file: Path, number: int
) -> int:
    if value in lookup:
        return lookup[value]
    if value.isdigit() and int(value) < len(classes):
        return int(value)
    raise _fail(
        file,
        number,
        f"unknown label {value!r} ({len(classes)} classes: "
        f"{', '.join(list(classes)[:8])}{', ...' if len(classes) > 8 else ''})",
    )


def _int_tuple(cells: Sequence[str], file: Path, number: int) -> tuple[int, ...]:
    if not all(re.fullmatch(r"-?\d+", c) for c in cells):
        raise _fail(file, number, f"unit labels must be integers, got {list(cells)}")
    return tuple(int(c) for c in cells)


def _units_table(csv_file: Path, units_file: Path | None) -> dict | None:
    if units_file is None:
        candidate = csv_file.with_name(f"{csv_file.stem}_units.csv")
        if not candidate.is_file():
            return None
        units_file = candidate
    rows, _ = _csv_rows(Path(units_file), leading=("path",))
    table: dict = {None: Path(units_file)}
    for number, cells in rows:
        if cells[0] in table:
            raise _fail(units_file, number, f"duplicate video {cells[0]!r}")
        table[cells[0]] = _int_tuple(cells[1:], units_file, number)
    return table


# --------------------------------------------------------------------------- dispatch
def _load_generic_csv(root: Path, *, split: str = "train", **kwargs) -> DatasetIndex:
    root = Path(root)
    if root.is_file():
        return load_csv(root, **kwargs)
    return load_csv(root / f"{split}.csv", root=root, **kwargs)


def _load_generic_folder(root: Path, *, split: str = "train", **kwargs) -> DatasetIndex:
    """``root/<split>/<class>/...`` (classes from ``root/classes.txt`` if present, so every
    split gets the same labels) or ``root/<class>/...``."""
    root = Path(root)
    if (root / split).is_dir():
        if (root / "classes.txt").is_file() and not (root / split / "classes.txt").is_file():
            kwargs["class_file"] = root / "classes.txt"
        root = root / split
    return load_folder(root, **kwargs)


FORMATS: dict[str, Callable[..., DatasetIndex]] = {
    "csv": _load_generic_csv,
    "folder": _load_generic_folder,
    "ucf101": load_ucf101,
    "hmdb51": load_hmdb51,
    "sthv1": load_sthv1,
    "sthv2": load_sthv2,
    "k400": load_k400,
}


def load_index(
    fmt: str,
    root: Path,
    *,
    split: str = "train",
    fold: int = 1,
    annotations: Path | None = None,
    check_files: bool = False,
    allow_outside_root: bool = False,
) -> DatasetIndex:
    """Parse one split of a dataset given its format name (a key of :data:`FORMATS`).

    ``csv``: ``root`` is a csv file, or a folder holding ``<split>.csv``. ``folder``: ``root``
    (or ``root/<split>`` if it exists) has one sub-folder per class. ``fold`` (1-3) is only
    used by ``ucf101`` and ``hmdb51``. ``annotations`` overrides where list files are found:
    a folder, or the split's list file itself (``sthv1``, ``sthv2``, ``k400``; for ``ucf101``
    and ``hmdb51`` a file stands for its folder).
    """
    if fmt not in FORMATS:
        raise OptionError(f"unknown dataset format {fmt!r}; valid: {', '.join(FORMATS)}")
    kwargs: dict = {"check_files": check_files, "allow_outside_root": allow_outside_root}
    if fmt in ("ucf101", "hmdb51"):
        kwargs["fold"] = fold
    if fmt not in ("csv", "folder"):
        kwargs.update(_annotation_kwargs(fmt, annotations))
    elif annotations is not None:
        raise OptionError(f"format {fmt!r} takes no separate annotations folder")
    return FORMATS[fmt](Path(root), split=split, **kwargs)


def _annotation_kwargs(fmt: str, annotations: Path | None) -> dict:
    if annotations is None or not Path(annotations).is_file():
        return {"annotations": annotations}
    annotations = Path(annotations)
    if fmt in ("sthv1", "sthv2", "k400"):
        return {"annotations": annotations.parent, "list_file": annotations}
    return {"annotations": annotations.parent}

"""Kinetics-400: csv ``label,youtube_id,time_start,time_end,split[,is_cc]`` per split."""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path

from f4d.data.formats.core import (
    Collector,
    DatasetIndex,
    Labels,
    annotation_dirs,
    check_split,
    class_list,
    fail,
    find_file,
    read_class_file,
    read_text,
)
from f4d.data.formats.registry import register_format

_FILES = {
    "train": ("kinetics-400_train.csv", "kinetics400_train.csv", "train.csv"),
    "validation": ("kinetics-400_val.csv", "kinetics400_val.csv", "validate.csv", "val.csv"),
    "test": ("kinetics-400_test.csv", "kinetics400_test.csv", "test.csv"),
}
_COLUMNS = ("label", "youtube_id", "time_start", "time_end")
Row = tuple[int, dict[str, str]]


@register_format(
    "k400", splits=tuple(_FILES), validation=("validation",),
    options=("annotations", "list_file", "class_file"),
)  # fmt: skip
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
    split = check_split(split, tuple(_FILES), "k400")
    dirs = annotation_dirs(root, annotations, ("annotations",))
    csv_file = Path(list_file) if list_file else find_file(dirs, _FILES[split], "k400 csv")
    rows = _rows(csv_file)
    labels = Labels(_classes(rows, dirs, class_file, csv_file))
    out = Collector(root=root, classes=labels.classes, allow_outside_root=allow_outside_root)
    for number, row in rows:
        unknown = f"unknown label {row['label']!r}"
        label = labels.lookup(row["label"], file=csv_file, line=number, unknown=unknown)
        rel = _clip_path(Path(root), row)
        out.add(rel, label, file=csv_file, line=number, key=rel.name)
    return out.build(source=str(csv_file), check_files=check_files)


def _rows(path: Path) -> list[Row]:
    reader = csv.reader(read_text(path).splitlines())
    header = [h.strip() for h in next(reader, [])]
    if not set(_COLUMNS) <= set(header):
        raise fail(path, 1, f"header must contain {','.join(_COLUMNS)}, got {header}")
    rows = []
    for number, cells in enumerate(reader, start=2):
        if not cells or not "".join(cells).strip():
            continue
        if len(cells) != len(header):
            raise fail(path, number, f"expected {len(header)} columns, got {len(cells)}")
        row = {h: c.strip() for h, c in zip(header, cells)}
        for key in ("time_start", "time_end"):
            if not re.fullmatch(r"\d+(\.0*)?", row[key]):
                raise fail(path, number, f"{key} must be a whole number, got {row[key]!r}")
        if not row["youtube_id"] or not row["label"]:
            raise fail(path, number, "empty label or youtube_id")
        rows.append((number, row))
    return rows


def _classes(
    rows: list[Row], dirs: Sequence[Path], class_file: Path | None, csv_file: Path
) -> tuple[str, ...]:
    listed = class_list(class_file, dirs)
    if listed is not None:
        return read_class_file(listed)
    for folder in dirs:
        for name in _FILES["train"]:
            train = folder / name
            if train.is_file() and train.resolve() != csv_file.resolve():
                return tuple(sorted({row["label"] for _, row in _rows(train)}))
    return tuple(sorted({row["label"] for _, row in rows}))


def _clip_path(root: Path, row: dict[str, str]) -> Path:
    start, end = int(float(row["time_start"])), int(float(row["time_end"]))
    name = f"{row['youtube_id']}_{start:06d}_{end:06d}.mp4"
    label, split = row["label"], row.get("split", "")
    folders = [Path(split, label), Path(split, label.replace(" ", "_")), Path(split)]
    folders = [f for f in folders if split] + [Path(label), Path(label.replace(" ", "_")), Path()]
    for folder in folders:
        if (root / folder / name).exists():
            return folder / name
    return folders[0] / name

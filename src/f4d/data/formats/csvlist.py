"""Generic CSV lists: ``path,label[,e0,e1,...]``, one file per split (``train.csv``,
``val.csv``/``test.csv``), paths relative to the dataset root."""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path

from f4d.data.formats.core import (
    Collector,
    DatasetIndex,
    Labels,
    class_list,
    fail,
    read_class_file,
    read_text,
)
from f4d.data.formats.registry import register_format
from f4d.data.media import SPLIT_NAMES, VALIDATION_NAMES

Rows = list[tuple[int, list[str]]]


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
    rows, unit_columns = _rows(csv_file)
    labels = Labels(_classes(rows, csv_file, root, class_file))
    units = _units_table(csv_file, units_file)
    out = Collector(root=root, classes=labels.classes, allow_outside_root=allow_outside_root)
    for number, cells in rows:
        label = _label(cells[1], labels, csv_file, number)
        unit_labels = _int_tuple(cells[2:], csv_file, number) if unit_columns else None
        if units is not None:
            if cells[0] not in units:
                raise fail(csv_file, number, f"{cells[0]!r} has no row in {units[None]}")
            unit_labels = units[cells[0]]
        out.add(cells[0], label, file=csv_file, line=number, unit_labels=unit_labels)
    return out.build(source=str(csv_file), check_files=check_files)


def _rows(path: Path, leading: Sequence[str] = ("path", "label")) -> tuple[Rows, bool]:
    reader = csv.reader(read_text(path).splitlines())
    rows: Rows = []
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
            raise fail(
                path, number, f"expected {width} columns '{','.join(leading)},...', got {cells}"
            )
        rows.append((number, cells))
    unit_columns = unit_columns or (width or 0) > len(leading)
    if not rows:
        raise fail(path, None, "no rows")
    return rows, unit_columns


def _check_header(cells: list[str], path: Path, leading: Sequence[str]) -> bool:
    expected = [*leading, *(f"e{i}" for i in range(len(cells) - len(leading)))]
    if [c.lower() for c in cells] != expected:
        raise fail(path, 1, f"header must be {','.join(expected)}, got {','.join(cells)}")
    return len(cells) > len(leading)


def _classes(rows: Rows, csv_file: Path, root: Path, class_file: Path | None) -> tuple[str, ...]:
    listed = class_list(class_file, (csv_file.parent, root))
    if listed is not None:
        return read_class_file(listed)
    names = {cells[1] for _, cells in rows}
    if all(name.isdigit() for name in names):
        return tuple(str(i) for i in range(max(int(name) for name in names) + 1))
    return tuple(sorted(names))


def _label(value: str, labels: Labels, file: Path, number: int) -> int:
    """A class name, or a 0-based index below the class count."""
    classes = labels.classes
    if value not in labels and value.isdigit() and int(value) < len(classes):
        return int(value)
    unknown = (
        f"unknown label {value!r} ({len(classes)} classes: "
        f"{', '.join(list(classes)[:8])}{', ...' if len(classes) > 8 else ''})"
    )
    return labels.lookup(value, file=file, line=number, unknown=unknown)


def _int_tuple(cells: Sequence[str], file: Path, number: int) -> tuple[int, ...]:
    if not all(re.fullmatch(r"-?\d+", c) for c in cells):
        raise fail(file, number, f"unit labels must be integers, got {list(cells)}")
    return tuple(int(c) for c in cells)


def _units_table(csv_file: Path, units_file: Path | None) -> dict | None:
    if units_file is None:
        candidate = csv_file.with_name(f"{csv_file.stem}_units.csv")
        if not candidate.is_file():
            return None
        units_file = candidate
    rows, _ = _rows(Path(units_file), leading=("path",))
    table: dict = {None: Path(units_file)}
    for number, cells in rows:
        if cells[0] in table:
            raise fail(units_file, number, f"duplicate video {cells[0]!r}")
        table[cells[0]] = _int_tuple(cells[1:], units_file, number)
    return table


def csv_splits(root: Path) -> tuple[str, ...]:
    """The split lists ``<split>.csv`` in the folder ``root`` (none when ``root`` is a file)."""
    root = Path(root)
    return tuple(name for name in SPLIT_NAMES if (root / f"{name}.csv").is_file())


@register_format(
    "csv", splits=SPLIT_NAMES, validation=(*VALIDATION_NAMES, "test"),
    options=("list_file", "class_file", "units_file"), find_splits=csv_splits,
    split_pattern="{}.csv",
)  # fmt: skip
def load_csv_split(
    root: Path, *, split: str = "train", list_file: Path | None = None, **kwargs
) -> DatasetIndex:
    """``list_file`` if given, else ``root`` itself when it is a csv file, else
    ``root/<split>.csv``; video paths are relative to the folder ``root``."""
    root = Path(root)
    if list_file is not None:
        return load_csv(list_file, root=root, **kwargs)
    if root.is_file():
        return load_csv(root, **kwargs)
    return load_csv(root / f"{split}.csv", root=root, **kwargs)

"""Something-Something v1 (``;``-separated csv lists, frame folders) and v2 (json, webm).

Neither has labelled test rows: the ``validation`` lists serve as the held-out split.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

from f4d.data.formats.core import (
    Collector,
    DatasetIndex,
    Labels,
    annotation_dirs,
    check_split,
    fail,
    find_file,
    read_class_file,
    read_lines,
    read_text,
)
from f4d.data.formats.registry import register_format

SPLITS = ("train", "validation")
_OPTIONS = ("annotations", "list_file")


@register_format("sthv1", splits=SPLITS, validation=("validation",), options=_OPTIONS)
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
    split = check_split(split, SPLITS, "sthv1")
    dirs = annotation_dirs(root, annotations, ("annotations",))
    label_file = _sth_file(dirs, 1, "labels", "csv")
    labels = Labels(read_class_file(label_file))
    list_file = Path(list_file) if list_file is not None else _sth_file(dirs, 1, split, "csv")
    out = Collector(root=root, classes=labels.classes, allow_outside_root=allow_outside_root)
    for number, line in read_lines(list_file):
        parts = line.split(";")
        if len(parts) != 2 or not parts[0].strip():
            raise fail(list_file, number, f"expected '<id>;<label>', got {line!r}")
        video_id, name = parts[0].strip(), parts[1].strip()
        unknown = f"unknown label {name!r} (not in {label_file.name})"
        label = labels.lookup(name, file=list_file, line=number, unknown=unknown)
        out.add(video_id, label, file=list_file, line=number)
    return out.build(source=str(list_file), check_files=check_files)


@register_format("sthv2", splits=SPLITS, validation=("validation",), options=_OPTIONS)
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
    split = check_split(split, SPLITS, "sthv2")
    dirs = annotation_dirs(root, annotations, ("annotations", "labels"))
    labels = Labels(_sthv2_classes(_sth_file(dirs, 2, "labels", "json")))
    list_file = Path(list_file) if list_file is not None else _sth_file(dirs, 2, split, "json")
    out = Collector(root=root, classes=labels.classes, allow_outside_root=allow_outside_root)
    for number, entry in json_array_lines(list_file):
        video_id, label = _sthv2_entry(entry, labels, list_file, number)
        out.add(f"{video_id}.webm", label, file=list_file, line=number, key=video_id)
    return out.build(source=str(list_file), check_files=check_files)


def _sth_file(dirs: Sequence[Path], version: int, part: str, ext: str) -> Path:
    """``something-something-v<version>-<part>.<ext>`` (``part``: ``labels`` or a split) from
    the first of ``dirs`` that holds it."""
    name = f"something-something-v{version}-{part}.{ext}"
    return find_file(dirs, (name,), f"sthv{version} {part} {ext}")


def _sthv2_classes(path: Path) -> tuple[str, ...]:
    mapping = _load_json(path)
    if not isinstance(mapping, dict) or not mapping:
        raise fail(path, None, 'expected a non-empty object {name: "index"}')
    by_index: dict[int, str] = {}
    for name, value in mapping.items():
        if not str(value).isdigit():
            raise fail(path, None, f"class {name!r} has index {value!r}, expected digits")
        if int(value) in by_index:
            raise fail(path, None, f"index {value} used by {by_index[int(value)]!r} and {name!r}")
        by_index[int(value)] = name
    if sorted(by_index) != list(range(len(by_index))):
        raise fail(path, None, f"indices must be 0..{len(by_index) - 1} without gaps")
    return tuple(by_index[i] for i in range(len(by_index)))


def _sthv2_entry(entry: object, labels: Labels, file: Path, number: int) -> tuple[str, int]:
    if not isinstance(entry, dict) or "id" not in entry or "template" not in entry:
        raise fail(file, number, "entry needs 'id' and 'template' (test entries have no label)")
    video_id = str(entry["id"]).strip()
    if not video_id:
        raise fail(file, number, "empty 'id'")
    name = str(entry["template"]).replace("[", "").replace("]", "")
    unknown = f"unknown template {entry['template']!r}"
    return video_id, labels.lookup(name, file=file, line=number, unknown=unknown)


def _load_json(path: Path) -> object:
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise fail(path, err.lineno, f"invalid JSON: {err.msg}") from None


def json_array_lines(path: Path) -> Iterator[tuple[int, object]]:
    """Yield ``(line_number, element)`` for each element of a top-level JSON array."""
    text = read_text(path)
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, 0)
    if pos >= len(text) or text[pos] != "[":
        raise fail(path, text.count("\n", 0, pos) + 1, "expected a JSON array")
    pos = _skip_ws(text, pos + 1)
    if pos < len(text) and text[pos] == "]":
        return
    while True:
        line = text.count("\n", 0, pos) + 1
        try:
            element, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            raise fail(path, err.lineno, f"invalid JSON: {err.msg}") from None
        yield line, element
        pos = _skip_ws(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
        elif pos < len(text) and text[pos] == "]":
            return
        else:
            raise fail(path, text.count("\n", 0, pos) + 1, "expected ',' or ']' in JSON array")


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos

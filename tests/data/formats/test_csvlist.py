"""Generic csv lists: names and indices, unit labels (inline and companion file), bad rows."""

from __future__ import annotations

import pytest

from f4d.data.formats import (
    AnnotationError,
    load_csv,
    load_index,
)
from tests.data.formats.helpers import rel as _rel
from tests.data.formats.helpers import write as _write


def test_csv_names_indices_units_and_classes_file(tmp_path):
    _write(tmp_path / "classes.txt", "r-l-d-u\nl-r-u-d\n")
    _write(tmp_path / "train.csv", "path,label\nv/0.mp4,l-r-u-d\nv/1.mp4,0\n")
    _write(tmp_path / "train_units.csv", "path,e0,e1,e2,e3\nv/1.mp4,0,1,2,3\nv/0.mp4,1,0,3,2\n")
    index = load_index("csv", tmp_path, split="train")
    assert index.classes == ("r-l-d-u", "l-r-u-d")
    assert _rel(index, tmp_path) == [("v/0.mp4", 1), ("v/1.mp4", 0)]
    assert [r.unit_labels for r in index.records] == [(1, 0, 3, 2), (0, 1, 2, 3)]


def test_csv_inline_unit_columns_and_integer_classes(tmp_path):
    csv_file = _write(tmp_path / "lists" / "test.csv", "a.mp4,2,5,6\nb.mp4,0,7,8\n")
    index = load_csv(csv_file, root=tmp_path)
    assert index.classes == ("0", "1", "2")
    assert [(r.label, r.unit_labels) for r in index.records] == [(2, (5, 6)), (0, (7, 8))]
    assert index.records[0].path == tmp_path / "a.mp4"


@pytest.mark.parametrize(
    ("text", "message"),
    [("path,label\na.mp4,walk\nb.mp4,swim\n", "train.csv:3: unknown label 'swim'"),
     ("path,label\na.mp4,walk\nb.mp4\n", "train.csv:3: expected 2 columns"),
     ("path,label\na.mp4,walk\na.mp4,run\n", "train.csv:3: duplicate video 'a.mp4'"),
     ("path,lbl\na.mp4,walk\n", "train.csv:1: header must be path,label"),
     ("path,label,e0\na.mp4,walk,x\n", "train.csv:2: unit labels must be integers")],
)  # fmt: skip
def test_csv_bad_rows(tmp_path, text, message):
    _write(tmp_path / "classes.txt", "walk\nrun\n")
    _write(tmp_path / "train.csv", text)
    with pytest.raises(AnnotationError, match=message):
        load_index("csv", tmp_path / "train.csv")


def test_units_file_must_cover_every_row(tmp_path):
    _write(tmp_path / "train.csv", "a.mp4,0\nb.mp4,0\n")
    _write(tmp_path / "train_units.csv", "path,e0\na.mp4,1\n")
    with pytest.raises(AnnotationError, match=r"train.csv:2: 'b.mp4' has no row in .*units.csv"):
        load_csv(tmp_path / "train.csv")

"""Something-Something v1 and v2: the real v2 files, fake trees, bad rows and entries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from f4d.data.formats import (
    AnnotationError,
    load_index,
    load_sthv1,
    load_sthv2,
    read_class_file,
)
from tests.data.formats.helpers import rel as _rel
from tests.data.formats.helpers import write as _write


def test_real_sthv2_labels_and_validation_entries(realdata, tmp_path):
    ann = realdata / "annotations" / "ssv2"
    index = load_sthv2(
        tmp_path,
        split="validation",
        annotations=ann,
        list_file=ann / "something-something-v2-validation.first50.json",
    )
    assert (len(index), index.num_classes) == (50, 174)
    assert _rel(index, tmp_path)[0] == ("74225.webm", 140)  # "Spinning [something] that ..."
    assert _rel(index, tmp_path)[-1] == ("51945.webm", 36)  # "Moving [something] and ..."
    entries = json.loads((ann / "something-something-v2-validation.first50.json").read_text())
    for record, entry in zip(index.records, entries):
        template = entry["template"].replace("[", "").replace("]", "")
        assert index.classes[record.label] == template
    label_map = realdata / "annotations" / "mmaction2_tools_data" / "sthv2_label_map.txt"
    assert index.classes == read_class_file(label_map)


def _sthv1_tree(root: Path) -> None:
    _write(root / "something-something-v1-labels.csv", "Holding something\nPushing something\n")
    _write(
        root / "something-something-v1-train.csv", "100;Pushing something\n7;Holding something\n"
    )
    _write(root / "something-something-v1-validation.csv", "55;Holding something\n")


def test_sthv1_fake_tree(tmp_path):
    _sthv1_tree(tmp_path)
    assert _rel(load_sthv1(tmp_path, split="train"), tmp_path) == [("100", 1), ("7", 0)]
    assert _rel(load_sthv1(tmp_path, split="val"), tmp_path) == [("55", 0)]


@pytest.mark.parametrize(
    ("row", "message"),
    [("8;Dropping something", "train.csv:2: unknown label 'Dropping something'"),
     ("8", "train.csv:2: expected '<id>;<label>'"),
     ("100;Holding something", "train.csv:2: duplicate video '100'")],
)  # fmt: skip
def test_sthv1_bad_rows(tmp_path, row, message):
    _sthv1_tree(tmp_path)
    _write(tmp_path / "something-something-v1-train.csv", f"100;Pushing something\n{row}\n")
    with pytest.raises(AnnotationError, match=message):
        load_sthv1(tmp_path, split="train")


def _sthv2_tree(root: Path, entries: list[dict]) -> None:
    labels = {"Pushing something from left to right": "1", "Putting something on something": "0"}
    _write(root / "something-something-v2-labels.json", json.dumps(labels, indent=1))
    text = "[\n" + ",\n".join(json.dumps(e) for e in entries) + "\n]\n"
    _write(root / "something-something-v2-train.json", text)


def test_sthv2_fake_tree(tmp_path):
    entries = [
        {"id": "9", "template": "Putting [something] on [something]", "placeholders": ["a", "b"]},
        {"id": "12", "template": "Pushing [something] from left to right"},
    ]
    _sthv2_tree(tmp_path, entries)
    index = load_index("sthv2", tmp_path, split="train")
    assert index.classes == (
        "Putting something on something",
        "Pushing something from left to right",
    )
    assert _rel(index, tmp_path) == [("9.webm", 0), ("12.webm", 1)]


@pytest.mark.parametrize(
    ("bad", "message"),
    [({"id": "3", "template": "Licking [something]"}, "train.json:3: unknown template"),
     ({"id": "3"}, "train.json:3: entry needs 'id' and 'template'"),
     ({"id": "9", "template": "Putting [something] on [something]"}, "train.json:3: duplicate")],
)  # fmt: skip
def test_sthv2_bad_entries_name_line(tmp_path, bad, message):
    good = {"id": "9", "template": "Putting [something] on [something]"}
    _sthv2_tree(tmp_path, [good, bad])
    with pytest.raises(AnnotationError, match=message):
        load_sthv2(tmp_path, split="train")


def test_sthv2_invalid_json_names_line(tmp_path):
    _sthv2_tree(tmp_path, [])
    _write(tmp_path / "something-something-v2-train.json", '[\n{"id": "1",\n "template": }\n]')
    with pytest.raises(AnnotationError, match=r"train.json:3: invalid JSON"):
        load_sthv2(tmp_path, split="train")


def test_list_file_given_as_annotations(realdata, tmp_path):
    list_file = realdata / "annotations" / "ssv2" / "something-something-v2-validation.first50.json"
    index = load_index("sthv2", tmp_path, split="validation", annotations=list_file)
    assert (len(index), index.num_classes) == (50, 174)

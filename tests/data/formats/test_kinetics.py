"""Kinetics-400: the real csv excerpt, clip layouts, the train csv's classes, bad rows."""

from __future__ import annotations

import pytest

from f4d.data.formats import (
    AnnotationError,
    load_index,
    load_k400,
)
from tests.data.formats.helpers import rel as _rel
from tests.data.formats.helpers import write as _write


def test_real_kinetics_csv_excerpt(realdata, tmp_path):
    ann = realdata / "annotations"
    csv_file = ann / "kinetics400" / "kinetics-400_val.head51.csv"
    label_map = ann / "mmaction2_tools_data" / "kinetics_label_map_k400.txt"
    index = load_k400(tmp_path, split="val", list_file=csv_file, class_file=label_map)
    assert (len(index), index.num_classes) == (50, 400)
    assert {r.label for r in index.records} == {0}  # every row is "abseiling"
    assert _rel(index, tmp_path)[0] == ("val/abseiling/0wR5jVB-WPk_000417_000427.mp4", 0)
    assert _rel(index, tmp_path)[-1] == ("val/abseiling/__NrybzYzUg_000415_000425.mp4", 0)
    own = load_k400(tmp_path, split="val", list_file=csv_file)
    assert own.classes == ("abseiling",)


K400_CSV = """label,youtube_id,time_start,time_end,split,is_cc
"playing guitar",abc,5,15,train,0
abseiling,x-y_z,417,427,train,1
"air drumming",q1,0,10,train,0
"""


def test_k400_layouts_and_quoted_labels(tmp_path):
    _write(tmp_path / "kinetics-400_train.csv", K400_CSV)
    _write(tmp_path / "train" / "playing guitar" / "abc_000005_000015.mp4", "")
    _write(tmp_path / "train" / "x-y_z_000417_000427.mp4", "")  # root/<split>/
    _write(tmp_path / "air_drumming" / "q1_000000_000010.mp4", "")  # root/<label_>/
    index = load_index("k400", tmp_path, split="train", check_files=True)
    assert index.classes == ("abseiling", "air drumming", "playing guitar")
    assert _rel(index, tmp_path) == [
        ("train/playing guitar/abc_000005_000015.mp4", 2),
        ("train/x-y_z_000417_000427.mp4", 0),
        ("air_drumming/q1_000000_000010.mp4", 1),
    ]


def test_k400_val_uses_train_classes_and_reports_missing(tmp_path):
    _write(tmp_path / "kinetics-400_train.csv", K400_CSV)
    val = 'label,youtube_id,time_start,time_end,split\n"air drumming",v9,3,13,val\n'
    _write(tmp_path / "kinetics-400_val.csv", val)
    index = load_k400(tmp_path, split="val")
    assert index.classes == ("abseiling", "air drumming", "playing guitar")
    assert _rel(index, tmp_path) == [("val/air drumming/v9_000003_000013.mp4", 1)]
    with pytest.raises(AnnotationError, match=r"(?s)1 of 1 listed videos do not exist.*v9_000003"):
        load_k400(tmp_path, split="val", check_files=True)


@pytest.mark.parametrize(
    ("row", "message"),
    [("abseiling,a,x,10,train,0", "train.csv:3: time_start must be a whole number"),
     ("abseiling,a,1,10,train", "train.csv:3: expected 6 columns, got 5"),
     ("juggling,a,1,11,train,0", "train.csv:3: unknown label 'juggling'")],
)  # fmt: skip
def test_k400_bad_rows(tmp_path, row, message):
    header, first = K400_CSV.splitlines()[:2]
    _write(tmp_path / "kinetics-400_train.csv", f"{header}\n{first}\n{row}\n")
    _write(tmp_path / "classes.txt", "playing guitar\nabseiling\n")
    with pytest.raises(AnnotationError, match=message):
        load_k400(tmp_path, split="train")

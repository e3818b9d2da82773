"""UCF101: the real split-1 lists and a fake tree of every fold; bad rows name file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from f4d.data.formats import (
    AnnotationError,
    load_index,
    load_ucf101,
    read_class_file,
)
from tests.data.formats.helpers import rel as _rel
from tests.data.formats.helpers import write as _write


def test_real_ucf101_split1_every_row(realdata, tmp_path):
    ann = realdata / "annotations" / "ucf101_tsn"
    train = load_ucf101(tmp_path, split="train", fold=1, annotations=ann)
    test = load_ucf101(tmp_path, split="test", fold=1, annotations=ann)
    assert (len(train), len(test), train.num_classes) == (9537, 3783, 101)
    assert _rel(train, tmp_path)[0] == ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", 0)
    assert _rel(train, tmp_path)[-1] == ("YoYo/v_YoYo_g25_c05.avi", 100)
    assert _rel(test, tmp_path)[0] == ("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", 0)
    assert _rel(test, tmp_path)[-1] == ("YoYo/v_YoYo_g07_c04.avi", 100)
    assert min(train.class_counts()) > 0 and min(test.class_counts()) > 0
    assert not {r.path for r in train.records} & {r.path for r in test.records}
    label_map = realdata / "annotations" / "mmaction2_tools_data" / "ucf101_label_map.txt"
    assert train.classes == read_class_file(label_map)


def _ucf_tree(root: Path) -> Path:
    ann = root / "ucfTrainTestlist"
    _write(ann / "classInd.txt", "1 Archery\n2 YoYo\n", "\r\n")
    for fold in (1, 2, 3):
        train = f"Archery/v_Archery_g0{fold}_c01.avi 1\nYoYo/v_YoYo_g0{fold}_c01.avi 2\n"
        _write(ann / f"trainlist0{fold}.txt", train, "\r\n")
        _write(ann / f"testlist0{fold}.txt", f"YoYo/v_YoYo_g1{fold}_c02.avi\n", "\r\n")
    return ann


@pytest.mark.parametrize("fold", [1, 2, 3])
def test_ucf101_fake_tree_all_folds(tmp_path, fold):
    _ucf_tree(tmp_path)
    train = load_index("ucf101", tmp_path, split="train", fold=fold)
    test = load_index("ucf101", tmp_path, split="test", fold=fold)
    assert train.classes == ("Archery", "YoYo")
    assert _rel(train, tmp_path) == [
        (f"Archery/v_Archery_g0{fold}_c01.avi", 0),
        (f"YoYo/v_YoYo_g0{fold}_c01.avi", 1),
    ]
    assert _rel(test, tmp_path) == [(f"YoYo/v_YoYo_g1{fold}_c02.avi", 1)]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("Archery/v_a.avi 1 extra", "trainlist01.txt:2: expected 'Class/v_x.avi K'"),
        ("Archery/v_a.avi 2", "trainlist01.txt:2: label 2 (YoYo) disagrees with folder"),
        ("Archery/v_a.avi 7", "trainlist01.txt:2: label '7' is not in 1..2"),
        ("Bowling/v_a.avi 1", "trainlist01.txt:2: unknown class folder 'Bowling'"),
        ("YoYo/v_YoYo_g01_c01.avi 2", "trainlist01.txt:2: duplicate video"),
    ],
)
def test_ucf101_bad_rows_name_file_and_line(tmp_path, row, message):
    ann = _ucf_tree(tmp_path)
    _write(ann / "trainlist01.txt", f"YoYo/v_YoYo_g01_c01.avi 2\n{row}\n", "\r\n")
    with pytest.raises(AnnotationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_ucf101(tmp_path, split="train")


def test_non_utf8_bytes_name_line(tmp_path):
    ann = _ucf_tree(tmp_path)
    (ann / "testlist01.txt").write_bytes(b"YoYo/v_a.avi\r\nYoYo/v_\xff\xfe.avi\r\n")
    with pytest.raises(AnnotationError, match=r"testlist01.txt:2: bytes that are not UTF-8"):
        load_ucf101(tmp_path, split="test")


def test_missing_split_file_and_bad_fold(tmp_path):
    _ucf_tree(tmp_path)
    (tmp_path / "ucfTrainTestlist" / "testlist02.txt").unlink()
    with pytest.raises(AnnotationError, match=r"testlist02.txt not found"):
        load_ucf101(tmp_path, split="test", fold=2)
    with pytest.raises(ValueError, match="fold must be 1, 2 or 3, got 4"):
        load_ucf101(tmp_path, fold=4)
    with pytest.raises(ValueError, match="unknown split 'dev'; valid: train, test"):
        load_ucf101(tmp_path, split="dev")

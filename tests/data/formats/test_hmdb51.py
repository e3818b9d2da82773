"""HMDB51: the real split-1 files (TSN class order too) and a fake tree of every fold."""

from __future__ import annotations

from pathlib import Path

import pytest

from f4d.data.formats import (
    AnnotationError,
    load_hmdb51,
    read_class_file,
)
from tests.data.formats.helpers import rel as _rel
from tests.data.formats.helpers import write as _write


def test_real_hmdb51_split1_flags(realdata, tmp_path):
    ann = realdata / "annotations" / "hmdb51_tsn"
    train = load_hmdb51(tmp_path, split="train", fold=1, annotations=ann)
    test = load_hmdb51(tmp_path, split="test", fold=1, annotations=ann)
    # 6766 rows in the 51 files: 3570 flagged 1 (train), 1530 flagged 2 (test), 1666 unused.
    assert (len(train), len(test), train.num_classes) == (3570, 1530, 51)
    assert train.class_counts() == [70] * 51
    assert test.class_counts() == [30] * 51
    assert _rel(train, tmp_path)[-1] == ("wave/winKen_wave_u_cm_np1_ri_bad_1.avi", 50)
    assert _rel(test, tmp_path)[-1][1] == 50
    label_map = realdata / "annotations" / "mmaction2_tools_data" / "hmdb51_label_map.txt"
    assert train.classes == read_class_file(label_map)  # sorted names, as MMAction2
    # TSN's class_list.txt orders kick_ball before kick (trailing spaces in the file).
    tsn = load_hmdb51(tmp_path, fold=1, annotations=ann, class_file=ann / "class_list.txt")
    class_list = [line.strip() for line in (ann / "class_list.txt").read_text().splitlines()]
    assert list(tsn.classes) == class_list
    assert tsn.classes[20:22] == ("kick_ball", "kick")
    kick = [tsn.classes[r.label] for r in tsn.records if r.path.parent.name == "kick"]
    assert len(kick) == 70 and set(kick) == {"kick"}


def _hmdb_tree(root: Path) -> Path:
    ann = root / "testTrainMulti_7030_splits"
    for fold in (1, 2, 3):
        for name in ("kick_ball", "chew"):
            rows = [f"{name}_{i}.avi {(i + fold) % 3} " for i in range(6)]  # trailing space
            _write(ann / f"{name}_test_split{fold}.txt", "\n".join(rows) + "\n")
    return ann


@pytest.mark.parametrize("fold", [1, 2, 3])
def test_hmdb51_fake_tree_all_folds(tmp_path, fold):
    _hmdb_tree(tmp_path)
    train = load_hmdb51(tmp_path, split="train", fold=fold)
    test = load_hmdb51(tmp_path, split="test", fold=fold)
    assert train.classes == ("chew", "kick_ball")
    ones = [i for i in range(6) if (i + fold) % 3 == 1]
    twos = [i for i in range(6) if (i + fold) % 3 == 2]
    expected_train = [(f"{c}/{c}_{i}.avi", k) for k, c in enumerate(train.classes) for i in ones]
    expected_test = [(f"{c}/{c}_{i}.avi", k) for k, c in enumerate(train.classes) for i in twos]
    assert _rel(train, tmp_path) == expected_train
    assert _rel(test, tmp_path) == expected_test


def test_hmdb51_bad_flag(tmp_path):
    ann = _hmdb_tree(tmp_path)
    _write(ann / "chew_test_split1.txt", "a.avi 1 \nb.avi 3 \n")
    with pytest.raises(AnnotationError, match=r"chew_test_split1.txt:2: expected '<video>.avi"):
        load_hmdb51(tmp_path)

"""Annotation parsers: the real native files in ../shared/realdata and fake trees per format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from f4d.data.formats import (
    AnnotationError,
    load_csv,
    load_folder,
    load_hmdb51,
    load_index,
    load_k400,
    load_sthv1,
    load_sthv2,
    load_ucf101,
    read_class_file,
)


def _write(path: Path, text: str, newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode())
    return path


def _rel(index, root: Path) -> list[tuple[str, int]]:
    return [(r.path.relative_to(root).as_posix(), r.label) for r in index.records]


# --------------------------------------------------------------------------- real files
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


def test_real_mmaction2_label_maps(realdata):
    folder = realdata / "annotations" / "mmaction2_tools_data"
    counts = {
        "sthv1_label_map.txt": 174,
        "sthv2_label_map.txt": 174,
        "kinetics_label_map_k400.txt": 400,
        "ucf101_label_map.txt": 101,
        "hmdb51_label_map.txt": 51,
    }
    for name, count in counts.items():
        classes = read_class_file(folder / name)
        assert len(classes) == count, name
    assert read_class_file(folder / "kinetics_label_map_k400.txt")[:2] == (
        "abseiling",
        "air drumming",
    )


# --------------------------------------------------------------------------- UCF101 fake tree
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


# --------------------------------------------------------------------------- HMDB51 fake tree
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


# --------------------------------------------------------------------------- Something-Something
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


# --------------------------------------------------------------------------- Kinetics-400
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


# --------------------------------------------------------------------------- generic
def test_folder_format_with_frame_folders_and_class_order(tmp_path):
    _write(tmp_path / "walk" / "b.mp4", "")
    _write(tmp_path / "walk" / "a.avi", "")
    _write(tmp_path / "walk" / "notes.txt", "")
    _write(tmp_path / "run" / "clip7" / "00001.jpg", "")
    assert _rel(load_folder(tmp_path), tmp_path) == [
        ("run/clip7", 0), ("walk/a.avi", 1), ("walk/b.mp4", 1)
    ]  # fmt: skip
    _write(tmp_path / "classes.txt", "walk\nrun\n")
    index = load_index("folder", tmp_path)
    assert index.classes == ("walk", "run")
    assert _rel(index, tmp_path)[0] == ("walk/a.avi", 0)


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


def test_paths_may_not_escape_root(tmp_path):
    root = tmp_path / "data"
    _write(root / "train.csv", "../secret.mp4,0\n")
    with pytest.raises(AnnotationError, match=r"train.csv:1: video path '../secret.mp4' escapes"):
        load_csv(root / "train.csv")
    index = load_csv(root / "train.csv", allow_outside_root=True)
    assert index.records[0].path.resolve() == tmp_path / "secret.mp4"
    _write(root / "abs.csv", f"{tmp_path / 'x.mp4'},0\n")
    with pytest.raises(AnnotationError, match="escapes the dataset root"):
        load_csv(root / "abs.csv")


def test_units_file_must_cover_every_row(tmp_path):
    _write(tmp_path / "train.csv", "a.mp4,0\nb.mp4,0\n")
    _write(tmp_path / "train_units.csv", "path,e0\na.mp4,1\n")
    with pytest.raises(AnnotationError, match=r"train.csv:2: 'b.mp4' has no row in .*units.csv"):
        load_csv(tmp_path / "train.csv")


def test_unknown_format_lists_valid_names(tmp_path):
    with pytest.raises(
        ValueError, match="unknown dataset format 'avi'; valid: csv, folder, ucf101"
    ):
        load_index("avi", tmp_path)


def test_folder_splits_share_the_root_class_list(tmp_path):
    _write(tmp_path / "classes.txt", "a\nb\n")
    _write(tmp_path / "train" / "b" / "x.mp4", "")
    _write(tmp_path / "test" / "a" / "y.mp4", "")
    assert _rel(load_index("folder", tmp_path, split="train"), tmp_path / "train") == [
        ("b/x.mp4", 1)
    ]
    assert _rel(load_index("folder", tmp_path, split="test"), tmp_path / "test") == [("a/y.mp4", 0)]


def test_list_file_given_as_annotations(realdata, tmp_path):
    list_file = realdata / "annotations" / "ssv2" / "something-something-v2-validation.first50.json"
    index = load_index("sthv2", tmp_path, split="validation", annotations=list_file)
    assert (len(index), index.num_classes) == (50, 174)

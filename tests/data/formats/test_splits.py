"""The one split resolver (``val`` -> the held-out split); folder-layout mistakes (issue 27.6)."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from f4d.cli.main import main
from f4d.data.formats import (
    AnnotationError,
    SplitNotFoundError,
    index_from_config,
    load_folder,
    load_index,
    resolve_split,
)


def _videos(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")  # parsing never opens a video


@pytest.fixture
def mine(tmp_path) -> Path:
    """``mine/{train,test}/{closing,opening}/`` with two videos in each class folder."""
    for split in ("train", "test"):
        for cls in ("closing", "opening"):
            _videos(tmp_path / "mine" / split / cls, f"{split}_{cls}_1.mp4", f"{split}_{cls}_2.mp4")
    return tmp_path / "mine"


@pytest.mark.parametrize(
    ("fmt", "split", "name", "noted"),
    [
        ("ucf101", "val", "test", True),
        ("hmdb51", "validation", "test", True),
        ("sthv1", "val", "validation", False),
        ("sthv2", "validation", "validation", False),
        ("k400", "val", "validation", False),
        ("k400", "test", "test", False),
        ("ucf101", "train", "train", False),
        ("folder", "val", "val", False),  # a flat folder dataset: every split reads the root
    ],
)
def test_resolve_split_fixed_names(fmt, split, name, noted, tmp_path):
    choice = resolve_split(fmt, tmp_path, split)
    assert (choice.requested, choice.name, bool(choice.note)) == (split, name, noted)


def test_ucf101_note_says_the_test_list_validates(tmp_path):
    note = resolve_split("ucf101", tmp_path, "val").note
    assert note == "validation uses the test split (ucf101 has no val split)"


def test_folder_val_uses_test_and_says_so(mine):
    choice = resolve_split("folder", mine, "val")
    assert (choice.name, choice.note) == ("test", f"validation uses test/ ({mine} has no val/)")
    index = load_index("folder", mine, split="val")
    assert index.split == choice
    assert sorted(r.path.name for r in index.records) == [
        "test_closing_1.mp4", "test_closing_2.mp4", "test_opening_1.mp4", "test_opening_2.mp4",
    ]  # fmt: skip
    assert index.classes == ("closing", "opening")


def test_folder_prefers_val_over_test(mine):
    _videos(mine / "val" / "closing", "v.mp4")
    assert resolve_split("folder", mine, "validation").name == "val"


def test_misspelt_split_names_the_split_folders(mine):
    with pytest.raises(SplitNotFoundError) as caught:
        load_index("folder", mine, split="tset")
    assert str(caught.value) == (
        f"no split 'tset' in {mine}: its splits are train/, test/ (validation uses test/)"
    )
    assert caught.value.exit_code == 2 and isinstance(caught.value, FileNotFoundError)


def test_no_held_out_split_is_a_file_not_found(mine, tmp_path):
    (mine / "test").rename(tmp_path / "elsewhere")
    with pytest.raises(FileNotFoundError, match=r"no validation split in .*: its splits are "
                       r"train/ \(none is held out\)"):  # fmt: skip
        resolve_split("folder", mine, "val")


def test_csv_val_uses_test_csv(tmp_path):
    (tmp_path / "train.csv").write_text("a.mp4,x\n")
    (tmp_path / "test.csv").write_text("b.mp4,x\nc.mp4,y\n")
    index = load_index("csv", tmp_path, split="val")
    assert [r.path.name for r in index.records] == ["b.mp4", "c.mp4"]
    assert index.split.note == f"validation uses test.csv ({tmp_path} has no val.csv)"


def test_a_class_named_test_is_a_class(tmp_path):
    _videos(tmp_path / "test", "a.mp4")
    _videos(tmp_path / "train", "b.mp4")
    index = load_index("folder", tmp_path, split="val")
    assert index.classes == ("test", "train") and len(index) == 2


def test_class_folder_given_as_root_says_give_its_parent(mine):
    closing = mine / "train" / "closing"
    with pytest.raises(AnnotationError) as caught:
        load_index("folder", closing)
    assert str(caught.value) == (
        f"{closing} looks like one class folder: it holds 2 videos directly (train_closing_1.mp4, "
        f"train_closing_2.mp4); give its parent ({closing.parent}) as the dataset root, which "
        "holds one sub-folder per class"
    )


def test_frame_folder_given_as_root_says_so(tmp_path):
    _videos(tmp_path / "clip", "00001.jpg", "00002.jpg")
    with pytest.raises(AnnotationError, match=r"clip looks like one video's frame folder: it "
                       r"holds 2 images directly \(00001.jpg, 00002.jpg\)"):  # fmt: skip
        load_index("folder", tmp_path / "clip")


def test_split_dataset_given_to_load_folder_is_not_read_as_classes(mine):
    with pytest.raises(AnnotationError, match=r"holds split folders \(train/, test/\), not class"):
        load_folder(mine)


# --------------------------------------------------------------------------- data configs
def test_engine_and_data_check_resolve_alike(mine):
    """engine.loaders.load_split (an OmegaConf section) and index_from_config (a dict)."""
    from f4d.engine.loaders import load_split

    data = {"format": "folder", "root": str(mine)}
    by_engine = load_split(OmegaConf.create(data), "val")
    by_check = index_from_config(data, "val")
    assert by_engine == by_check and by_engine.split == by_check.split
    assert by_engine.split.note == f"validation uses test/ ({mine} has no val/)"


def test_config_classes_and_units_reach_the_csv_without_list_files(tmp_path):
    (tmp_path / "labels.txt").write_text("y\nx\n")
    (tmp_path / "train.csv").write_text("a.mp4,x\n")
    (tmp_path / "val.csv").write_text("b.mp4,y\n")
    index = index_from_config({"format": "csv", "root": str(tmp_path), "classes": "labels.txt"},
                              "val")  # fmt: skip
    assert index.classes == ("y", "x") and index.records[0].label == 0


def test_a_list_file_for_a_folder_dataset_is_a_config_error(mine):
    from f4d.errors import ConfigError

    data = {"format": "folder", "root": str(mine), "val_list": "val.txt"}
    with pytest.raises(ConfigError, match=r"data.val_list='val.txt': format 'folder' reads no "
                       r"list files \(its splits are <split>/ under data.root\)"):  # fmt: skip
        index_from_config(data, "val")
    assert len(index_from_config(data, "train")) == 4  # train_list is not set: fine


# --------------------------------------------------------------------------- the CLI
def test_data_check_val_on_split_folders_checks_test(mine, capsys):
    code = main(["data", "check", str(mine), "--split", "val"])
    out = capsys.readouterr().out
    assert f"note: validation uses test/ ({mine} has no val/)" in out
    assert "4 videos, 2 classes" in out and "'train'" not in out
    assert code == 1  # the empty stand-in files do not decode


def test_data_check_misspelt_split_exits_two(mine, capsys):
    assert main(["data", "check", str(mine), "--split", "tset"]) == 2
    err = capsys.readouterr().err
    assert (
        "no split 'tset'" in err and "its splits are train/, test/ (validation uses test/)" in err
    )


def test_data_check_class_folder_exits_four(mine, capsys):
    assert main(["data", "check", str(mine / "train" / "closing"), "--format", "folder"]) == 4
    err = capsys.readouterr().err
    assert "looks like one class folder: it holds 2 videos directly" in err
    assert f"give its parent ({mine / 'train'})" in err


def test_predict_a_folder_of_videos_says_give_the_files(mine, capsys):
    folder = mine / "test" / "closing"
    with pytest.raises(SystemExit) as exit_info:  # argparse refuses it before any work
        main(["predict", str(folder), "--checkpoint", "nowhere"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"{folder} is a folder of 2 videos (test_closing_1.mp4, test_closing_2.mp4)" in err
    assert f"give the video files themselves (e.g. {folder / 'test_closing_1.mp4'})" in err

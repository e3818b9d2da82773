"""``f4d data check``: exit codes and the printed table, on real videos linked into tmp trees."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from f4d.cli.main import main


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


@pytest.fixture
def folder_dataset(realdata, tmp_path) -> Path:
    videos = realdata / "videos"
    root = tmp_path / "ds"
    _link(videos / "human2bot_task5_0.webm", root / "push" / "p1.webm")
    _link(videos / "mmaction2_test.avi", root / "pull" / "q1.avi")
    return root


def test_clean_folder_exits_zero(folder_dataset, capsys):
    assert main(["data", "check", str(folder_dataset), "--frames", "4", "--stride", "4"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "2 videos, 2 classes" in out and "all videos readable" in out


def test_bad_videos_exit_one_with_a_table(folder_dataset, realdata, capsys):
    _link(realdata / "videos" / "decord_corrupted.mp4", folder_dataset / "push" / "bad.mp4")
    code = main(["data", "check", str(folder_dataset), "--frames", "8", "--stride", "8"])
    out = capsys.readouterr().out
    assert code == 1
    assert "bad videos" in out and "truncated" in out and "bad.mp4" in out
    assert "short" in out  # the 52-frame webm is shorter than 8 x 8 frames
    flat = " ".join(out.split())
    assert "unreadable 0, truncated 1, short 1" in flat
    assert "decodes 2.80 s of a declared 5.00 s" in flat  # decoding fails at frame 28 of 50


def test_csv_with_unknown_label_exits_four(tmp_path, capsys):
    (tmp_path / "classes.txt").write_text("push\n")
    (tmp_path / "train.csv").write_text("path,label\na.mp4,push\nb.mp4,pull\n")
    assert main(["data", "check", str(tmp_path)]) == 4  # train.csv found: csv format
    err = capsys.readouterr().err
    assert "annotation error:" in err and "train.csv:3: unknown label 'pull'" in err


def test_yaml_config_and_split(folder_dataset, tmp_path, capsys):
    (tmp_path / "val.csv").write_text("push/p1.webm,0\n")
    config = tmp_path / "cfg.yaml"
    config.write_text(
        f"data:\n  format: csv\n  root: {folder_dataset}\n  val_list: {tmp_path / 'val.csv'}\n"
        "  frames: 8\n  stride: 8\n"
    )
    # 52 < 64 frames: short, a warning only (issue 27 item 7): a clean set of short clips passes
    assert main(["data", "check", str(config), "--split", "val"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "short 1" in out and "the short ones are a warning" in out and "bad videos" not in out
    assert main(["data", "check", str(config), "--split", "val", "--stride", "2"]) == 0


def test_unknown_format_is_an_argparse_error(folder_dataset):
    with pytest.raises(SystemExit) as err:
        main(["data", "check", str(folder_dataset), "--format", "avi"])
    assert err.value.code == 2


def test_training_config_with_override(folder_dataset, tmp_path, capsys):
    (tmp_path / "train.csv").write_text("push/p1.webm,0\npull/q1.avi,1\n")
    config = tmp_path / "train.yaml"
    config.write_text("data:\n  format: csv\n  root: nowhere\n  frames: 4\n  stride: 2\n")
    args = ["data", "check", str(config), f"data.root={folder_dataset}",
            f"data.train_list={tmp_path / 'train.csv'}"]  # fmt: skip
    assert main(args) == 0
    assert "2 videos" in capsys.readouterr().out
    assert main(["data", "check", str(folder_dataset), "data.root=x"]) == 2


def test_cut_matroska_is_named_truncated_with_declared_and_decoded(
    folder_dataset, tmp_path, capsys, monkeypatch
):
    """A third of an mkv (a partial download) is no longer a good shorter video."""
    from tests.data.clips import cut_copy, write_clip

    whole = write_clip(tmp_path / "talk.mkv", "libx264", frames=30, audio=True)
    cut = cut_copy(whole, 1 / 3)
    _link(cut, folder_dataset / "pull" / "partial.mkv")
    monkeypatch.chdir(folder_dataset.parent)  # short relative paths: the table does not wrap
    assert main(["data", "check", folder_dataset.name, "--frames", "4", "--stride", "2"]) == 1
    flat = " ".join(capsys.readouterr().out.split())
    assert "3 videos, 2 classes; problems: 1 (missing 0, unreadable 0, truncated 1" in flat
    assert f"{folder_dataset.name}/pull/partial.mkv │ truncated" in flat
    assert re.search(r"truncated │ truncated: decodes \d\.\d\d s of a declared 3\.0\d s", flat)
    assert "[matroska,webm] File ended" in flat

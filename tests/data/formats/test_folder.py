"""Folder datasets: class folders, frame folders, classes.txt order, split folders."""

from __future__ import annotations

from f4d.data.formats import (
    load_folder,
    load_index,
)
from tests.data.formats.helpers import rel as _rel
from tests.data.formats.helpers import write as _write


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


def test_folder_splits_share_the_root_class_list(tmp_path):
    _write(tmp_path / "classes.txt", "a\nb\n")
    _write(tmp_path / "train" / "b" / "x.mp4", "")
    _write(tmp_path / "test" / "a" / "y.mp4", "")
    assert _rel(load_index("folder", tmp_path, split="train"), tmp_path / "train") == [
        ("b/x.mp4", 1)
    ]
    assert _rel(load_index("folder", tmp_path, split="test"), tmp_path / "test") == [("a/y.mp4", 0)]

"""The shared core: class files (the real MMAction2 label maps), root containment, formats."""

from __future__ import annotations

import pytest

from f4d.data.formats import (
    AnnotationError,
    load_csv,
    load_index,
    read_class_file,
)
from tests.data.formats.helpers import write as _write


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


def test_unknown_format_lists_valid_names(tmp_path):
    with pytest.raises(
        ValueError, match="unknown dataset format 'avi'; valid: csv, folder, ucf101"
    ):
        load_index("avi", tmp_path)

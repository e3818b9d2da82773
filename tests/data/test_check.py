"""Dataset scan (f4d data check) on real videos, frame folders, YAML configs; bench_data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from f4d.bench.data import bench_data
from f4d.data.check import check_index, read_data_config
from f4d.data.formats import DatasetIndex, VideoRecord, index_from_config


def _frame_folder(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(count):
        image = np.full((12, 16, 3), (6 * i) % 256, dtype=np.uint8)
        Image.fromarray(image).save(folder / f"{i + 1:05d}.jpg")
    return folder


def test_check_reports_each_kind_of_problem(realdata, tmp_path):
    videos = realdata / "videos"
    records = [
        VideoRecord(videos / "mmaction2_test.mp4", 0),
        VideoRecord(videos / "mmaction2_test.avi", 1),
        VideoRecord(videos / "human2bot_task5_0.webm", 0),
        VideoRecord(videos / "decord_video_0.mov", 1),  # 3 frames: short
        VideoRecord(videos / "decord_corrupted.mp4", 0),  # decoding stops at frame 28
        VideoRecord(tmp_path / "gone.mp4", 0),
        VideoRecord(_frame_folder(tmp_path / "clip", 40), 5),  # label outside 0..2
    ]
    index = DatasetIndex(records, ("a", "b", "never used"))
    report = check_index(index, frames_per_unit=8, stride=4, workers=2)
    assert not report.ok and report.checked == 7
    found = {(Path(p.path).name, p.kind) for p in report.problems}
    assert found == {
        ("decord_video_0.mov", "short"),
        ("decord_corrupted.mp4", "truncated"),
        ("gone.mp4", "missing"),
        ("clip", "label"),
    }
    assert report.counts() == {"missing": 1, "unreadable": 0, "truncated": 1, "short": 1,
                               "label": 1}  # fmt: skip
    detail = next(p.detail for p in report.problems if p.kind == "truncated")
    assert detail.startswith("truncated: decodes 2.80 s of a declared 5.00 s (")
    names = {Path(p).name: n for p, n in report.frame_counts.items()}
    assert names == {"mmaction2_test.mp4": 300, "mmaction2_test.avi": 164,
                     "human2bot_task5_0.webm": 52, "decord_video_0.mov": 3,
                     "clip": 40, "decord_corrupted.mp4": 28}  # fmt: skip
    assert report.notes == ["1 of 3 classes have no videos: never used"]


def test_clean_dataset_passes(realdata, tmp_path):
    records = [VideoRecord(realdata / "videos" / "human2bot_task5_0.webm", 0),
               VideoRecord(_frame_folder(tmp_path / "clip", 9), 1)]  # fmt: skip
    report = check_index(DatasetIndex(records, ("a", "b")), frames_per_unit=4, stride=2)
    assert report.ok and report.notes == []
    assert sorted(report.frame_counts.values()) == [9, 52]


def test_yaml_config_csv_lists(tmp_path):
    (tmp_path / "classes.txt").write_text("up\ndown\n")
    (tmp_path / "train.csv").write_text("path,label\nv/a.mp4,down\nv/b.mp4,up\n")
    (tmp_path / "val.csv").write_text("path,label\nv/c.mp4,up\n")
    config = tmp_path / "run.yaml"
    config.write_text(
        f"model:\n  name: f4d_r18\ndata:\n  format: csv\n  root: {tmp_path}\n"
        "  train_list: train.csv\n  val_list: val.csv\n  classes: classes.txt\n  frames: 4\n"
    )
    data = read_data_config(config)
    assert data["frames"] == 4
    train = index_from_config(data, split="train")
    assert [(r.path.name, r.label) for r in train.records] == [("a.mp4", 1), ("b.mp4", 0)]
    val = index_from_config(data, split="val")
    assert [(r.path.name, r.label) for r in val.records] == [("c.mp4", 0)]


def test_yaml_config_without_root_is_an_error(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("data:\n  format: csv\n")
    with pytest.raises(ValueError, match=r"needs data.root"):
        read_data_config(config)


def test_bench_data_measures_real_loading(realdata):
    records = [VideoRecord(realdata / "videos" / "human2bot_task5_0.webm", 0),
               VideoRecord(realdata / "videos" / "mmaction2_test.avi", 0)]  # fmt: skip
    result = bench_data(
        DatasetIndex(records, ("a",)), units=2, frames_per_unit=2, stride=2, size=32,
        workers=0, num_videos=3,
    )  # fmt: skip
    assert (result["videos"], result["loaded"], result["skipped"]) == (3, 3, 0)
    assert result["videos_per_s"] == pytest.approx(3 / result["seconds"])
    assert 0 < result["first_batch_s"] < result["seconds"]
    with pytest.raises(ValueError, match="num_videos >= 1"):
        bench_data(DatasetIndex(records, ("a",)), units=2, frames_per_unit=2, stride=2,
                   size=32, workers=0, num_videos=0)  # fmt: skip


def test_config_val_split_of_ucf101_is_its_test_list(realdata, tmp_path):
    ann = realdata / "annotations" / "ucf101_tsn"
    data = {"format": "ucf101", "root": str(tmp_path), "annotations": str(ann), "split": 1}
    assert len(index_from_config(data, split="val")) == 3783
    assert len(index_from_config(data, split="train")) == 9537


def test_check_opens_each_video_once(realdata, tmp_path, monkeypatch):
    import av

    names = ["mmaction2_test.avi", "human2bot_task5_0.webm", "decord_corrupted.mp4"]
    records = [VideoRecord(realdata / "videos" / n, 0) for n in names]
    opened: list[str] = []
    original = av.open

    def counting(file, *args, **kwargs):
        opened.append(str(file))
        return original(file, *args, **kwargs)

    monkeypatch.setattr(av, "open", counting)
    report = check_index(DatasetIndex(records, ("a",)), frames_per_unit=4, stride=2, workers=1)
    assert sorted(opened) == sorted(str(r.path) for r in records)  # once each, truncated too
    assert [p.kind for p in report.problems] == ["truncated"]

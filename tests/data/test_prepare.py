"""`f4d data prepare` on the shared real videos: names, frame counts, keyframes, pixels,
sampled indices, bad inputs, resuming and atomic writes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import f4d.data.prepare as prep
from f4d.cli.main import main
from f4d.data.dataset import VideoDataset
from f4d.data.decode import FrameFolder, VideoFile, open_video
from f4d.data.formats import load_csv
from f4d.data.prepare import PrepareError, PrepareOptions, output_size, prepare
from f4d.data.transforms import TrainTransform

GOOD = ["human2bot_task5_0.webm", "mmaction2_test.mp4", "mmaction2_test.avi", "decord_video_0.mov"]
BAD = "decord_corrupted.mp4"
SMALL = PrepareOptions(short_side=128, gop=8)  # smaller than the default 256: cheaper tests


def _source(root: Path, realdata: Path, names: list[str]) -> Path:
    """A dataset root: the real videos under ``clips/`` (symlinks) and a csv list."""
    (root / "clips").mkdir(parents=True)
    for name in names:
        (root / "clips" / name).symlink_to(realdata / "videos" / name)
    rows = "".join(f"clips/{n},{'ab'[i % 2]}\n" for i, n in enumerate(names))
    (root / "train.csv").write_text("path,label\n" + rows)
    return root


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, request) -> tuple[Path, Path, prep.PrepareReport]:
    from tests.conftest import REALDATA

    if not REALDATA.is_dir():
        pytest.skip(f"shared real data not found at {REALDATA}")
    base = tmp_path_factory.mktemp("prepare")
    src = _source(base / "src", REALDATA, [*GOOD, BAD])
    report = prepare(src, base / "out", SMALL, workers=2)
    return src, base / "out", report


def test_same_names_counts_sizes_and_keyframes(prepared):
    src, out, report = prepared
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        ".f4d-prepare.json", *sorted(f"clips/{n}" for n in GOOD), "train.csv"]  # fmt: skip
    assert (report.count("written"), report.count("copied"), report.count("bad")) == (4, 1, 1)
    for name in GOOD:
        with open_video(src / "clips" / name) as original, open_video(out / "clips" / name) as copy:
            assert copy.info.num_frames == original.info.num_frames
            assert (copy.info.height, copy.info.width) == output_size(
                original.info.height, original.info.width, 128
            )
            assert min(copy.info.height, copy.info.width) == 128
            keys = copy.keyframe_indices()
            assert keys == list(range(0, copy.info.num_frames, 8))
    # Every annotation format reads it with only the root changed.
    assert [r.path.name for r in load_csv(out / "train.csv", root=out).records] == [*GOOD, BAD]


def test_truncated_input_is_named_and_not_written(prepared):
    _, out, report = prepared
    (bad,) = report.bad
    assert bad.path.endswith(BAD) and "truncated: 28 of the 50 frames" in bad.detail
    assert not (out / "clips" / BAD).exists()


def test_pixels_differ_by_the_resize_and_encoding_only(prepared, tmp_path):
    src, out, _ = prepared
    lossless = prepare(src, tmp_path / "lossless", PrepareOptions(short_side=128, gop=8, crf=0),
                       workers=0)  # fmt: skip
    assert lossless.count("written") == 4
    for root, mean_bound, p99_bound in ((tmp_path / "lossless", 1.5, 12), (out, 3.5, 20)):
        for name in ("human2bot_task5_0.webm", "mmaction2_test.mp4"):
            with open_video(src / "clips" / name) as a, open_video(root / "clips" / name) as b:
                idx = np.linspace(0, a.info.num_frames - 1, 6).round().astype(int)
                copy = b.read(idx)
                frames = torch.from_numpy(a.read(idx)).permute(0, 3, 1, 2)
                resized = F.interpolate(
                    frames, size=copy.shape[1:3], mode="bilinear", antialias=True
                )
            diff = np.abs(resized.permute(0, 2, 3, 1).numpy().astype(int) - copy.astype(int))
            assert diff.mean() < mean_bound and np.percentile(diff, 99) <= p99_bound, (root, name)


def test_sampler_picks_the_same_indices_prepared_or_not(prepared, monkeypatch):
    src, out, _ = prepared
    seen: list[tuple[str, list[int]]] = []
    original = VideoFile.read

    def recording(self, indices, **kwargs):
        seen.append((self.path.name, np.asarray(indices).tolist()))
        return original(self, indices, **kwargs)

    monkeypatch.setattr(VideoFile, "read", recording)
    for root in (src, out):
        index = load_csv(root / "train.csv", root=root)
        dataset = VideoDataset(index, units=4, frames_per_unit=8, stride=4, mode="train",
                               transform=TrainTransform(size=32), seed=3)  # fmt: skip
        dataset.set_epoch(1)
        for i, name in enumerate([*GOOD, BAD]):
            if name != BAD:
                assert dataset[i]["video"].shape == (1, 4, 3, 8, 32, 32)
    half = len(seen) // 2
    assert half == len(GOOD) and seen[:half] == seen[half:]


def test_rerun_skips_finished_files_and_redoes_only_missing_ones(prepared, tmp_path):
    src, out, _ = prepared
    copy = tmp_path / "out"
    shutil.copytree(out, copy, symlinks=True)
    before = {p: p.stat().st_mtime_ns for p in copy.rglob("*") if p.is_file()}
    (copy / "clips" / "mmaction2_test.avi").unlink()
    stale = copy / "clips" / f".mmaction2_test.mp4{prep.TEMP_MARK}"
    stale.write_bytes(b"half a file from a killed run")
    report = prepare(src, copy, SMALL, workers=0)
    assert [o.path.rsplit("/", 1)[-1] for o in report.outcomes if o.status == "written"] == [
        "mmaction2_test.avi"]  # fmt: skip
    assert report.count("skipped") == len(GOOD) - 1 + 1  # 3 videos and the csv
    assert not stale.exists()
    for path, mtime in before.items():
        if path.name != "mmaction2_test.avi":
            assert path.stat().st_mtime_ns == mtime
    with pytest.raises(PrepareError, match="was prepared with"):
        prepare(src, copy, PrepareOptions(short_side=128, gop=4), workers=0)


def test_a_failed_write_leaves_neither_target_nor_temporary(tmp_path, realdata, monkeypatch):
    src = _source(tmp_path / "src", realdata, ["human2bot_task5_0.webm"])

    def dies(frames, temp, *args):
        temp.write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(prep, "_write_video", dies)
    with pytest.raises(KeyboardInterrupt):
        prepare(src, tmp_path / "out", SMALL, workers=0)
    assert sorted(os.listdir(tmp_path / "out" / "clips")) == []


def test_frame_folders_keep_the_file_name(tmp_path, realdata):
    src = _source(tmp_path / "src", realdata, ["human2bot_task5_0.webm"])
    options = PrepareOptions(short_side=128, frames_dir=True)
    assert prepare(src, tmp_path / "out", options, workers=0).count("written") == 1
    folder = tmp_path / "out" / "clips" / "human2bot_task5_0.webm"
    assert (
        sorted(os.listdir(folder))[:2] == ["00001.jpg", "00002.jpg"]
        and len(os.listdir(folder)) == 52
    )
    with open_video(folder) as video:
        assert isinstance(video, FrameFolder)
        assert (video.info.num_frames, video.info.height, video.info.width) == (52, 128, 228)


def test_options_and_paths_are_checked(tmp_path):
    with pytest.raises(PrepareError, match="short_side must be 0"):
        PrepareOptions(short_side=255)
    with pytest.raises(PrepareError, match="gop must be >= 1"):
        PrepareOptions(gop=0)
    with pytest.raises(prep.MissingSourceError, match="source folder not found"):
        prepare(tmp_path / "nope", tmp_path / "out")
    (tmp_path / "src").mkdir()
    with pytest.raises(PrepareError, match="must not be SRC"):
        prepare(tmp_path / "src", tmp_path / "src" / "out")
    assert output_size(240, 427, 256) == (240, 428)  # never enlarged; sides even
    assert output_size(720, 1280, 256) == (256, 456)


def test_cli_summarises_bad_inputs_and_exits_1(tmp_path, realdata, capsys):
    src = _source(tmp_path / "src", realdata, ["decord_video_0.mov", BAD])
    args = ["data", "prepare", str(src), str(tmp_path / "out"), "--short-side", "128",
            "--workers", "0"]  # fmt: skip
    assert main(args) == 1
    text = capsys.readouterr().out
    assert "1 written, 0 skipped, 1 copied, 1 bad in " in text and "files/s)" in text
    assert BAD in text and "truncated" in text
    assert main([*args[:-2], "--gop", "4", "--workers", "0"]) == 2
    assert "was prepared with" in capsys.readouterr().err

"""One open per video (f4d.data.decode.open_video): the counts and frames of probe/read_frames,
keyframe runs, open-once in the dataset."""

from __future__ import annotations

import av
import numpy as np
import pytest

from f4d.data.dataset import VideoDataset
from f4d.data.decode import (
    FrameFolder,
    TruncatedVideoError,
    VideoDecodeError,
    open_video,
    probe,
    read_frames,
)
from f4d.data.decode.video_file import VideoFile
from f4d.data.formats import DatasetIndex, VideoRecord
from f4d.data.transforms import TrainTransform
from tests.data.decode.test_reader import H264, REAL_VIDEOS, _write


@pytest.mark.parametrize("threads", [1, 0])
@pytest.mark.parametrize("name", sorted(REAL_VIDEOS))
def test_real_videos_give_the_counts_and_frames_of_the_plain_decoder(realdata, name, threads):
    path = realdata / "videos" / name
    with open_video(path, threads=threads) as video:
        assert video.info == probe(path)
        n = video.info.num_frames
        rng = np.random.default_rng(0)
        for indices in (rng.integers(0, n, size=(2, 3)), np.array([n - 1, 0, n // 2, n - 1])):
            np.testing.assert_array_equal(video.read(indices), read_frames(path, indices))


def test_keyframe_runs_restart_only_past_the_previous_run(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, size=(48, 32, 32, 3), dtype=np.uint8)
    path = _write(tmp_path / "noisy.mp4", noisy, "libx264", H264)  # keyframe every 4 frames
    full = read_frames(path, np.arange(48))
    with open_video(path) as video:
        runs = video.timeline.plan([1, 2, 3, 4, 5, 12, 14, 30, 47])
        starts = [video.timeline.index[r.start] for r in runs]
        # 4 is a keyframe after 3: a new run; 5 continues it (its keyframe 4 is already
        # decoded); 12 starts at itself, not at keyframe 8; 14 shares 12's run.
        assert starts == [0, 4, 12, 28, 44]
        assert [r.wanted for r in runs] == [(1, 2, 3), (4, 5), (12, 14), (30,), (47,)]
        decoded = []
        original = VideoFile._frames_from

        def counting(self, start, deadline, wanted):
            for frame in original(self, start, deadline, wanted):
                decoded.append(frame)
                yield frame

        monkeypatch.setattr(VideoFile, "_frames_from", counting)
        np.testing.assert_array_equal(video.read([42, 9, 41]), full[[42, 9, 41]])
    # 8, 9 and 40, 41, 42 at most (frames nothing refers to may be dropped): not 43 frames.
    assert {9, 41, 42} <= {round(f.pts * f.time_base * 12) for f in decoded}
    assert len(decoded) <= 2 + 3


def test_corrupted_real_video_reads_what_decodes_and_names_the_rest(realdata):
    path = realdata / "videos" / "decord_corrupted.mp4"
    with open_video(path) as video:
        assert video.info.num_frames == 50  # the header's claim
        assert video.read([0, 13, 27]).shape == (3, 720, 1280, 3)
        with pytest.raises(VideoDecodeError, match=r"truncated: frames \[30\]"):
            video.read([27, 30])
        with pytest.raises(ValueError, match="frame index 50 out of range"):
            video.read([50])


def test_frame_folder_and_bad_paths(tmp_path):
    from PIL import Image

    folder = tmp_path / "clip"
    folder.mkdir()
    for i in range(1, 12):
        Image.new("RGB", (8, 6), (i * 20, 0, 0)).save(folder / f"{i:05d}.png")
    with open_video(folder) as video:
        assert isinstance(video, FrameFolder) and video.info.num_frames == 11
        assert video.read([10, 0])[:, 0, 0, 0].tolist() == [220, 20]
    with pytest.raises(VideoDecodeError, match="file not found"):
        open_video(tmp_path / "missing.mp4")
    (tmp_path / "text.mp4").write_text("not a video")
    with pytest.raises(VideoDecodeError, match="not a readable video container"):
        open_video(tmp_path / "text.mp4")


def test_dataset_opens_each_video_once_and_matches_the_two_call_path(realdata, monkeypatch):
    names = ["human2bot_task5_0.webm", "mmaction2_test.avi", "decord_video_0.mov"]
    index = DatasetIndex(tuple(VideoRecord(realdata / "videos" / n, 0) for n in names), ("a",))
    settings = {"units": 2, "frames_per_unit": 3, "stride": 2, "mode": "train", "seed": 5}
    transform = TrainTransform(size=32, flip=True)
    plain = VideoDataset(index, transform=transform, reader=read_frames, prober=probe, **settings)
    expected = [plain[i]["video"] for i in range(len(index))]
    opened = []
    original = av.open

    def counting_open(*args, **kwargs):
        opened.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(av, "open", counting_open)
    fast = VideoDataset(index, transform=transform, **settings)
    for i in range(len(index)):
        assert fast[i]["video"].equal(expected[i])
    assert sorted(opened) == sorted(str(r.path) for r in index.records)  # once each


def test_a_cut_file_is_refused_at_open_as_probe_refuses_it(tmp_path):
    rng = np.random.default_rng(1)
    noisy = rng.integers(0, 256, size=(24, 32, 32, 3), dtype=np.uint8)
    whole = _write(tmp_path / "whole.mp4", noisy, "libx264", H264, movflags="faststart")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(TruncatedVideoError) as from_probe:
        probe(cut)
    with pytest.raises(TruncatedVideoError) as from_open:
        open_video(cut)
    assert str(from_open.value) == str(from_probe.value)
    with open_video(cut, allow_truncated=True) as video:
        assert video.info.truncation is not None and 0 < video.info.num_frames < 24
        assert video.read([0]).shape == (1, 32, 32, 3)


def _stream_growth(path) -> int:
    """tracemalloc's peak while streaming every frame of ``path``, over what the open held."""
    import tracemalloc

    with VideoFile(path) as video:
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            for _ in video.iter_frames():
                pass
            return tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()


def test_streaming_keeps_no_python_object_per_frame(tmp_path):
    # A 2-hour file has ~10^5 frames: a set or counter entry per frame (~100 bytes each)
    # made its peak memory grow with its length (issue 25). Four times the frames must not
    # raise the stream's own peak by more than a few bytes a frame.
    rng = np.random.default_rng(0)
    pattern = rng.integers(0, 255, size=(8, 16, 16, 3), dtype=np.uint8)
    short = _write(tmp_path / "short.mp4", np.tile(pattern, (40, 1, 1, 1)), "libx264", H264)
    long = _write(tmp_path / "long.mp4", np.tile(pattern, (160, 1, 1, 1)), "libx264", H264)
    _stream_growth(short)  # warm: first-use allocations of PyAV and numpy
    grown = _stream_growth(long) - _stream_growth(short)
    assert grown < 4 * (1280 - 320), f"streaming peak grew by {grown} bytes for 960 more frames"

"""The one reader (f4d.data.decode): real videos, tiny generated clips, frame folders, errors."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from f4d.data.decode import TruncatedVideoError, VideoDecodeError, VideoInfo, probe, read_frames
from f4d.data.decode.video_file import VideoFile

# name -> (frames, fps, width, height), from the shared real-data README.
REAL_VIDEOS = {
    "mmaction2_test.mp4": (300, 30.0, 340, 256),
    "mmaction2_test.avi": (164, 25.0, 320, 240),
    "decord_video_0.mov": (3, 30.0, 568, 320),
    "human2bot_task5_0.webm": (52, 12.0, 427, 240),
}
CORRUPTED = "decord_corrupted.mp4"  # header: 50 frames; 28 decode, then an error


def _solid_colours(count: int, size: int = 32) -> np.ndarray:
    """``(count, size, size, 3)`` uint8 clip, one distinct flat colour per frame."""
    k = np.arange(count)
    colours = np.stack([(40 + 9 * k) % 256, (220 - 7 * k) % 256, (60 + 23 * k) % 256], axis=1)
    return np.broadcast_to(colours[:, None, None, :], (count, size, size, 3)).astype(np.uint8)


def _write(path: Path, frames: np.ndarray, codec: str, options: dict, **container_options) -> Path:
    with av.open(str(path), "w", options=container_options) as container:
        stream = container.add_stream(codec, rate=12, options=options)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        for array in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
        container.mux(stream.encode())
    return path


H264 = {"crf": "8", "preset": "veryfast", "x264-params": "keyint=4:min-keyint=4:scenecut=0"}
VP9 = {"crf": "8", "b:v": "0", "g": "4", "deadline": "realtime", "cpu-used": "8"}


# ---------------------------------------------------------------- real videos


@pytest.mark.parametrize("name", sorted(REAL_VIDEOS))
def test_real_video_decodes_fully_and_seeks_exactly(realdata, name):
    num_frames, fps, width, height = REAL_VIDEOS[name]
    path = realdata / "videos" / name
    assert probe(path) == VideoInfo(num_frames, fps, width, height)
    assert probe(path, exact=True).num_frames == num_frames
    full = read_frames(path, np.arange(num_frames))
    assert full.shape == (num_frames, height, width, 3)
    assert full.dtype == np.uint8
    assert full.std() > 5  # real picture content, not a blank buffer
    rng = np.random.default_rng(0)
    index_sets = [rng.integers(0, num_frames, size=6) for _ in range(3)]
    index_sets.append(np.array([num_frames - 1, 0, num_frames // 2, num_frames - 1]))
    if num_frames == 300:  # the mp4's second keyframe is frame 235
        index_sets += [np.array([236, 240, 299]), np.array([234, 235])]
    for indices in index_sets:
        np.testing.assert_array_equal(read_frames(path, indices), full[indices])


def test_corrupted_real_video_follows_the_policy(realdata):
    path = realdata / "videos" / CORRUPTED
    assert probe(path).num_frames == 50  # the header's claim; every packet is there
    with pytest.raises(TruncatedVideoError, match=r"decodes 2\.80 s of a declared 5\.00 s"):
        probe(path, exact=True)  # decoding shows the stream ends early
    info = probe(path, exact=True, allow_truncated=True)
    assert info.num_frames == 28 and info.truncation is not None  # what decodes
    assert "the decoder failed at 2.80 s" in info.truncation.evidence
    frames = read_frames(path, [0, 13, 27])
    assert frames.shape == (3, 720, 1280, 3)
    with pytest.raises(TruncatedVideoError, match=r"truncated: frames \[30\]") as info:
        read_frames(path, [27, 30])
    assert info.value.path == str(path)
    with pytest.raises(ValueError, match="frame index 50 out of range"):
        read_frames(path, [50])


# ---------------------------------------------------------------- generated clips


@pytest.mark.parametrize(
    ("suffix", "codec", "options"), [(".mp4", "libx264", H264), (".webm", "libvpx-vp9", VP9)]
)
def test_generated_clip_pixels_match(tmp_path, suffix, codec, options):
    colours = _solid_colours(20)
    path = _write(tmp_path / f"clip{suffix}", colours, codec, options)
    assert probe(path) == VideoInfo(20, 12.0, 32, 32)
    indices = np.array([7, 2, 7, 0, 19, 13, 13])
    frames = read_frames(path, indices)
    error = np.abs(frames.astype(int) - colours[indices].astype(int))
    assert error.max() <= 6


def test_seek_decodes_only_the_frames_needed(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, size=(48, 32, 32, 3), dtype=np.uint8)
    path = _write(tmp_path / "noisy.mp4", noisy, "libx264", H264)
    full = read_frames(path, np.arange(48))
    decoded = []
    original = VideoFile._frames_from

    def counting(*args, **kwargs):
        for frame in original(*args, **kwargs):
            decoded.append(frame)
            yield frame

    monkeypatch.setattr(VideoFile, "_frames_from", counting)
    np.testing.assert_array_equal(read_frames(path, [42, 41]), full[[42, 41]])
    assert len(decoded) <= 4  # keyframe 40, then 41, 42 (keyint 4), not 43 frames


def test_two_dimensional_indices_are_read_in_c_order(tmp_path):
    colours = _solid_colours(12)
    path = _write(tmp_path / "clip.mp4", colours, "libx264", H264)
    indices = np.array([[0, 3], [6, 9]])
    frames = read_frames(path, indices)
    assert frames.shape == (4, 32, 32, 3)
    assert np.abs(frames.astype(int) - colours[[0, 3, 6, 9]].astype(int)).max() <= 6


def test_truncated_file_raises_when_missing_frames_are_asked(tmp_path):
    rng = np.random.default_rng(1)
    noisy = rng.integers(0, 256, size=(24, 32, 32, 3), dtype=np.uint8)
    whole = _write(tmp_path / "whole.mp4", noisy, "libx264", H264, movflags="faststart")
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    for call in (lambda: probe(cut), lambda: read_frames(cut, [0])):
        with pytest.raises(TruncatedVideoError, match=r"cut\.mp4: truncated.*bytes"):
            call()  # the header still promises 24 frames; the mdat box more bytes
    info = probe(cut, allow_truncated=True)
    assert 0 < info.num_frames < 24 and info.truncation is not None  # what decodes
    assert read_frames(cut, [0], allow_truncated=True).shape == (1, 32, 32, 3)
    with pytest.raises(TruncatedVideoError, match="truncated: frames"):
        read_frames(cut, [23], allow_truncated=True)


def test_timeout_stops_a_slow_decode(realdata):
    with pytest.raises(VideoDecodeError, match="time limit"):
        read_frames(realdata / "videos" / "mmaction2_test.avi", [163], timeout_s=1e-9)


# ---------------------------------------------------------------- frame folders


def test_frame_folder_in_natural_order(tmp_path):
    colours = _solid_colours(12, size=8)
    for i, colour in enumerate(colours, start=1):  # 1.png .. 12.png: natural, not text order
        Image.fromarray(colour).save(tmp_path / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not a frame")
    assert probe(tmp_path) == VideoInfo(12, 0.0, 8, 8)
    frames = read_frames(tmp_path, [11, 1, 9, 1])
    np.testing.assert_array_equal(frames, colours[[11, 1, 9, 1]])


def test_sthv1_style_jpeg_folder(tmp_path):
    colours = _solid_colours(5, size=16)
    for i, colour in enumerate(colours, start=1):
        Image.fromarray(colour).save(tmp_path / f"{i:05d}.jpg", quality=95)
    frames = read_frames(tmp_path, np.arange(5))
    assert frames.shape == (5, 16, 16, 3)
    assert np.abs(frames.astype(int) - colours.astype(int)).max() <= 4


def test_frame_folder_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(VideoDecodeError, match="holds no images"):
        probe(empty)
    bad = tmp_path / "bad"
    bad.mkdir()
    Image.fromarray(_solid_colours(1, size=8)[0]).save(bad / "00001.jpg")
    (bad / "00002.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(VideoDecodeError, match=r"unreadable frame 00002\.jpg"):
        read_frames(bad, [0, 1])
    with pytest.raises(ValueError, match="frame index 2 out of range"):
        read_frames(bad, [2])


# ---------------------------------------------------------------- bad inputs


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate = 16000
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def _zero_frames(path: Path) -> Path:
    container = av.open(str(path), "w", format="avi")
    stream = container.add_stream("mpeg4", rate=12)
    stream.width = stream.height = 32
    container.start_encoding()
    container.close()
    return path


BAD_FILES = {
    "missing.mp4": (lambda path: None, "file not found"),
    "empty.mp4": (lambda path: path.write_bytes(b""), "empty file"),
    "random.mp4": (
        lambda path: path.write_bytes(np.random.default_rng(0).bytes(4096)),
        "not a readable video container",
    ),
    "text.mp4": (lambda path: path.write_text("hello, this is text\n" * 20), "not a readable"),
    "audio.mp4": (_audio_only, "no video stream"),
    "zero.avi": (_zero_frames, "zero frames"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_files_raise_video_decode_error(tmp_path, name):
    make, reason = BAD_FILES[name]
    path = tmp_path / name
    make(path)
    for call in (lambda: probe(path), lambda: read_frames(path, [0])):
        with pytest.raises(VideoDecodeError, match=reason) as info:
            call()
        assert isinstance(info.value, ValueError)
        assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("indices", "message"),
    [([], "indices is empty"), ([-1], "frame index -1 out of range"), ([0.5], "integers")],
)
def test_bad_indices_raise_value_error(realdata, indices, message):
    with pytest.raises(ValueError, match=message):
        read_frames(realdata / "videos" / "decord_video_0.mov", indices)

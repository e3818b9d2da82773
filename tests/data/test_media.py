"""What a path is: the suffix constants shared by the formats and the frame reader, folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from f4d.data import media
from f4d.data.formats import load_index


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_one_suffix_list_for_frame_images():
    assert media.IMAGE_SUFFIXES == (".jpg", ".jpeg", ".png", ".bmp")
    from f4d.data import annotations

    assert annotations.FRAME_EXTENSIONS is media.IMAGE_SUFFIXES


def test_a_bmp_frame_folder_is_a_video_of_a_folder_dataset(tmp_path):
    _touch(tmp_path / "wave" / "clip1" / "00001.BMP")
    _touch(tmp_path / "wave" / "clip2.mp4")
    index = load_index("folder", tmp_path)
    assert [r.path.name for r in index.records] == ["clip1", "clip2.mp4"]


@pytest.mark.parametrize(
    ("files", "kind", "names"),
    [
        (["1.jpg", "2.png", "a.mp4"], "frames", ("1.jpg", "2.png")),
        (["b.MKV", "a.mp4", "notes.txt", ".hidden.mp4"], "videos", ("a.mp4", "b.MKV")),
        (["train/cls/a.mp4", "test/cls/b.mp4"], "splits", ("train", "test")),
        (["run/a.mp4", "jump/f/1.jpg", "other/x.txt"], "classes", ("jump", "run")),
        (["test/a.mp4"], "classes", ("test",)),  # a class called "test", not a split
        ([], "empty", ()),
        (["notes.txt"], "other", ("notes.txt",)),
    ],
)
def test_describe_folder(tmp_path, files, kind, names):
    tmp_path.joinpath("d").mkdir()
    for name in files:
        _touch(tmp_path / "d" / name)
    found = media.describe_folder(tmp_path / "d")
    assert (found.kind, found.names) == (kind, names)


def test_describe_folder_refuses_a_file(tmp_path):
    with pytest.raises(NotADirectoryError, match="not a folder"):
        media.describe_folder(_touch(tmp_path / "a.mp4"))


def test_not_a_frame_folder(tmp_path):
    for i in range(5):
        _touch(tmp_path / "vids" / f"v{i}.mp4")
    _touch(tmp_path / "frames" / "00001.jpg")
    assert media.not_a_frame_folder(tmp_path / "frames") is None
    message = media.not_a_frame_folder(tmp_path / "vids")
    assert message.startswith(f"{tmp_path / 'vids'} is a folder of 5 videos (v0.mp4, v1.mp4, "
                              "v2.mp4, ... (5 in all)), not a frame folder")  # fmt: skip
    assert "dataset folder (class folders: vids)" in media.not_a_frame_folder(tmp_path)


def test_counts_say_one_video_not_one_videos(tmp_path):
    _touch(tmp_path / "one" / "a.mp4")
    assert "is a folder of 1 video (a.mp4)," in media.not_a_frame_folder(tmp_path / "one")


def test_the_frame_reader_says_a_folder_of_videos_is_not_a_frame_folder(tmp_path):
    """Every caller of the one reader (not only `f4d predict`'s option check) gets the message
    that says what the folder holds instead of "frame folder holds no images"."""
    from f4d.data.decode import VideoDecodeError, open_video

    _touch(tmp_path / "closing" / "a.mp4")
    _touch(tmp_path / "closing" / "b.mp4")
    with pytest.raises(VideoDecodeError, match=r"is a folder of 2 videos .*give the video files"):
        open_video(tmp_path / "closing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoDecodeError, match=r"frame folder holds no images \(\.jpg"):
        open_video(tmp_path / "empty")

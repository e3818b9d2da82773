"""The one definition of a truncated video: byte, log and time rules, on tiny generated clips."""

from __future__ import annotations

import struct
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from f4d.data import integrity
from f4d.data.integrity import Truncation, declared_bytes, premature_end
from f4d.data.video import TruncatedVideoError, VideoDecodeError, probe, read_frames
from tests.data.clips import cut_copy, write_clip

REAL = ("mmaction2_test.mp4", "mmaction2_test.avi", "decord_video_0.mov", "human2bot_task5_0.webm")


@pytest.mark.parametrize("name", REAL)
def test_real_videos_are_whole(realdata, name):
    """No false positive: last-frame durations, audio beside video, B-frames, rounding."""
    path = realdata / "videos" / name
    assert probe(path).truncation is None
    assert probe(path, exact=True).truncation is None


@pytest.mark.parametrize(
    ("name", "codec", "options"),
    [
        ("a.mkv", "libx264", {}),
        ("a.webm", "libvpx-vp9", {}),
        ("live.webm", "libvpx", {"live": "1"}),  # no duration, unknown sizes, no cues
        ("fs.mp4", "libx264", {"movflags": "faststart"}),
        ("a.avi", "mpeg4", {}),
    ],
)
def test_cut_clip_is_truncated_whole_clip_is_not(tmp_path, name, codec, options):
    whole = write_clip(tmp_path / name, codec, **options)
    assert probe(whole).truncation is None and probe(whole, exact=True).num_frames == 12
    cut = cut_copy(whole, 0.8)
    with pytest.raises(TruncatedVideoError, match=rf"{cut.name}: truncated") as info:
        probe(cut)
    assert info.value.truncation is not None
    allowed = probe(cut, allow_truncated=True)
    assert 0 < allowed.num_frames < 12 and allowed.truncation is not None
    frames = read_frames(cut, np.arange(allowed.num_frames), allow_truncated=True)
    reds = frames[:, 4:20, :, 0].mean(axis=(1, 2))  # the flat top half
    np.testing.assert_allclose(reds, 20 * np.arange(allowed.num_frames), atol=8)


def test_cut_mkv_with_audio_reports_declared_and_decoded(tmp_path):
    whole = write_clip(tmp_path / "talk.mkv", "libx264", frames=30, audio=True)
    assert probe(whole, exact=True).truncation is None  # audio outlasts the video a little
    cut = cut_copy(whole, 1 / 3)
    info = probe(cut, exact=True, allow_truncated=True)
    text = str(info.truncation)
    assert text.startswith("truncated: decodes ") and "of a declared 3.0" in text
    assert info.truncation.delivered_s < 2.0
    assert "File ended prematurely" in text and "bytes" in text


def test_live_webm_cut_is_named_by_ffmpegs_log(tmp_path):
    """Nothing declared (no duration, unknown sizes): FFmpeg's "ended prematurely" decides."""
    whole = write_clip(tmp_path / "stream.webm", "libvpx", frames=20, live="1")
    cut = cut_copy(whole, 0.6)
    info = probe(cut, allow_truncated=True)
    assert info.truncation.declared_s is None
    assert "FFmpeg: [matroska,webm] File ended prematurely" in info.truncation.evidence
    with pytest.raises(TruncatedVideoError, match="ended prematurely"):
        read_frames(cut, [0, 1])  # the packet count reaches the cut while reading


SHORT = [("one.mkv", "libx264", 1), ("three.mov", "libx264", 3), ("short.webm", "libvpx-vp9", 32)]


@pytest.mark.parametrize(("name", "codec", "frames"), SHORT)
def test_really_short_files_pass(tmp_path, name, codec, frames):
    path = write_clip(tmp_path / name, codec, frames=frames)
    assert probe(path).num_frames == frames and probe(path).truncation is None
    assert probe(path, exact=True).truncation is None


def test_declared_bytes_walks_each_container(tmp_path):
    riff = tmp_path / "x.avi"
    riff.write_bytes(b"RIFF" + struct.pack("<I", 100) + b"AVI " + bytes(20))
    assert declared_bytes(riff, "avi") == 108
    boxes = tmp_path / "x.mp4"
    boxes.write_bytes(struct.pack(">I4s", 16, b"ftyp") + bytes(8) + struct.pack(">I4s", 1, b"mdat")
                      + struct.pack(">Q", 4000))  # fmt: skip
    assert declared_bytes(boxes, integrity.MOV) == 4016
    ebml = tmp_path / "x.mkv"
    ebml.write_bytes(b"\x1a\x45\xdf\xa3\x84" + bytes(4) + b"\x18\x53\x80\x67\x42\x00" + bytes(10))
    assert declared_bytes(ebml, integrity.MATROSKA) == 9 + 6 + 0x200
    unknown = tmp_path / "live.mkv"
    unknown.write_bytes(b"\x1a\x45\xdf\xa3\x80\x18\x53\x80\x67\x01\xff\xff\xff\xff\xff\xff\xff")
    assert declared_bytes(unknown, integrity.MATROSKA) == 5  # the header; the segment: unknown
    assert declared_bytes(boxes, "mpegts") is None
    boxes.write_bytes(struct.pack(">I4s", 16, b"ftyp") + bytes(8) + b"\0\0\0")  # next header cut
    assert declared_bytes(boxes, integrity.MOV) == 24
    riff.write_bytes(b"RIFF" + struct.pack("<I", 4) + b"AVI " + b"RI")
    assert declared_bytes(riff, "avi") == 20
    ebml.write_bytes(b"\x1a\x45\xdf\xa3\x80\x18\x53")  # the Segment's ID cut in two
    assert declared_bytes(ebml, integrity.MATROSKA) == 8


def test_premature_end_phrases():
    lines = [(16, "h264", "error while decoding MB 3 2"), (16, "matroska,webm", "File ended "
             "prematurely at pos. 1349 (0x545)\n")]  # fmt: skip
    assert premature_end(lines) == "[matroska,webm] File ended prematurely at pos. 1349 (0x545)"
    assert premature_end([(16, "", "Truncating packet of size 17 to 3")]).startswith("Trunc")
    assert premature_end(lines[:1]) is None


def test_truncation_text():
    expected = "truncated: decodes 3.07 s of a declared 10.38 s (x)"
    assert str(Truncation(10.38, 3.07, "x")) == expected
    assert str(Truncation(None, 1.5, "y", decoded=False)) == "truncated: holds 1.50 s (y)"
    assert str(Truncation(None, None, "z")) == "truncated (z)"


def test_log_capture_is_per_thread(tmp_path):
    """Concurrent probes (f4d data check's threads) never see each other's FFmpeg lines."""
    cut = cut_copy(write_clip(tmp_path / "c.webm", "libvpx", frames=20, live="1"), 0.6)
    whole = write_clip(tmp_path / "w.webm", "libvpx", frames=20, live="1")
    verdicts: dict[str, list[bool]] = {"cut": [], "whole": []}

    def work(key: str, path: Path) -> None:
        for _ in range(15):
            verdicts[key].append(probe(path, allow_truncated=True).truncation is not None)

    threads = [threading.Thread(target=work, args=a) for a in (("cut", cut), ("whole", whole))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert verdicts == {"cut": [True] * 15, "whole": [False] * 15}


def test_mp4_cut_before_its_index_is_truncated_not_unreadable(tmp_path):
    """Most muxers write the moov index last: a cut MP4 does not open, yet it is named cut."""
    whole = write_clip(tmp_path / "last.mp4", "libx264")
    data = whole.read_bytes()
    mdat = data.index(b"mdat") - 4
    mdat_end = mdat + struct.unpack(">I", data[mdat : mdat + 4])[0]
    assert data[mdat_end + 4 : mdat_end + 8] == b"moov"  # the index comes last
    for size, why in ((mdat_end, "before the moov index"), (mdat_end - 100, "declares")):
        cut = tmp_path / f"cut{size}.mp4"
        cut.write_bytes(data[:size])
        with pytest.raises(TruncatedVideoError, match=why) as info:
            probe(cut, allow_truncated=True)  # nothing opens: allowing it does not help
        assert "not a readable video container" in str(info.value)
    random_bytes = tmp_path / "noise.mp4"
    random_bytes.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(VideoDecodeError) as info:
        probe(random_bytes)
    assert not isinstance(info.value, TruncatedVideoError)


def _delivered(video_end: int, *, audio_end: int | None = None, fps: float = 10.0):
    """Packets of a 10 fps video (time base 1/10: one tick per frame) and 20 ms audio."""
    video = integrity.StreamSpan(Fraction(1, 10), 0)
    for i in range(video_end):
        video.add(i, 1)
    packets = {0: video}
    if audio_end is not None:
        audio = integrity.StreamSpan(Fraction(1, 1000), 0)
        for t in range(0, audio_end, 20):
            audio.add(t, 20)
        packets[1] = audio
    return integrity.Delivered(video, packets, 0, fps, decoded=False, frames=video_end)


@pytest.mark.parametrize(
    ("frames", "declared_s", "truncated"),
    [(20, 2.0, False), (19, 2.0, False), (18, 2.0, False), (17, 2.0, True), (10, 2.0, True)],
)
def test_time_rule_allows_two_frame_durations(frames, declared_s, truncated):
    """A stream may end up to two frames (+1 ms) before its declared duration, no more."""
    facts = integrity.Declared(file_bytes=1000, video_s=declared_s)
    verdict = integrity.judge(facts, _delivered(frames), [])
    assert (verdict is not None) == truncated
    if truncated:
        assert str(verdict) == (f"truncated: holds {frames / 10:.2f} s of a declared 2.00 s "
                                "(the stream ends before the declared duration)")  # fmt: skip


def test_container_duration_counts_every_stream_from_the_container_start():
    """Audio that outlasts the video, and a container that starts before the video."""
    facts = integrity.Declared(file_bytes=1000, container_s=2.3)
    assert integrity.judge(facts, _delivered(20, audio_end=2300), []) is None
    assert integrity.judge(facts, _delivered(20, audio_end=1900), []) is not None
    late = _delivered(20)  # the video starts at 0.3 s of a container that starts at 0
    late.video.start, late.video.stamps = 3, [t + 3 for t in late.video.stamps]
    late.video.end += 3
    assert integrity.judge(facts, late, [], container_start_s=0.0) is None
    # A container that starts with its video at 0.3 s and declares 2.3 s counted from 0 (a
    # clip cut with its timestamps kept): whole. Ending at 1.9 s it is not.
    assert integrity.judge(facts, late, [], container_start_s=0.3) is None
    late.video.end -= 4
    assert integrity.judge(facts, late, [], container_start_s=0.3) is not None

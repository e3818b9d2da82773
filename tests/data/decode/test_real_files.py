"""Real files right: frames pinned before the reader merge, display rotation, late-starting
streams, colliding timestamps, streaming, and the packet memory budget.

Every path (random reads from held packets, random reads by seeking, streaming) must give
frame ``i`` bit for bit; the references are independent of f4d's reader: checksums recorded
from the two readers f4d had before (``reader_pins.json``) and plain sequential PyAV decodes.
"""

from __future__ import annotations

import hashlib
import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from f4d.data.decode import VideoInfo, open_video, probe, read_frames, timeline
from f4d.data.decode.video_file import VideoFile
from tests.data.clips import retime
from tests.data.decode.test_reader import _write

PINS = json.loads((Path(__file__).parent / "reader_pins.json").read_text())
NO_B_FRAMES = {"crf": "8", "preset": "veryfast",
               "x264-params": "keyint=4:min-keyint=4:scenecut=0:bframes=0"}  # fmt: skip


def _sha(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


@pytest.fixture(params=["held", "seeking"])
def budget(request, monkeypatch):
    """Read with the packets held in memory, then again with none held (reads seek)."""
    if request.param == "seeking":
        monkeypatch.setattr(timeline, "PACKET_BUDGET_BYTES", 0)
    return request.param


def _plain_decode(path: Path) -> list[np.ndarray]:
    """Every frame in decode-output order, stored orientation, by PyAV alone."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


# ---------------------------------------------------------------- pinned frames


@pytest.mark.parametrize("name", sorted(PINS))
def test_real_videos_give_the_pinned_frames_on_every_path(realdata, name, budget):
    path = realdata / "videos" / name
    pins = PINS[name]
    with open_video(path) as video:
        assert video.info.num_frames == pins["num_frames"]
        assert (video.table.payload is None) == (budget == "seeking")
        for entry in pins["sets"]:
            frames = video.read(entry["indices"])
            assert list(frames.shape) == entry["shape"]
            assert _sha(frames) == entry["sha256"], entry["indices"]
    assert _sha(read_frames(path, pins["sets"][1]["indices"])) == pins["sets"][1]["sha256"]


@pytest.mark.parametrize("name", sorted(n for n in PINS if n != "decord_corrupted.mp4"))
def test_streaming_gives_the_frames_random_reads_give(realdata, name, budget):
    path = realdata / "videos" / name
    whole = PINS[name]["sets"][0]  # every frame
    with open_video(path) as video:
        streamed = list(video.iter_frames())
        assert [i for i, _ in streamed] == whole["indices"]
        assert _sha(np.stack([f for _, f in streamed])) == whole["sha256"]
        n = video.info.num_frames
        part = list(video.iter_frames(start=n // 3, stop=n - 1, every=2))
        assert [i for i, _ in part] == list(range(n // 3, n - 1, 2))
        np.testing.assert_array_equal(
            np.stack([f for _, f in part]), video.read([i for i, _ in part])
        )


def test_streaming_decodes_once_front_to_back(realdata, monkeypatch):
    calls = []
    original = VideoFile._frames_from

    def counting(self, start, deadline, wanted):
        calls.append(start)
        yield from original(self, start, deadline, wanted)

    monkeypatch.setattr(VideoFile, "_frames_from", counting)
    with open_video(realdata / "videos" / "mmaction2_test.mp4") as video:
        assert len(list(video.iter_frames(every=7))) == len(range(0, 300, 7))
        assert calls == [0]
        assert [i for i, _ in video.iter_frames(start=240, stop=250)] == list(range(240, 250))
        assert calls == [0, video.timeline.keyframe_before(240)] and calls[1] > 0


def test_streaming_a_frame_folder_and_bad_arguments(tmp_path, realdata):
    from PIL import Image

    for i in range(1, 6):
        Image.new("RGB", (8, 6), (i * 40, 0, 0)).save(tmp_path / f"{i}.png")
    with open_video(tmp_path) as folder:
        assert [(i, int(f[0, 0, 0])) for i, f in folder.iter_frames(1, every=2)] == [
            (1, 80),
            (3, 160),
        ]
    with open_video(realdata / "videos" / "decord_video_0.mov") as video:
        with pytest.raises(ValueError, match="every >= 1"):
            next(video.iter_frames(every=0))
        assert list(video.iter_frames(start=5)) == []


def test_the_corrupted_real_video_streams_what_decodes_then_names_the_rest(realdata):
    with open_video(realdata / "videos" / "decord_corrupted.mp4") as video:
        got = []
        with pytest.raises(av_errors(), match=r"truncated: frames \[28, 29, 30"):
            for index, _ in video.iter_frames():
                got.append(index)
        assert got == list(range(28))


def av_errors():
    from f4d.data.decode import TruncatedVideoError

    return TruncatedVideoError


# ---------------------------------------------------------------- display rotation


def test_a_rotated_phone_clip_reads_upright(realdata, budget):
    path = realdata / "videos" / "decord_video_90.mov"
    stored = _plain_decode(path)  # (568 wide x 320 tall) as stored
    with av.open(str(path)) as container:
        pyav_rotation = next(container.decode(video=0)).rotation
    info = probe(path)
    assert info == VideoInfo(3, 30.0, 320, 568, rotation=-90) and pyav_rotation == -90
    frames = read_frames(path, [2, 0])
    assert frames.shape == (2, 568, 320, 3)  # 320 wide x 568 tall, as displayed
    np.testing.assert_array_equal(frames[0], np.rot90(stored[2], k=-1))  # a clockwise turn
    with open_video(path) as video:
        np.testing.assert_array_equal(next(video.iter_frames())[1], np.rot90(stored[0], k=-1))


@pytest.mark.parametrize("angle", [90, 180, -90])
def test_generated_rotations_follow_ffmpeg(tmp_path, angle):
    rng = np.random.default_rng(angle % 360)
    noisy = rng.integers(0, 256, size=(6, 16, 24, 3), dtype=np.uint8)  # 24 wide, 16 tall
    plain = _write(tmp_path / "plain.mp4", noisy, "libx264", NO_B_FRAMES)
    turned = tmp_path / f"turned{angle}.mp4"
    with av.open(str(plain)) as source, av.open(str(turned), "w") as target:
        out = target.add_stream_from_template(source.streams.video[0])
        out.set_display_rotation(angle)
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = out
                target.mux(packet)
    stored = _plain_decode(turned)
    with av.open(str(turned)) as container:
        rotation = next(container.decode(video=0)).rotation  # FFmpeg's reading of the matrix
    info = probe(turned)
    assert info.rotation % 360 == rotation % 360 != 0
    assert (info.width, info.height) == ((16, 24) if angle % 180 else (24, 16))
    expected = np.stack([np.rot90(f, k=rotation // 90) for f in stored])
    np.testing.assert_array_equal(read_frames(turned, np.arange(6)), expected)


def test_data_prepare_writes_the_rotated_clip_upright(realdata, tmp_path):
    from f4d.data.prepare import PrepareOptions, prepare_video

    source = realdata / "videos" / "decord_video_90.mov"
    for frames_dir in (False, True):
        target = tmp_path / f"{frames_dir}" / "clip.mov"
        options = PrepareOptions(short_side=64, gop=2, crf=0, frames_dir=frames_dir)
        assert prepare_video(source, target, options).status == "written"
        info = probe(target)
        assert (info.width, info.height, info.rotation) == (64, 114, 0)  # upright, 320:568
        copy = read_frames(target, [1]).astype(int)
        small = read_frames(source, [1])[:, ::5, ::5].astype(int)  # (1, 114, 64, 3)
        assert np.abs(copy - small).mean() < 20  # the same picture, not a sideways one


# ---------------------------------------------------------------- late-starting streams


@pytest.fixture
def no_b_frames(tmp_path) -> tuple[Path, list[np.ndarray]]:
    """A 20-frame H.264 clip without B-frames (keyframe every 4) and its frames."""
    rng = np.random.default_rng(7)
    noisy = rng.integers(0, 256, size=(20, 32, 32, 3), dtype=np.uint8)
    path = _write(tmp_path / "source.mp4", noisy, "libx264", NO_B_FRAMES)
    return path, _plain_decode(path)


@pytest.mark.parametrize("fmt", ["matroska", "mp4"])
def test_late_starting_streams_pass_with_the_right_frames(tmp_path, no_b_frames, fmt, budget):
    source, expected = no_b_frames
    tb = Fraction(1, 1000)  # the video starts at 2.5 s, 12 fps
    stamps = [2500 + round(k * 1000 / 12) for k in range(20)]
    late = retime(source, tmp_path / f"late.{fmt}", stamps, time_base=tb, fmt=fmt)
    with av.open(str(late)) as container:
        assert container.streams.video[0].start_time * container.streams.video[0].time_base == 2.5
    with open_video(late) as video:
        assert video.info.num_frames == 20 and video.info.truncation is None
        for indices in ([0], [19, 5], [9, 10, 11], [4, 17, 3]):
            np.testing.assert_array_equal(
                video.read(indices), np.stack([expected[i] for i in indices])
            )
        np.testing.assert_array_equal(np.stack([f for _, f in video.iter_frames(start=6)]),
                                      np.stack(expected[6:]))  # fmt: skip
        # The index rule is round((pts - start_time) * time_base * fps) on such a file.
        stream = video.container.streams.video[0]
        by_formula = [
            round((p - stream.start_time) * stream.time_base * 12) for p in video.table.pts
        ]
        assert video.timeline.index.tolist() == by_formula


# ---------------------------------------------------------------- colliding timestamps


@pytest.mark.parametrize(
    "stamps",
    [
        [0, 100, 140, 200, 300, 380, 400, 500, 520, 600, 700, 800],  # VFR: 140 -> 1, 380 -> 4
        [0, 100, 200, 200, 300, 400, 400, 500, 600, 700, 800, 900],  # duplicated timestamps
    ],
)
def test_colliding_timestamps_resolve_the_same_way_on_every_path(tmp_path, stamps, budget):
    rng = np.random.default_rng(3)
    noisy = rng.integers(0, 256, size=(12, 32, 32, 3), dtype=np.uint8)
    source = _write(tmp_path / "source.mp4", noisy, "libx264", NO_B_FRAMES)
    clip = retime(source, tmp_path / "vfr.mkv", stamps, time_base=Fraction(1, 1000),
                  fmt="matroska")  # fmt: skip
    expected = _plain_decode(clip)  # frame i = the i-th frame a sequential decode gives
    assert len(expected) == 12
    with open_video(clip) as video:
        assert video.timeline is not None and video.info.num_frames == 12
        for indices in ([1, 2], [2], [3], [2, 3, 6], [6], [5, 4, 7], list(range(12))):
            np.testing.assert_array_equal(
                video.read(indices), np.stack([expected[i] for i in indices])
            )
        streamed = list(video.iter_frames())
        assert [i for i, _ in streamed] == list(range(12))
        np.testing.assert_array_equal(np.stack([f for _, f in streamed]), np.stack(expected))
        np.testing.assert_array_equal(np.stack([f for _, f in video.iter_frames(start=3)]),
                                      np.stack(expected[3:]))  # fmt: skip


# ---------------------------------------------------------------- memory


def test_packets_are_held_only_under_the_budget(realdata, monkeypatch):
    path = realdata / "videos" / "mmaction2_test.mp4"
    with open_video(path) as video:
        assert video.table.payload is not None and len(video.table.payload) == 300
        size = video.table.bytes
    monkeypatch.setattr(timeline, "PACKET_BUDGET_BYTES", size - 1)
    with open_video(path) as video:
        assert video.table.payload is None and len(video.table) == 300  # timestamps only
    monkeypatch.setattr(timeline, "PACKET_BUDGET_BYTES", size)
    with open_video(path) as video:
        assert video.table.payload is not None


def test_each_held_packet_counts_its_overhead_against_the_budget(realdata):
    """A long file of many small packets (2 hours at 12 fps: 86,400 packets of ~150 bytes)
    must not be held whole because its payload alone is small: each packet object costs ~2 KiB
    of native memory besides its bytes."""
    import av

    path = realdata / "videos" / "mmaction2_test.mp4"
    with av.open(str(path)) as container:
        payload = sum(p.size for p in container.demux(video=0) if p.size)
    with open_video(path) as video:
        assert video.table.bytes == payload + 300 * timeline.PACKET_OVERHEAD_BYTES
    assert timeline.PACKET_OVERHEAD_BYTES >= 1024
    table = timeline.PacketTable(budget=86_400 * 150)  # the 2-hour file's payload fits...
    for i in range(86_400):
        table.append(_TinyPacket(i))
        if table.payload is None:
            break
    assert table.payload is None and len(table) < 10_000  # ...its packets do not


def test_the_packet_table_stores_missing_timestamps_as_ffmpeg_does():
    """8-byte arrays, with AV_NOPTS_VALUE where PyAV says None; a seek's (dts, pts) lookup
    gets None back."""
    table = timeline.PacketTable()
    for pts, dts, key in ((0, None, True), (2, 1, False), (1, 2, False)):
        packet = _TinyPacket(0)
        packet.pts, packet.dts, packet.is_keyframe = pts, dts, key
        table.append(packet)
    assert table.pts.itemsize == 8 and table.dts.tolist() == [timeline.NO_TIMESTAMP, 1, 2]
    assert not table.missing_pts()
    line = timeline.Timeline(table)
    assert line.index.tolist() == [0, 2, 1] and line.key_position == {(None, 0): 0}
    packet = _TinyPacket(0)
    packet.pts = None
    table.append(packet)
    assert table.missing_pts()
    with pytest.raises(ValueError, match="every packet needs a presentation timestamp"):
        timeline.Timeline(table)


class _TinyPacket:
    """What `PacketTable.append` reads of a packet: 150 bytes of a 12-fps stream."""

    size = 150
    is_keyframe = False

    def __init__(self, i: int) -> None:
        self.pts = self.dts = i


def test_streaming_holds_one_frame_at_a_time(realdata, monkeypatch):
    import tracemalloc

    monkeypatch.setattr(timeline, "PACKET_BUDGET_BYTES", 0)  # as for a long file: no packets held
    with open_video(realdata / "videos" / "mmaction2_test.mp4") as video:
        assert video.table.payload is None
        frame_bytes = 256 * 340 * 3
        tracemalloc.start()
        try:
            count = sum(1 for _ in video.iter_frames())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert count == 300
    assert peak < 4 * frame_bytes  # numpy frames traced: a few at most, not 300 (78 MB)

"""Tests for f4d.engine.timeline: windows equal ``predict`` on the cut-out clips, segments,
bounded memory, defaults from the checkpoint, and the bad inputs of a long video."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from f4d.data.decode import TruncatedVideoError, read_frames
from f4d.engine import predict, timeline
from f4d.engine.timeline import (
    Segment,
    Timeline,
    WindowPrediction,
    merge_segments,
    plan_windows,
    predict_timeline,
    seconds_to_frames,
    typical_video_length,
)
from f4d.errors import OptionError
from tests.data.clips import cut_copy, remux
from tests.engine.test_predict import CLASSES, make_run

FPS = 12


def make_long_video(path: Path, frames: int, *, seed: int = 0, height: int = 40,
                    width: int = 48) -> Path:  # fmt: skip
    """An mp4 at 12 fps whose frames all differ: noise plus a square moving right."""
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            image = rng.integers(0, 80, size=(height, width, 3), dtype=np.uint8)
            left = (i * 3) % (width - 10)
            image[12:24, left : left + 10] = (250, 200, 40)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def write_frame_folder(frames: np.ndarray, folder: Path) -> Path:
    """Frames ``(N, H, W, 3)`` as lossless PNGs ``00001.png ...``, a folder f4d predict reads."""
    folder.mkdir(parents=True)
    for i, frame in enumerate(frames, start=1):
        Image.fromarray(frame).save(folder / f"{i:05d}.png")
    return folder


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("timeline")
    return {"video": make_long_video(root / "long.mp4", 70), "f4d": make_run(root / "f4d")}


@pytest.fixture(scope="module")
def predictor(assets) -> predict.Predictor:
    return predict.load_predictor(assets["f4d"])


# ------------------------------------------------------------------------------ windows


@pytest.mark.parametrize(
    ("frames", "window", "hop", "expected"),
    [
        (10, 4, 3, [(0, 4), (3, 7), (6, 10)]),
        (10, 4, 4, [(0, 4), (4, 8), (6, 10)]),  # the last window ends at the end
        (10, 4, 2, [(0, 4), (2, 6), (4, 8), (6, 10)]),
        (10, 3, 5, [(0, 3), (5, 8), (7, 10)]),  # hop > window leaves gaps
        (10, 10, 2, [(0, 10)]),
        (10, 25, 2, [(0, 10)]),  # longer than the video: one window
        (1, 1, 1, [(0, 1)]),
    ],
)
def test_plan_windows_hand_worked(frames, window, hop, expected):
    assert plan_windows(frames, window, hop) == expected


@pytest.mark.parametrize(("seconds", "fps", "frames"),
                         [(2.0, 12, 24), (0.01, 12, 1), (1.0, 29.97, 30), (0.125, 12, 2),
                          (0.375, 12, 4)])  # fmt: skip
def test_seconds_to_frames_rounds(seconds, fps, frames):
    assert seconds_to_frames(seconds, fps, name="window") == frames


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), True])
def test_seconds_to_frames_refuses_nonsense(bad):
    with pytest.raises(OptionError, match="window must be a finite number of seconds > 0"):
        seconds_to_frames(bad, 12, name="window")


# ------------------------------------------------------------------------------ exactness


def test_stream_frames_equal_random_access_reads(assets):
    info, frames = timeline._open_stream(assets["video"], allow_truncated=False)
    streamed = list(frames)
    assert [i for i, _ in streamed] == list(range(info.num_frames)) and info.num_frames == 70
    wanted = [0, 1, 33, 69]
    expected = read_frames(assets["video"], wanted)
    for got, index in zip(expected, wanted):
        np.testing.assert_array_equal(streamed[index][1], got)


@pytest.mark.parametrize(("views", "crops"), [("single", 1), ("multi", 3)])
def test_windows_equal_predict_on_the_cut_out_clips(assets, predictor, tmp_path, views, crops):
    """Each window's probabilities = ``predict_video`` on a PNG folder of its frames."""
    result = predict_timeline(
        predictor, assets["video"], window_s=1.5, hop_s=0.75, topk=len(CLASSES), batch=3,
        views=views, crops=crops, units=2,
    )  # fmt: skip
    bounds = [(w.start, w.stop) for w in result.windows]
    assert bounds == [(0, 18), (9, 27), (18, 36), (27, 45), (36, 54), (45, 63), (52, 70)]
    frames = read_frames(assets["video"], np.arange(70))
    for n, window in enumerate(result.windows):
        folder = write_frame_folder(frames[window.start : window.stop], tmp_path / f"w{n}")
        clip = predict.predict_video(predictor, folder, topk=len(CLASSES), views=views,
                                     crops=crops, units=2)  # fmt: skip
        expected = np.zeros(len(CLASSES))
        for index, _, prob in clip.topk:
            expected[index] = prob
        np.testing.assert_allclose(window.probs, expected, rtol=0, atol=1e-5)
        assert window.topk[0][0] == clip.topk[0][0]
    assert (result.views, result.units, result.crops) == (views, 2, crops)


def test_windows_of_one_video_differ(assets, predictor):
    """The content moves, so the windows must not all get the same numbers (a feed that
    reused one window's frames for every window would)."""
    result = predict_timeline(predictor, assets["video"], window_s=1.5, hop_s=0.75)
    probs = np.stack([w.probs for w in result.windows])
    assert np.ptp(probs, axis=0).max() > 1e-4


def test_json_has_the_documented_fields(assets, predictor):
    data = predict_timeline(predictor, assets["video"], window_s=2, hop_s=1, topk=2).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["duration_s"] == pytest.approx(70 / 12, abs=1e-4) and data["fps"] == 12.0
    assert (data["window_s"], data["hop_s"], data["window_frames"], data["hop_frames"]) == (
        2.0, 1.0, 24, 12,
    )  # fmt: skip
    assert [w["start_s"] for w in data["windows"]] == [0.0, 1.0, 2.0, 3.0, round(46 / 12, 4)]
    assert data["windows"][-1]["end_s"] == data["duration_s"]
    for window in data["windows"]:
        assert [set(t) for t in window["topk"]] == [{"index", "class", "prob"}] * 2
    for segment in data["segments"]:
        assert {"start_s", "end_s", "class", "score"} <= set(segment)


# ------------------------------------------------------------------------------ segments


def hand_timeline(top1: list[tuple[int, float]], *, window: int = 4, hop: int = 2) -> Timeline:
    """A timeline of windows ``[2i, 2i + 4)`` at 1 fps whose top-1 is given per window."""
    windows = []
    for i, (index, prob) in enumerate(top1):
        probs = np.full(len(CLASSES), (1 - prob) / (len(CLASSES) - 1), np.float32)
        probs[index] = prob
        topk = [(index, CLASSES[index], prob)]
        windows.append(WindowPrediction(i * hop, i * hop + window, probs, topk))
    frames = windows[-1].stop
    return Timeline("hand", frames, 1.0, window, hop, "given", windows, [], CLASSES)


def test_segments_merge_consecutive_windows_and_tile_the_video():
    # window centres 2, 4, 6, 8, 10 -> own spans [0,3) [3,5) [5,7) [7,9) [9,12)
    t = hand_timeline([(0, 0.9), (0, 0.7), (1, 0.6), (1, 0.8), (0, 0.5)])
    assert merge_segments(t) == [
        Segment(0.0, 5.0, 0, CLASSES[0], pytest.approx(0.8)),
        Segment(5.0, 9.0, 1, CLASSES[1], pytest.approx(0.7)),
        Segment(9.0, 12.0, 0, CLASSES[0], 0.5),
    ]


def test_min_score_leaves_weak_windows_out():
    t = hand_timeline([(0, 0.9), (0, 0.3), (0, 0.8), (2, 0.95)])
    assert merge_segments(t, min_score=0.5) == [
        Segment(0.0, 3.0, 0, CLASSES[0], pytest.approx(0.9)),
        Segment(5.0, 7.0, 0, CLASSES[0], pytest.approx(0.8)),
        Segment(7.0, 10.0, 2, CLASSES[2], pytest.approx(0.95)),
    ]


def test_segments_agree_with_the_windows(assets, predictor):
    result = predict_timeline(predictor, assets["video"], window_s=1, hop_s=0.5)
    spans = timeline.window_spans(result)
    assert spans[0][0] == 0.0 and spans[-1][1] == pytest.approx(result.duration_s)
    segments = result.segments
    assert [s.end_s for s in segments[:-1]] == [s.start_s for s in segments[1:]]
    for window, (a, b) in zip(result.windows, spans):
        owner = [s for s in segments if s.start_s <= a and b <= s.end_s]
        assert len(owner) == 1 and owner[0].index == window.topk[0][0]
    for s in segments:
        inside = [w.topk[0][2] for w, (a, b) in zip(result.windows, spans)
                  if s.start_s <= a and b <= s.end_s]  # fmt: skip
        assert s.score == pytest.approx(sum(inside) / len(inside))


# ------------------------------------------------------------------------------ memory


def test_memory_does_not_grow_with_the_video(predictor, tmp_path):
    """Peak frames held: the same for a video and one 4x longer (and a handful)."""
    short = make_long_video(tmp_path / "short.mp4", 60, seed=1, height=32, width=32)
    long = make_long_video(tmp_path / "long.mp4", 240, seed=1, height=32, width=32)
    peaks = [predict_timeline(predictor, v, window_s=1.5, hop_s=0.5).frames_held_peak
             for v in (short, long)]  # fmt: skip
    s = predictor.settings
    assert peaks[0] == peaks[1]
    assert 0 < peaks[0] <= 3 * s.units * s.frames  # windows overlapping one point: 1.5 / 0.5


def test_window_longer_than_the_video_is_one_window_and_a_note(assets, predictor, tmp_path):
    result = predict_timeline(predictor, assets["video"], window_s=60, topk=len(CLASSES))
    assert [(w.start, w.stop) for w in result.windows] == [(0, 70)]
    assert "longer than the video" in result.notes[0]
    whole = predict.predict_video(predictor, assets["video"], topk=len(CLASSES))
    expected = np.zeros(len(CLASSES))
    for index, _, prob in whole.topk:
        expected[index] = prob
    np.testing.assert_allclose(result.windows[0].probs, expected, rtol=0, atol=1e-5)


# ------------------------------------------------------------------------------ defaults


def test_default_window_comes_from_the_recorded_training_length(assets, predictor):
    meta = {**predictor.meta, "video_length": {"median_s": 2.5, "videos": 7}}
    recorded = predict.Predictor(predictor.model, predictor.classes, predictor.settings,
                                 meta=meta)  # fmt: skip
    result = predict_timeline(recorded, assets["video"])
    assert (result.window_frames, result.hop_frames) == (30, 15)
    assert result.window_source == "checkpoint: median length of 7 training videos"


def test_default_window_falls_back_to_the_clip_span(assets, predictor):
    result = predict_timeline(predictor, assets["video"])
    s = predictor.settings
    assert result.window_frames == s.units * s.frames * s.stride == 16
    assert result.hop_frames == 8 and "clip span" in result.window_source


def test_typical_video_length_is_the_median(tmp_path):
    paths = [make_long_video(tmp_path / f"{n}.mp4", n, height=16, width=16) for n in (12, 24, 60)]
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    assert typical_video_length([*paths, tmp_path / "bad.mp4"]) == {
        "median_s": 2.0, "median_frames": 24, "fps": 12.0, "videos": 3,
    }  # fmt: skip
    assert typical_video_length([tmp_path / "bad.mp4"]) == {}


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("arg", ["window_s", "hop_s"])
@pytest.mark.parametrize("bad", [0, -2.0, float("nan")])
def test_bad_window_or_hop_is_an_option_error(assets, predictor, arg, bad):
    with pytest.raises(OptionError, match=arg.removesuffix("_s")):
        predict_timeline(predictor, assets["video"], **{arg: bad})


def test_truncated_file_is_refused_or_read_up_to_the_cut(assets, predictor, tmp_path):
    cut = cut_copy(remux(assets["video"], tmp_path / "long.mkv"), 0.5)
    with pytest.raises(TruncatedVideoError):
        predict_timeline(predictor, cut, window_s=1, hop_s=1)
    result = predict_timeline(predictor, cut, window_s=1, hop_s=1, allow_truncated=True)
    assert result.truncated and "truncated" in " ".join(result.notes)
    assert 0 < result.num_frames < 70 and result.windows[-1].stop == result.num_frames


def test_frame_folder_has_no_frame_rate(assets, predictor, tmp_path):
    folder = write_frame_folder(read_frames(assets["video"], [0, 1, 2]), tmp_path / "f")
    with pytest.raises(timeline.TimelineError, match="no frame rate"):
        predict_timeline(predictor, folder)


def test_outputs_are_written(assets, predictor, tmp_path):
    result = predict_timeline(predictor, assets["video"], window_s=1, hop_s=0.5)
    files = timeline.write_outputs(result, tmp_path / "out")
    assert [f.name for f in files] == ["timeline.json", "segments.csv", "timeline.png"]
    assert json.loads(files[0].read_text()) == result.to_dict()
    rows = files[1].read_text().splitlines()
    assert rows[0] == "start_s,end_s,class,index,score" and len(rows) == 1 + len(result.segments)
    with Image.open(files[2]) as image:
        assert image.format == "PNG" and image.size[0] > 500


def test_rendered_video_has_every_frame(assets, predictor, tmp_path):
    from f4d.engine.timeline_render import render_video

    result = predict_timeline(predictor, assets["video"], window_s=1, hop_s=0.5)
    out = render_video(result, tmp_path / "labelled.mp4")
    with av.open(str(out)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 70 and (frames[0].width, frames[0].height) == (48, 40)
    top = frames[0].to_ndarray(format="rgb24")[:6, :6]
    assert top.max() < 60  # the dark label band (the video's corner is noise up to 80)


def test_training_records_the_video_length_used_as_default_window(make_cfg, synth_root):
    from f4d.engine import checkpoint as ckpt
    from f4d.engine.train import train

    cfg = make_cfg("optim.epochs=1", "run.max_steps=1")
    train(cfg)
    run = Path(cfg.run.out_dir)
    meta = ckpt.load_meta(run / "checkpoints" / "last")
    # 16 training videos of 16 frames at 12 fps (the synthetic dataset's rate)
    assert meta["video_length"] == {
        "median_s": round(16 / 12, 4), "median_frames": 16, "fps": 12.0, "videos": 16,
    }  # fmt: skip
    video = sorted((synth_root / "videos" / "test").iterdir())[0]
    result = predict_timeline(predict.load_predictor(run / "checkpoints" / "last"), video)
    assert (result.window_frames, result.hop_frames, len(result.windows)) == (16, 8, 1)
    assert result.window_source == "checkpoint: median length of 16 training videos"


def test_progress_bar_shows_the_real_time_factor(assets, predictor, capsys):
    predict_timeline(predictor, assets["video"], window_s=1, hop_s=0.5, batch=2, progress=True)
    err = capsys.readouterr().err
    assert "window/s" in err and "x real time" in err


def test_a_stream_shorter_than_its_header_is_truncated(assets, predictor, monkeypatch):
    real = timeline._open_stream

    def short(path, **kwargs):
        info, frames = real(path, **kwargs)
        return info, ((i, f) for i, f in frames if i < 50)  # the decoder stops at frame 50

    monkeypatch.setattr(timeline, "_open_stream", short)
    with pytest.raises(TruncatedVideoError, match="ended after 50 of the 70 frames"):
        predict_timeline(predictor, assets["video"], window_s=1, hop_s=0.5)
    cut = predict_timeline(predictor, assets["video"], window_s=1, hop_s=0.5, allow_truncated=True)
    assert cut.num_frames == 50 and cut.windows[-1].stop == 50
    assert "ended after 50 of the 70 frames" in cut.truncated and len(cut.notes) == 1
    monkeypatch.undo()
    whole = predict_timeline(predictor, assets["video"], window_s=1, hop_s=0.5)
    for a, b in zip(cut.windows[:-1], whole.windows):  # windows before the cut: the same
        assert (a.start, a.stop) == (b.start, b.stop)
        np.testing.assert_allclose(a.probs, b.probs, rtol=0, atol=1e-6)


def test_real_file_whose_decoder_fails_midway(predictor, realdata):
    """decord's corrupted.mp4: the header says 50 frames, 28 decode, then an error."""
    video = realdata / "videos" / "decord_corrupted.mp4"
    with pytest.raises(TruncatedVideoError, match=r"frames \[28, 29, .*decoder failed"):
        predict_timeline(predictor, video, window_s=1)
    result = predict_timeline(predictor, video, window_s=1, allow_truncated=True)
    assert result.num_frames == 28 and [(w.start, w.stop) for w in result.windows] == [
        (0, 10), (5, 15), (10, 20), (15, 25), (18, 28),
    ]  # fmt: skip
    assert "28 of the 50 frames" in result.truncated

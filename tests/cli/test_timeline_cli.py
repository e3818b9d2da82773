"""Tests for ``f4d predict --timeline``: JSON and table, --out files, exit codes."""

from __future__ import annotations

import json

import pytest

from f4d.cli.main import main
from f4d.engine.predict import load_predictor
from f4d.engine.timeline import predict_timeline
from tests.data.clips import cut_copy, remux
from tests.engine.test_predict import make_run
from tests.engine.test_timeline import make_long_video


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("timeline_cli")
    return {"video": make_long_video(root / "long.mp4", 50), "f4d": make_run(root / "f4d")}


def exit_code(argv: list[str]) -> int:
    """``main(argv)``, or the code argparse exits with."""
    try:
        return main(argv)
    except SystemExit as exit_info:
        return int(exit_info.code)


def timeline_argv(assets, *extra: str) -> list[str]:
    return ["predict", str(assets["video"]), "--checkpoint", str(assets["f4d"]), "--timeline",
            *extra]  # fmt: skip


def test_json_is_the_library_timeline(assets, capsys):
    argv = timeline_argv(assets, "--window", "1.5", "--hop", "1", "--topk", "2", "--json")
    assert main(argv) == 0
    captured = capsys.readouterr()
    expected = predict_timeline(
        load_predictor(assets["f4d"]), assets["video"], window_s=1.5, hop_s=1, topk=2
    ).to_dict()
    assert json.loads(captured.out) == expected
    assert "windows/s" in captured.err and "x real time" in captured.err


def test_table_lists_segments(assets, capsys):
    assert main(timeline_argv(assets, "--window", "1")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "windows of 1 s every 0.5 s (window: given)" in lines[0]
    assert lines[1].split() == ["start", "end", "score", "class"]
    assert lines[2].split()[0] == "0:00.00" and lines[-1].split()[1] == "0:04.17"  # 50 / 12 s


def test_out_dir_and_render(assets, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(timeline_argv(assets, "--window", "1", "--out", str(out), "--render")) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "labelled.mp4", "segments.csv", "timeline.json", "timeline.png",
    ]  # fmt: skip
    assert json.loads((out / "timeline.json").read_text())["window_frames"] == 12


def test_window_longer_than_the_video_notes_it(assets, capsys):
    assert main(timeline_argv(assets, "--window", "100", "--json")) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)["windows"]) == 1
    assert "longer than the video" in captured.err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--window", "0"], "--window: expected a finite number > 0, got '0'"),
        (["--window", "-3"], "--window: expected a finite number > 0"),
        (["--hop", "abc"], "--hop: expected a number > 0, got 'abc'"),
        (["--hop", "nan"], "--hop: expected a finite number > 0"),
        (["--min-score", "1.5"], "--min-score: expected a number in 0..1"),
        (["--render"], "--render needs --out DIR"),
    ],
)
def test_bad_options_exit_2(assets, capsys, extra, message):
    assert exit_code(timeline_argv(assets, *extra)) == 2
    assert message in capsys.readouterr().err


def test_timeline_options_need_timeline(assets, capsys):
    argv = ["predict", str(assets["video"]), "--checkpoint", str(assets["f4d"]), "--hop", "1"]
    assert exit_code(argv) == 2
    assert "--hop need --timeline" in capsys.readouterr().err


def test_no_decodable_frame_exits_1_naming_the_file(assets, tmp_path, capsys):
    bad = tmp_path / "noise.mp4"
    bad.write_bytes(b"\x00" * 256)
    argv = ["predict", str(bad), "--checkpoint", str(assets["f4d"]), "--timeline"]
    assert main(argv) == 1
    assert "noise.mp4" in capsys.readouterr().err


def test_truncated_file_needs_allow_truncated(assets, tmp_path, capsys):
    cut = cut_copy(remux(assets["video"], tmp_path / "long.mkv"), 0.5)
    argv = ["predict", str(cut), "--checkpoint", str(assets["f4d"]), "--timeline", "--json"]
    assert main(argv) == 1
    assert "--allow-truncated makes a timeline up to the cut" in capsys.readouterr().err
    assert main([*argv, "--allow-truncated"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["truncated"] and "truncated" in captured.err


def test_threads_option(assets, capsys):
    import torch

    before = torch.get_num_threads()
    try:
        assert main(timeline_argv(assets, "--window", "2", "--threads", "1", "--json")) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert exit_code(timeline_argv(assets, "--threads", "0")) == 2
    assert "--threads: expected an integer" in capsys.readouterr().err

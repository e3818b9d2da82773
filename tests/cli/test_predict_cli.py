"""Tests for ``f4d predict``: table / JSON output, --explain, and its error exits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from f4d.cli.main import main
from f4d.engine.predict import load_predictor, predict_video
from tests.engine.test_predict import CLASSES, make_run, make_video


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict_cli")
    return {
        "video": make_video(root / "clip.mp4"),
        "f4d": make_run(root / "f4d"),
        "tsn": make_run(root / "tsn", "tsn_tiny"),
    }


def test_json_output_has_topk_per_video(assets, capsys):
    video = str(assets["video"])
    rc = main(
        ["predict", video, video, "--checkpoint", str(assets["f4d"]), "--topk", "3", "--json"]
    )
    assert rc == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["video"] for r in results] == [video, video]
    for result in results:
        probs = [row["prob"] for row in result["topk"]]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True) and sum(probs) <= 1.0
        assert all(row["class"] == CLASSES[row["index"]] for row in result["topk"])


def test_table_output_names_classes(assets, capsys):
    rc = main(["predict", str(assets["video"]), "--checkpoint", str(assets["f4d"]), "--topk", "2"])
    out = capsys.readouterr().out
    assert rc == 0
    lines = out.splitlines()
    assert lines[0] == f"{assets['video']}  (1 view: single, U=2 x 1 crop)"
    assert len(lines) == 1 + 1 + 2  # video, header, 2 ranks
    assert any(name in lines[2] for name in CLASSES)


def test_bad_video_is_named_and_exit_is_1(assets, tmp_path, capsys):
    """Issue 27 item 5: the JSON has one entry per input, in order, failures included."""
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(b"\x00" * 64)
    empty = tmp_path / "empty.mp4"
    empty.touch()
    video = str(assets["video"])
    argv = ["predict", str(bad), video, str(empty), video, "--checkpoint", str(assets["f4d"]),
            "--json"]  # fmt: skip
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "corrupt.mp4" in captured.err
    entries = json.loads(captured.out)
    assert [r["video"] for r in entries] == [str(bad), video, str(empty), video]
    assert ["error" in r for r in entries] == [True, False, True, False]
    assert str(bad) in entries[0]["error"] and str(empty) in entries[2]["error"]
    assert "topk" in entries[1] and "topk" not in entries[0]


def test_a_missing_video_is_refused_before_the_model_loads(assets, tmp_path, capsys):
    """Issue 27 item 7: exit 2 (a path that must exist), not 1 after loading the model."""
    argv = ["predict", str(assets["video"]), str(tmp_path / "nosuch.mp4"), "--checkpoint",
            str(tmp_path / "not-loaded")]  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_missing_checkpoint_is_an_error(assets, tmp_path, capsys):
    rc = main(["predict", str(assets["video"]), "--checkpoint", str(tmp_path / "nope")])
    assert rc == 4  # bad input
    assert "nope" in capsys.readouterr().err


def test_explain_writes_one_folder_per_video(assets, tmp_path, capsys):
    out = tmp_path / "explain"
    argv = ["predict", str(assets["video"]), "--checkpoint", str(assets["f4d"]),
            "--explain", str(out), "--units", "3"]  # fmt: skip
    assert main(argv) == 0
    written = sorted(p.name for p in (out / "clip").iterdir())
    assert written == ["explain.json", "sta_0.gif", "sta_0.png", "ta.png"]
    assert json.loads((out / "clip" / "explain.json").read_text())["units"] == 3
    assert "explain:" in capsys.readouterr().out


def test_explain_without_attention_says_so_and_still_predicts(assets, tmp_path, capsys):
    out = tmp_path / "explain"
    argv = ["predict", str(assets["video"]), "--checkpoint", str(assets["tsn"]),
            "--explain", str(out), "--json"]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "tsn_tiny" in captured.err and "nothing to explain" in captured.err
    assert len(json.loads(captured.out)[0]["topk"]) == len(CLASSES)
    assert not out.exists()


REAL = Path(__file__).resolve().parents[3] / "shared" / "realdata" / "videos"


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/realdata is absent")
def test_real_videos_predict_and_the_corrupted_one_is_named(assets, capsys):
    """SSv2-native webm and XviD avi decode; the truncated mp4 fails by name, exit 1."""
    videos = [REAL / "human2bot_task5_0.webm", REAL / "mmaction2_test.avi",
              REAL / "decord_corrupted.mp4"]  # fmt: skip
    argv = ["predict", *map(str, videos), "--checkpoint", str(assets["f4d"]), "--json"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    entries = json.loads(captured.out)
    assert [r["video"] for r in entries] == [str(v) for v in videos]
    assert "decord_corrupted.mp4" in entries[2]["error"] and "topk" in entries[1]
    (error,) = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert "decord_corrupted.mp4" in error and "truncated" in error


def test_multi_view_json_counts_views_and_matches_the_api(assets, capsys):
    argv = ["predict", str(assets["video"]), "--checkpoint", str(assets["f4d"]),
            "--views", "multi", "--units", "3", "--topk", "5", "--json"]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    (result,) = json.loads(captured.out)
    assert (result["views"], result["units"], result["crops"], result["num_views"]) == (
        "multi",
        3,
        3,
        3,
    )
    assert "multi view: U=3" in captured.err and "3 crops of 36 -> 32" in captured.err
    predictor = load_predictor(assets["f4d"], views="multi", units=3)
    expected = predict_video(predictor, assets["video"], topk=5).to_dict()["topk"]
    assert result["topk"] == expected  # same floats: JSON keeps repr precision


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--crops", "2"], "argument --crops: invalid choice: 2 (choose from 1, 3)"),
        (["--units", "0"], "argument --units: expected an integer in 1..4096, got 0"),
        (["--views", "triple"], "argument --views: invalid choice: 'triple'"),
    ],
)
def test_bad_view_flags_are_argparse_errors(assets, capsys, flags, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(assets["video"]), "--checkpoint", str(assets["f4d"]), *flags])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_truncated_video_is_refused_unless_allowed(assets, tmp_path, capsys):
    from tests.data.clips import cut_copy, remux

    cut = cut_copy(remux(assets["video"], tmp_path / "clip.mkv"), 0.6)
    argv = ["predict", str(cut), "--checkpoint", str(assets["f4d"]), "--json"]
    assert main(argv) == 1
    error = capsys.readouterr().err
    assert f"{cut}: truncated: holds " in error and "of a declared 2.00 s" in error
    assert "--allow-truncated predicts from the part that decodes" in error
    assert main([*argv, "--allow-truncated"]) == 0
    captured = capsys.readouterr()
    (result,) = json.loads(captured.out)
    assert result["truncated"].startswith("truncated: decodes ")
    assert f"note: {cut}: truncated: decodes " in captured.err


def test_precision_is_printed_and_fp16_on_cpu_is_refused(assets, capsys):
    video, run = str(assets["video"]), str(assets["f4d"])
    assert main(["predict", video, "--checkpoint", run, "--precision", "bf16", "--json"]) == 0
    captured = capsys.readouterr()
    assert "precision: bf16" in captured.err
    bf16 = json.loads(captured.out)[0]["topk"]
    assert main(["predict", video, "--checkpoint", run, "--precision", "fp32", "--json"]) == 0
    captured = capsys.readouterr()
    assert "precision: fp32" in captured.err
    fp32 = json.loads(captured.out)[0]["topk"]
    assert bf16[0]["index"] == fp32[0]["index"]
    assert abs(bf16[0]["prob"] - fp32[0]["prob"]) < 0.02
    assert (
        main(["predict", video, "--checkpoint", run, "--precision", "fp16", "--device", "cpu"]) == 2
    )
    assert "fp16 needs a CUDA device" in capsys.readouterr().err


def test_auto_says_why_it_runs_fp32(assets, tmp_path, capsys, monkeypatch):
    """A checkpoint whose precision check failed at the end of training: `auto` predicts in
    fp32 and says why; `--precision bf16` still runs bf16."""
    import shutil

    import f4d.models.precision as precision_module
    from f4d.engine import checkpoint as ckpt

    monkeypatch.setattr(precision_module, "cpu_supports_bf16", lambda: True)
    run = shutil.copytree(assets["f4d"].parent.parent, tmp_path / "run", symlinks=True)
    failed = {"precision": "bf16", "videos": 50, "agreement": 0.96, "top1": 0.4,
              "top1_fp32": 0.42, "logit_error": 0.025, "passed": False}  # fmt: skip
    ckpt.amend_meta(run / "checkpoints" / "best", {"precision_check": failed})
    video = str(assets["video"])
    assert main(["predict", video, "--checkpoint", str(run), "--json"]) == 0
    err = capsys.readouterr().err
    assert "precision: fp32" in err
    assert "precision auto: fp32, not bf16: on 50 validation videos" in err
    assert main(["predict", video, "--checkpoint", str(run), "--precision", "bf16"]) == 0
    err = capsys.readouterr().err
    assert "precision: bf16" in err and "precision auto" not in err

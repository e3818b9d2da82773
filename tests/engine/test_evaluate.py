"""Testing a checkpoint: multi/single view, files written, numbers consistent with each other."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from f4d.engine.checkpoint import CheckpointError
from f4d.engine.evaluate import evaluate
from f4d.engine.metrics import classification_report, topk_correct
from f4d.engine.train import TrainingError, train


@pytest.fixture
def trained(make_cfg):
    cfg = make_cfg("optim.epochs=1", "run.max_steps=2", "model.name=f4d_tiny", out="trained")
    train(cfg)
    return cfg


def test_multi_view_writes_consistent_results(trained) -> None:
    trained.data.test_units = 6  # U at test differs from U=4 at training
    trained.data.test_crops = 3
    result = evaluate(trained, quiet=True)
    assert (result["units"], result["crops"], result["num_videos"]) == (6, 3, 8)
    with open(result["files"]["predictions_csv"]) as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8
    assert result["top1"] == pytest.approx(100 * sum(r["correct"] == "1" for r in rows) / 8)
    confusion = np.load(result["files"]["confusion_npy"])
    assert confusion.shape == (4, 4) and confusion.sum() == 8
    assert np.trace(confusion) == sum(r["correct"] == "1" for r in rows)
    saved = json.loads(Path(result["files"]["results_json"]).read_text())
    names = (Path(trained.data.root) / "classes.txt").read_text().split()
    assert list(saved["per_class_accuracy"]) == names
    assert (Path(trained.run.out_dir) / "confusion.npy").is_file()


def test_single_view_uses_training_units_and_one_crop(trained) -> None:
    trained.test.views = "single"
    result = evaluate(trained, quiet=True)
    assert (result["units"], result["crops"]) == (4, 1)
    assert Path(result["files"]["predictions_json"]).name == "single_predictions.json"


def test_results_go_into_the_tested_run_not_run_out_dir(trained, tmp_path, capsys) -> None:
    """Issue 27 item 3: `f4d test cfg checkpoint=runs/mine` writes into runs/mine/test/."""
    run = Path(trained.run.out_dir)
    trained.run.out_dir = str(tmp_path / "elsewhere")  # e.g. the default runs/<model.name>
    trained.test.checkpoint = str(run)
    trained.run.plots = True
    trained.run.progress = True
    result = evaluate(trained)
    assert set(map(Path, result["files"].values())) == {
        run / "test" / f"multi_{name}"
        for name in ("predictions.json", "predictions.csv", "confusion.npy", "confusion.csv",
                     "results.json")
    }  # fmt: skip
    assert run / "plots" / "confusion.png" in set(map(Path, result["plots"]))
    assert not (tmp_path / "elsewhere").exists()
    captured = capsys.readouterr()
    checkpoint = run / "checkpoints" / "best.safetensors"
    assert f"test: {checkpoint} on 8 videos of " in captured.out
    assert f"(4 units x 1 crops per video) -> {run / 'test' / 'multi'}_*" in captured.out
    bar = captured.err.replace("\r", "\n").splitlines()
    done = [line for line in bar if line.startswith("test: 100%")]
    assert done and "8/8" in done[-1] and "video/s" in done[-1], bar  # count, rate, time


def test_a_checkpoint_outside_a_run_gets_results_beside_it(trained, tmp_path) -> None:
    import shutil

    loose = tmp_path / "models"
    shutil.copytree(Path(trained.run.out_dir) / "checkpoints", loose, symlinks=True)
    trained.test.checkpoint = str(loose / "last")
    result = evaluate(trained, quiet=True)
    assert Path(result["files"]["results_json"]) == loose / "test" / "multi_results.json"


def test_class_count_mismatch_is_an_error(trained, synth_root, tmp_path) -> None:
    names = (Path(synth_root) / "classes.txt").read_text().split()
    five = tmp_path / "five.txt"
    five.write_text("\n".join([*names, "extra"]) + "\n")
    trained.data.classes = str(five)
    with pytest.raises(CheckpointError, match=r"4 classes.*has 5"):
        evaluate(trained, quiet=True)


def test_topk_and_report_on_a_hand_worked_example() -> None:
    logits = np.array([[3.0, 2, 1], [1, 3, 2], [1, 2, 3], [3, 1, 2]])
    labels = np.array([0, 2, 0, 1])
    hits = topk_correct(*map(__import__("torch").as_tensor, (logits, labels)), (1, 2))
    assert hits == {1: 1, 2: 2}
    report = classification_report(logits, labels)
    assert report["top1"] == 25.0 and report["top5"] == 100.0
    np.testing.assert_allclose(report["per_class_accuracy"], [50.0, 0.0, 0.0])
    assert report["mean_class_accuracy"] == pytest.approx(50 / 3)
    assert report["confusion"].tolist() == [[1, 0, 1], [1, 0, 0], [0, 1, 0]]


def test_truncated_test_video_is_skipped_counted_and_named(trained, cut_synth) -> None:
    root, cut = cut_synth("test")
    trained.data.root = str(root)
    result = evaluate(trained, quiet=True)
    assert result["num_videos"] == 7 and result["bad_videos"] == 1
    assert list(result["bad_video_reasons"]) == [str(cut)]
    assert "truncated" in result["bad_video_reasons"][str(cut)]
    trained.data.max_bad_videos = 0
    named = r"(?s)data.max_bad_videos=0.*000000\.mp4 \| TruncatedVideoError"
    with pytest.raises(TrainingError, match=named):
        evaluate(trained, quiet=True)


def test_allow_truncated_tests_the_decodable_part(trained, cut_synth) -> None:
    root, cut = cut_synth("test")
    trained.data.root = str(root)
    trained.data.allow_truncated = True
    result = evaluate(trained, quiet=True)
    assert result["num_videos"] == 8 and result["bad_videos"] == 0
    assert list(result["truncated_videos"]) == [str(cut)]
    assert result["truncated_videos"][str(cut)].startswith("truncated: decodes ")


def test_precision_follows_run_amp_and_the_capability_check(trained, monkeypatch) -> None:
    import f4d.models.precision as precision_module

    monkeypatch.setattr(precision_module, "cpu_supports_bf16", lambda: True)
    trained.test.views = "single"
    bf16 = evaluate(trained, quiet=True)
    assert bf16["precision"] == "bf16"  # run.amp=auto, a bf16 CPU
    trained.run.amp = "none"  # the old word for fp32
    fp32 = evaluate(trained, quiet=True)
    assert fp32["precision"] == "fp32"
    assert abs(bf16["top1"] - fp32["top1"]) <= 100 / 8  # at most one of 8 videos differs

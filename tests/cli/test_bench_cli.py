"""`f4d bench model|ops|data|report` smoke runs writing JSON and markdown."""

from __future__ import annotations

import json

import pytest

from f4d.cli.main import main


def test_bench_model_then_report(tmp_path, capsys) -> None:
    out = tmp_path / "model.json"
    args = ["bench", "model", "--models", "tsn_tiny,f4d_tiny", "--frames", "2", "--units", "2",
            "--batch", "1", "--size", "16", "--repeats", "1", "--warmup", "0", "--device", "cpu",
            "--json", str(out)]  # fmt: skip
    assert main(args) == 0
    report = json.loads(out.read_text())
    assert [r["model"] for r in report["results"]] == ["tsn_tiny", "f4d_tiny"]
    assert report["settings"]["size"] == 16 and "train" not in report["results"][0]
    assert "f4d bench model" in capsys.readouterr().out
    md = tmp_path / "summary.md"
    assert main(["bench", "report", str(out), "--out", str(md)]) == 0
    assert "| f4d_tiny |" in md.read_text()


def test_bench_ops_json(tmp_path) -> None:
    out = tmp_path / "ops.json"
    args = ["bench", "ops", "--widths", "4,8", "--units", "2", "--frames", "2", "--size", "4",
            "--repeats", "1", "--backward", "--json", str(out)]  # fmt: skip
    assert main(args) == 0
    rows = json.loads(out.read_text())["results"]
    assert [r["width"] for r in rows] == [4, 8]
    assert all(r["conv4d_max_abs_diff"] < 1e-4 for r in rows)


def test_bench_data_synthetic(tmp_path) -> None:
    out = tmp_path / "data.json"
    args = ["bench", "data", "--synthetic", "--size", "16", "--frames", "2", "--stride", "2",
            "--workers", "0", "--num-videos", "3", "--json", str(out)]  # fmt: skip
    assert main(args) == 0
    result = json.loads(out.read_text())
    assert result["loaded"] == 3 and result["videos_per_s"] > 0


def test_bench_rejects_bad_arguments(capsys) -> None:
    for argv, message in [
        (["ops", "--widths", "64,x"], "argument --widths: expected comma-separated integers"),
        (["ops", "--kernel", "3,3,1"], "argument --kernel: expected 4 integers, got '3,3,1'"),
        (["model", "--models", "nope_r50"], "argument --models: unknown model 'nope_r50'"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main(["bench", *argv])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert main(["bench", "data"]) == 2
    assert "f4d bench data: error: give either a dataset PATH or --synthetic" in (
        capsys.readouterr().err
    )


def test_bench_breakdown_then_report(tmp_path, capsys) -> None:
    out = tmp_path / "breakdown.json"
    args = ["bench", "breakdown", "--models", "v4d_tiny,f4d_tiny", "--frames", "2", "--units",
            "2", "--batch", "1", "--size", "16", "--repeats", "1", "--warmup", "0", "--device",
            "cpu", "--json", str(out)]  # fmt: skip
    assert main(args) == 0
    report = json.loads(out.read_text())
    assert report["kind"] == "breakdown"
    assert [r["model"] for r in report["results"]] == ["v4d_tiny", "f4d_tiny"]
    assert "f4d bench breakdown: f4d_tiny" in capsys.readouterr().out
    md = tmp_path / "summary.md"
    assert main(["bench", "report", str(out), "--out", str(md)]) == 0
    assert "| blocks4d.conv4_0.op |" in md.read_text()
    with pytest.raises(SystemExit):
        main(["bench", "breakdown", "--models", "nope_r50", "--device", "cpu"])
    assert "f4d bench breakdown: error: argument --models: unknown model" in (
        capsys.readouterr().err
    )

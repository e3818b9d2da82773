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


def test_bench_rejects_bad_arguments() -> None:
    with pytest.raises(SystemExit):
        main(["bench", "ops", "--widths", "64,x"])
    with pytest.raises(SystemExit, match="PATH or --synthetic"):
        main(["bench", "data"])
    with pytest.raises(SystemExit, match="kernel must be 4 positive ints"):
        main(["bench", "ops", "--kernel", "3,3,1"])
    with pytest.raises(SystemExit, match="unknown model"):
        main(["bench", "model", "--models", "nope_r50", "--device", "cpu"])


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
    with pytest.raises(SystemExit, match="f4d bench breakdown: unknown model"):
        main(["bench", "breakdown", "--models", "nope_r50", "--device", "cpu"])

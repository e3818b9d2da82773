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
    assert report["settings"]["precision"] == "auto"  # through for_inference by default
    assert report["results"][0]["inference"]["precision"] in ("fp32", "bf16")
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
        (["model", "--precision", "fp8"], "argument --precision: invalid choice: 'fp8'"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main(["bench", *argv])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert main(["bench", "model", "--dtype", "bf16"]) == 2
    assert "--dtype bf16 is plain autocast of the unprepared model: add --raw" in (
        capsys.readouterr().err
    )
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


def test_bench_data_side_by_side_with_naive_prepared_and_profile(tmp_path, realdata, capsys):
    from f4d.data.prepare import PrepareOptions, prepare

    src = tmp_path / "src"
    (src / "v").mkdir(parents=True)
    (src / "v" / "a.webm").symlink_to(realdata / "videos" / "human2bot_task5_0.webm")
    (src / "train.csv").write_text("path,label\nv/a.webm,x\n")
    prepare(src, tmp_path / "prep", PrepareOptions(short_side=128), workers=0)
    out = tmp_path / "data.json"
    args = ["bench", "data", str(src), "--naive", "--prepared", str(tmp_path / "prep"),
            "--rounds", "2", "--num-videos", "1", "--units", "2", "--frames", "2",
            "--size", "16", "--workers", "0", "--profile", "--json", str(out)]  # fmt: skip
    assert main(args) == 0
    report = json.loads(out.read_text())
    variants = report["variants"]
    assert list(variants) == ["naive", "f4d", "f4d prepared"]
    assert report["rate"] == "videos_per_s"  # one video: no steady rate
    for row in variants.values():
        assert [r["loaded"] for r in row["runs"]] == [1, 1]
        rates = sorted(r["videos_per_s"] for r in row["runs"])
        assert row["videos_per_s"] == pytest.approx(sum(rates) / 2)  # median of two
    assert variants["naive"]["speedups"] == [1.0, 1.0]
    profile = report["profile"]["f4d prepared"]
    assert {"open+demux", "decode", "convert", "crop+resize", "collate"} <= set(profile["f4d"])
    assert profile["f4d"]["total"] == pytest.approx(
        sum(v for k, v in profile["f4d"].items() if k != "total")
    )
    capsys.readouterr()
    assert main(["bench", "data", "--synthetic", "--naive"]) == 2
    assert "--naive, --prepared, --profile and --rounds need a dataset PATH" in (
        capsys.readouterr().err
    )

"""`f4d profile` on tiny models and, without timing, the Table 1 rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from f4d.cli.main import main
from f4d.models import create_model
from f4d.models.profile import count_macs, count_parameters


def test_profile_tiny_model_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "profile.json"
    argv = ["profile", "--model", "f4d_tiny", "--frames", "4", "--units", "2"]
    argv += ["--num-classes", "4", "--size", "32", "--no-speed", "--json", str(out)]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    model = create_model("f4d_tiny", 4)
    assert result["params"] == count_parameters(model)
    assert result["macs"] == count_macs(model, frames=4, units=2, size=32)
    assert result["videos_per_s"] is None
    assert "f4d_tiny" in capsys.readouterr().out


def test_profile_measures_speed(tmp_path: Path) -> None:
    out = tmp_path / "speed.json"
    argv = ["profile", "--model", "tsn_tiny", "--frames", "2", "--units", "2", "--size", "32"]
    argv += ["--num-classes", "4", "--batch", "2", "--warmup", "0", "--iters", "1"]
    assert main([*argv, "--device", "cpu", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["videos_per_s"] > 0 and result["batch"] == 2


def test_table1_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "table1.json"
    assert main(["profile", "--table1", "--no-speed", "--size", "112", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [(r["paper"]["approach"], r["ours"]["frames"]) for r in rows] == [
        ("V4D", 8),
        ("F4D", 8),
        ("F4D", 16),
    ]
    for row in rows:
        assert abs(row["ours"]["params"] / (row["paper"]["params_m"] * 1e6) - 1) < 0.03
    assert rows[2]["ours"]["macs"] > rows[1]["ours"]["macs"]
    printed = capsys.readouterr().out
    assert "v4d_r50" in printed and "57.5" in printed


def test_unknown_model_is_a_clean_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:  # refused by argparse, before any model exists
        main(["profile", "--model", "f4d_tiyn", "--no-speed", "--size", "32"])
    assert exit_info.value.code == 2
    assert "argument --model: unknown model 'f4d_tiyn'; did you mean f4d_tiny" in (
        capsys.readouterr().err
    )

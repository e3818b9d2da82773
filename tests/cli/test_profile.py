"""`f4d profile` on tiny models and, without timing, the Table 1 rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from f4d.bench import table1
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


def test_profile_on_cpu_defaults_to_a_cpu_sized_measurement(tmp_path: Path) -> None:
    out = tmp_path / "speed.json"
    argv = ["profile", "--model", "tsn_tiny", "--frames", "2", "--units", "2", "--size", "32"]
    assert main([*argv, "--num-classes", "4", "--device", "cpu", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["batch"] == 1 and result["videos_per_s"] > 0


def _table1(out: Path, *extra: str) -> dict:
    assert main(["profile", "--table1", *extra, "--json", str(out)]) == 0
    return json.loads(out.read_text())


def test_table1_both_protocols_reproduce_the_papers_flops(tmp_path: Path) -> None:
    """Section 4.5's protocol (8 or 16 frames per video) gives the paper's 72G and 143G for
    F4D, and V4D's backbone without its 4D blocks at the training input its 167G."""
    table = _table1(tmp_path / "table1.json", "--no-speed")
    rows = {row["row"]: row for row in table["rows"]}
    assert list(rows) == ["V4D 8f", "F4D 8f", "F4D 16f", "V4D backbone"]
    inputs = {name: [(row[p]["units"], row[p]["frames"]) for p in table["protocols"]]
              for name, row in rows.items()}  # fmt: skip
    assert inputs == {"V4D 8f": [(4, 2), (4, 8)], "F4D 8f": [(4, 2), (4, 8)],
                      "F4D 16f": [(4, 4), (4, 16)], "V4D backbone": [(4, 2), (4, 8)]}  # fmt: skip
    gmacs = {name: [row[p]["macs"] / 1e9 for p in table["protocols"]] for name, row in rows.items()}
    assert abs(gmacs["F4D 8f"][0] / 72 - 1) < 0.01  # 71.3
    assert abs(gmacs["F4D 16f"][0] / 143 - 1) < 0.01  # 142.7
    assert abs(gmacs["V4D 8f"][0] / gmacs["F4D 8f"][0] - 1) < 1e-3  # equal at equal input
    assert abs(gmacs["V4D backbone"][1] / 167 - 1) < 1e-3  # 167.0
    assert gmacs["F4D 8f"][1] > 3.9 * gmacs["F4D 8f"][0]  # 32 frames cost 4x 8
    for row in table["rows"][:3]:
        assert abs(row["paper_protocol"]["params"] / (row["paper"]["params_m"] * 1e6) - 1) < 0.03


def test_table1_prints_counts_before_timing_with_cpu_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The counts table is out before the first timed pass; CPU gets batch 1, 1 + 3 passes;
    every timed input lands in its own row. (Timing is faked: the real one takes minutes.)"""
    calls = []

    def fake_speed(model, *, frames, units, batch, size, device, warmup, iters, on_pass):
        calls.append((model.model_name, units, frames, batch, warmup, iters))
        if len(calls) == 1:
            assert "Table 1: parameters and multiply-adds" in capsys.readouterr().out
        for _ in range(warmup + iters):
            on_pass()
        return 100.0 * frames + units

    monkeypatch.setattr(table1, "measure_speed", fake_speed)
    monkeypatch.setattr(table1, "create_model", _on_meta(table1.create_model))
    table = _table1(tmp_path / "table1.json", "--device", "cpu", "--size", "32")
    assert calls == [("f4d_r50", 4, t, 1, 1, 3) for t in (2, 8, 4, 16)] + [
        ("v4d_r50", 4, t, 1, 1, 3) for t in (2, 8)
    ]  # grouped by model: one ResNet-50 in memory at a time
    assert table["speed"] == {"batch": 1, "warmup": 1, "iters": 3}
    for row in table["rows"]:
        for p in table["protocols"]:
            result = row[p]
            expected = None if row["paper"] is None else 100.0 * result["frames"] + 4
            assert result["videos_per_s"] == expected
    printed = capsys.readouterr().out
    assert "videos/s" in printed and "paper 1.37x" in printed


def _on_meta(create):
    """``create_model`` building on the meta device (nothing allocated for the fake timing)."""

    def build(*args, **kwargs):
        with torch.device("meta"):
            return create(*args, **kwargs)

    return build


def test_table1_units_must_divide_the_papers_frames(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "--table1", "--no-speed", "--units", "3"]) == 2
    assert "--units 3 does not divide the paper's 8 frames per video" in capsys.readouterr().err


def test_unknown_model_is_a_clean_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:  # refused by argparse, before any model exists
        main(["profile", "--model", "f4d_tiyn", "--no-speed", "--size", "32"])
    assert exit_info.value.code == 2
    assert "argument --model: unknown model 'f4d_tiyn'; did you mean f4d_tiny" in (
        capsys.readouterr().err
    )

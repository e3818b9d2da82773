"""The smoke version of every experiment: outputs exist, have the right rows, numbers are real."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from f4d.cli.main import main
from f4d.experiments import EXPERIMENTS, SCALES, run_experiment
from f4d.experiments.recipe import pretrain, synthesize
from f4d.experiments.runner import smoke_variants

TRAINED = [name for name, e in EXPERIMENTS.items() if e.kind == "train"]


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the module, so the smoke data and pretraining are made once."""
    return tmp_path_factory.mktemp("experiments")


def _check_run(run: dict, columns: list[str]) -> None:
    assert list(run["tests"]) == columns
    for value in run["tests"].values():
        assert math.isfinite(value) and 0.0 <= value <= 100.0
    assert run["steps"] == 1 and run["train_seconds"] > 0
    losses = [r["train_loss"] for r in run["history"]]
    assert losses and all(math.isfinite(x) and x > 0 for x in losses)


@pytest.mark.parametrize("name", TRAINED)
def test_smoke_experiment_writes_real_numbers(name: str, out: Path) -> None:
    seeds = (0, 1) if name == "figure4" else (0,)  # two seeds once: the test-time budget
    summary = run_experiment(name, seeds=seeds, out=out, scale="smoke")
    experiment = EXPERIMENTS[name]
    saved = json.loads(Path(summary["files"]["json"]).read_text())
    rows = saved["rows"]
    assert [r["name"] for r in rows] == [v.name for v in smoke_variants(experiment)]
    for row, variant in zip(rows, smoke_variants(experiment)):
        columns = list(variant.tests)
        assert row["n"] == len(seeds) and [r["seed"] for r in row["runs"]] == list(seeds)
        for run in row["runs"]:
            _check_run(run, columns)
        assert row["params"] > 50_000 and row["macs"] > 1_000_000
        assert row["std"][columns[0]] >= 0.0
    md = Path(summary["files"]["md"]).read_text()
    assert md.count("\n| ") == len(rows) + 1  # header + one line per row
    assert "±" in md and saved["wall_time_s"] > 0
    if experiment.compare:
        assert Path(saved["compare_plot"]).stat().st_size > 1000
        assert Path(saved["results_plot"]).stat().st_size > 1000
        assert "Bar chart:" in md
    if name == "table3":
        _check_table3(saved)


def _check_table3(summary: dict) -> None:
    """Table 3 tests each model at five unit counts (checked inside the run that made them:
    under xdist another test may run on another worker with its own temp folder)."""
    row = summary["rows"][-1]
    assert row["name"] == "U_train=7"
    assert list(row["mean"]) == ["top1"] + [f"test U={u}" for u in range(3, 8)]
    assert row["mean"]["top1"] == row["mean"]["test U=7"]  # same checkpoint, same views


def test_table1_smoke_through_the_cli(out: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["experiment", "table1", "--smoke", "--seeds", "0", "--out", str(out)]) == 0
    rows = json.loads((out / "table1" / "results.json").read_text())["rows"]
    assert [(r["model"], r["frames"]) for r in rows] == [("v4d_r50", 2), ("f4d_r50", 2),
                                                         ("f4d_r50", 4)]  # fmt: skip
    v4d, f4d8, f4d16 = rows
    assert abs(v4d["params"] - 36.7e6) < 0.1e6 and abs(f4d8["params"] - 36.8e6) < 0.1e6
    assert f4d8["macs"] == pytest.approx(v4d["macs"], rel=1e-3)  # not the paper's 72G vs 167G
    assert f4d16["macs"] == pytest.approx(2 * f4d8["macs"], rel=0.01)  # twice the frames
    assert all(math.isfinite(r["videos_per_s"]) and r["videos_per_s"] > 0 for r in rows)
    assert "| F4D 16f | f4d_r50 |" in capsys.readouterr().out


def test_cli_rejects_bad_seeds(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["experiment", "table2", "--smoke", "--seeds", "0,x"])
    assert "--seeds '0,x'" in capsys.readouterr().err


def test_pretraining_is_reused_only_while_the_recipe_is_unchanged(out: Path) -> None:
    shared = out / "_shared_smoke"  # made here or reused from the experiments run on this worker
    synthesize(shared / "data", SCALES["smoke"])
    first = pretrain(shared, shared / "data", SCALES["smoke"])
    again = pretrain(shared, shared / "data", SCALES["smoke"])
    assert again["wall_time_s"] == first["wall_time_s"]  # the saved run, not a new one
    longer = replace(SCALES["smoke"], max_steps=2)
    redone = pretrain(shared, shared / "data", longer)
    assert redone["config"]["run"]["max_steps"] == 2
    assert redone["wall_time_s"] != first["wall_time_s"]


def test_a_rerun_replaces_the_earlier_runs(out: Path) -> None:
    summary = run_experiment("table5", seeds=(0,), out=out, scale="smoke")
    for row in summary["rows"]:
        (run,) = row["runs"]
        assert [r["epoch"] for r in run["history"]] == [1]  # not appended to the first run's


def test_identical_runs_train_once_and_fresh_retrains(tmp_path: Path) -> None:
    """Table 4's TA+CA+STA row spells out F4D's default attention: the same run as the
    headline's f4d_tiny, so it comes from the cache with the same number; --fresh retrains."""
    headline = run_experiment("headline", seeds=(0,), out=tmp_path, scale="smoke")
    table4 = run_experiment("table4", seeds=(0,), out=tmp_path, scale="smoke")
    f4d = next(r for r in headline["rows"] if r["name"] == "f4d_tiny")["runs"][0]
    full = next(r for r in table4["rows"] if r["name"] == "TA+CA+STA")["runs"][0]
    none = next(r for r in table4["rows"] if r["name"] == "none")["runs"][0]
    assert not f4d["cached"] and full["cached"] and not none["cached"]
    assert full["run_dir"] == f4d["run_dir"] and none["run_dir"] != f4d["run_dir"]
    assert full["tests"] == f4d["tests"] and full["train_seconds"] == f4d["train_seconds"]
    again = run_experiment("table4", seeds=(0,), out=tmp_path, scale="smoke", fresh=True)
    redone = [row["runs"][0] for row in again["rows"]]
    assert not any(run["cached"] for run in redone)
    assert redone[-1]["train_seconds"] != f4d["train_seconds"]  # a new run, timed anew
    assert redone[-1]["tests"] == f4d["tests"]  # deterministic training: the same result


def test_hard_scale_trains_on_24_classes_and_reports_its_own_chance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--hard``: every order of the four primitives (24 classes); its own data, runs and
    results folder, a 24-way classifier and chance 100/24 in the report."""
    monkeypatch.setitem(SCALES, "hard", replace(SCALES["smoke"], num_classes=24, folder="_hard"))
    assert main(["experiment", "table5", "--hard", "--seeds", "0", "--out", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "table5_hard" / "results.json").read_text())
    assert saved["scale"] == "hard" and saved["num_classes"] == 24
    assert saved["chance_top1"] == pytest.approx(100.0 / 24)
    classes = (tmp_path / "_shared_hard" / "data" / "classes.txt").read_text().split()
    assert len(classes) == 24 and len(set(classes)) == 24
    small = run_experiment("table5", seeds=(0,), out=tmp_path, scale="smoke")
    for hard_row, small_row in zip(saved["rows"], small["rows"]):
        assert hard_row["params"] - small_row["params"] == 12 * 65  # 64-wide head: 12 more rows
    md = (tmp_path / "table5_hard" / "results.md").read_text()
    assert "24 classes, chance 4.2%" in md and "reached 8.3%" in md
    assert not (tmp_path / "table5").joinpath("results.md").read_text().count("24 classes")


def test_hard_and_smoke_flags_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["experiment", "table4", "--hard", "--smoke"])
    assert "not allowed with argument" in capsys.readouterr().err

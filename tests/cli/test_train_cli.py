"""`f4d train` / `f4d test`: clean config errors (exit 3, no traceback) and a full round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from f4d.cli.main import main
from f4d.errors import EXIT_CONFIG, EXIT_INPUT
from tests.engine.conftest import tiny_overrides


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from f4d.data.synthetic import generate

    root = tmp_path_factory.mktemp("cli_synth")
    return generate(root, num_train=8, num_test=4, size=32, frames=16, units=4, seed=1,
                    num_classes=4, workers=1)  # fmt: skip


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_unknown_key_exits_3_naming_key_and_file(tmp_path: Path, capsys) -> None:
    config = write_config(tmp_path / "bad.yaml", "data:\n  root: /x\noptim:\n  lrr: 0.1\n")
    assert main(["train", str(config)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "optim.lrr" in err and "bad.yaml" in err and "Traceback" not in err


def test_wrong_type_on_the_command_line_exits_3(tmp_path: Path, capsys) -> None:
    config = write_config(tmp_path / "ok.yaml", "data:\n  root: /x\n")
    assert main(["test", str(config), "optim.epochs=ten"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "optim.epochs" in err and "command line" in err


def test_train_then_test_round_trip(synth: Path, tmp_path: Path, capsys) -> None:
    config = write_config(tmp_path / "run.yaml", "model:\n  name: f4d_tiny\n")
    overrides = [*tiny_overrides(synth, tmp_path / "out"), "optim.batch_size=2",
                 "run.max_steps=2", "optim.epochs=1"]  # fmt: skip
    assert main(["train", str(config), *overrides]) == 0
    assert (tmp_path / "out" / "checkpoints" / "last.safetensors").is_file()
    checkpoint = tmp_path / "out" / "checkpoints" / "last"
    assert main(["test", str(config), *overrides, f"checkpoint={checkpoint}"]) == 0
    results = json.loads((tmp_path / "out" / "test_multi_results.json").read_text())
    assert results["num_videos"] == 4 and results["checkpoint"].endswith("last.safetensors")
    # --resume picks up <out_dir>/checkpoints/last and trains on to epoch 2
    resume = [*overrides, "optim.epochs=2", "run.max_steps=0", "--resume"]
    assert main(["train", str(config), *resume]) == 0
    lines = (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]
    assert "resumed from" in capsys.readouterr().out


def test_missing_checkpoint_is_a_clean_error(synth: Path, tmp_path: Path, capsys) -> None:
    config = write_config(tmp_path / "run.yaml", "model:\n  name: f4d_tiny\n")
    overrides = tiny_overrides(synth, tmp_path / "none")
    assert main(["test", str(config), *overrides]) == EXIT_INPUT
    assert "no checkpoint" in capsys.readouterr().err

"""`f4d train` / `f4d test`: clean config errors (exit 3, no traceback) and a full round trip."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from f4d.cli.main import main
from f4d.errors import EXIT_CONFIG, EXIT_INPUT, EXIT_INTERRUPTED, EXIT_USAGE
from tests.engine.conftest import tiny_overrides


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from f4d.data.synthetic import generate

    root = tmp_path_factory.mktemp("cli_synth")
    return generate(root, num_train=8, num_test=4, size=32, frames=16, units=4, seed=1,
                    num_classes=4, workers=1)  # fmt: skip


def run(argv: list[str]) -> int:
    """``main(argv)``'s exit code, also when argparse refuses the command line (SystemExit)."""
    try:
        return main(argv)
    except SystemExit as exit_:
        return int(exit_.code)


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
    results = json.loads((tmp_path / "out" / "test" / "multi_results.json").read_text())
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


def _one_step(synth: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    config = write_config(tmp_path / "run.yaml", "model:\n  name: f4d_tiny\n")
    overrides = [*tiny_overrides(synth, tmp_path / "out"), "optim.batch_size=2",
                 "run.max_steps=1", "optim.epochs=1"]  # fmt: skip
    return config, overrides


def test_overrides_after_resume_are_taken(synth: Path, tmp_path: Path, capsys) -> None:
    """Issue 27 item 2: `f4d train cfg --resume optim.epochs=2` (overrides after the flag)."""
    config, overrides = _one_step(synth, tmp_path)
    assert main(["train", str(config), *overrides]) == 0
    assert main(["train", str(config), *overrides[:-2], "--resume", "run.max_steps=0",
                 "optim.epochs=2"]) == 0  # fmt: skip
    lines = (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]
    # the saved config describes the run, so repeating it elsewhere starts a new run
    saved = tmp_path / "out" / "config.yaml"
    assert "resume: null" in saved.read_text()
    assert main(["train", str(saved), f"run.out_dir={tmp_path / 'again'}"]) == 0
    assert run(["train", str(config), "--resume", "--bogus"]) == EXIT_USAGE
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_a_second_run_into_the_same_folder_exits_2(synth: Path, tmp_path: Path, capsys) -> None:
    config, overrides = _one_step(synth, tmp_path)
    assert main(["train", str(config), *overrides]) == 0
    best = (tmp_path / "out" / "checkpoints" / "best.safetensors").read_bytes()
    capsys.readouterr()
    assert main(["train", str(config), *overrides]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "already holds a finished run" in err and "--resume" in err and "Traceback" not in err
    assert (tmp_path / "out" / "checkpoints" / "best.safetensors").read_bytes() == best
    # resuming the finished run says so, without a summary of a run that did not happen
    assert main(["train", str(config), *overrides, "--resume"]) == 0
    out = capsys.readouterr().out
    assert "is already complete: 1 epochs, 1 steps" in out and "wall_time_s" not in out
    assert main(["train", str(config), *overrides, "--overwrite"]) == 0
    assert run(["train", str(config), "--overwrite", "--resume"]) == EXIT_USAGE


def test_resume_of_a_missing_folder_exits_4(synth: Path, tmp_path: Path, capsys) -> None:
    config, overrides = _one_step(synth, tmp_path)
    assert main(["train", str(config), *overrides, "--resume"]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "nothing to resume" in err and "does not exist" in err
    assert not (tmp_path / "out").exists()


def test_ctrl_c_says_what_was_saved_and_how_to_resume(
    synth: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    from f4d.engine import train as train_module

    config, overrides = _one_step(synth, tmp_path)
    assert main(["train", str(config), *overrides]) == 0

    def interrupted(cfg, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "train", interrupted)
    capsys.readouterr()
    more = [*overrides, "optim.epochs=3"]
    assert main(["train", str(config), *more, "--resume"]) == EXIT_INTERRUPTED
    out = capsys.readouterr().out
    last = tmp_path / "out" / "checkpoints" / "last.safetensors"
    assert f"saved: {last} (epoch 1, step 1)" in out
    assert shlex.join(["f4d", "train", str(config), *more, "--resume"]) in out
    (tmp_path / "new").mkdir()
    fresh = [*overrides, f"run.out_dir={tmp_path / 'new'}"]
    assert main(["train", str(config), *fresh]) == EXIT_INTERRUPTED
    assert "nothing was saved in" in capsys.readouterr().out


def test_a_missing_config_file_exits_2(tmp_path: Path, capsys) -> None:
    for command in ("train", "test"):
        assert run([command, str(tmp_path / "nosuch.yaml")]) == EXIT_USAGE
        assert "no such file or folder" in capsys.readouterr().err

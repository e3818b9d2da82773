"""The run-folder policy (issue 27, item 1): a finished run is never overwritten silently,
``--resume`` never starts from scratch, a changed config and a finished run are said so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from f4d.engine import checkpoint as ckpt
from f4d.engine import runs
from f4d.engine.train import train
from f4d.errors import EXIT_INPUT, EXIT_USAGE, InputError


def _epochs(out: Path) -> list[int]:
    return [json.loads(x)["epoch"] for x in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture
def finished(make_cfg):
    """A finished 1-epoch run (2 steps) in ``tmp_path/run``: (cfg, its best weights' bytes)."""
    cfg = make_cfg("optim.epochs=1", "run.max_steps=2")
    train(cfg)
    best = Path(cfg.run.out_dir) / "checkpoints" / "best.safetensors"
    return cfg, best.read_bytes()


def test_a_new_run_refuses_a_folder_holding_a_run(finished, make_cfg) -> None:
    cfg, best = finished
    out = Path(cfg.run.out_dir)
    again = make_cfg("optim.epochs=1", "run.max_steps=1", "optim.lr=0.5")
    with pytest.raises(runs.RunExistsError) as caught:
        train(again)
    message = f"{caught.value} -- {caught.value.hint}"
    assert caught.value.exit_code == EXIT_USAGE
    assert "already holds a finished run (1 epoch logged" in message
    assert "--resume" in message and f"run.out_dir={out}-1" in message and "--overwrite" in message
    assert (out / "checkpoints" / "best.safetensors").read_bytes() == best  # untouched
    assert _epochs(out) == [1]


def test_the_fresh_folder_suggested_is_the_first_free_number(tmp_path) -> None:
    (tmp_path / "x-1").mkdir()
    assert runs.free_folder(tmp_path / "x") == tmp_path / "x-2"


def test_overwrite_removes_the_old_run_and_nothing_else(finished, make_cfg, capsys) -> None:
    cfg, _ = finished
    out = Path(cfg.run.out_dir)
    (out / "notes.txt").write_text("mine")
    old_saves = set((out / "checkpoints" / ckpt.SAVES_DIR).glob("*@*"))
    again = make_cfg("optim.epochs=2", "run.max_steps=0", "run.keep_last=0")
    train(again, overwrite=True)
    assert "--overwrite: removed the old run's checkpoints" in capsys.readouterr().out
    assert _epochs(out) == [1, 2]  # not 1, 1, 2
    assert (out / "notes.txt").read_text() == "mine"
    assert old_saves and not old_saves & set((out / "checkpoints" / ckpt.SAVES_DIR).glob("*@*"))
    assert ckpt.load_meta(out / "checkpoints" / "last")["epoch"] == 2


def test_a_start_that_saved_nothing_is_not_a_run(make_cfg) -> None:
    cfg = make_cfg("optim.epochs=1", "run.max_steps=1")
    out = Path(cfg.run.out_dir)
    out.mkdir()
    (out / "steps.jsonl").write_text('{"step": 1}\n{"step": 2}\n')  # killed before its checkpoint
    (out / "config.yaml").write_text("stale")
    assert runs.existing_run(out) is None
    train(cfg)
    assert [json.loads(x)["step"] for x in (out / "steps.jsonl").read_text().splitlines()] == [1]


def test_resume_latest_of_a_mistyped_folder_is_an_error(finished, make_cfg) -> None:
    cfg, _ = finished
    typo = make_cfg("run.resume=latest", out="rnu")
    with pytest.raises(InputError, match=r"nothing to resume.*rnu does not exist") as caught:
        train(typo)
    assert f"did you mean {cfg.run.out_dir}" in str(caught.value)
    assert caught.value.exit_code == EXIT_INPUT
    assert not Path(typo.run.out_dir).exists()


def test_resume_latest_without_checkpoints_is_an_error(make_cfg) -> None:
    cfg = make_cfg("run.resume=latest")
    Path(cfg.run.out_dir).mkdir()
    with pytest.raises(InputError, match="holds no checkpoints/ folder"):
        train(cfg)


def test_resume_auto_without_checkpoints_starts_new_and_says_so(make_cfg, capsys) -> None:
    cfg = make_cfg("run.resume=auto", "optim.epochs=1", "run.max_steps=1")
    assert train(cfg)["step"] == 1
    assert "run.resume=auto: no checkpoint in" in capsys.readouterr().out


def test_resume_with_a_changed_config_lists_the_changed_keys(finished, make_cfg, capsys) -> None:
    resume = make_cfg("run.resume=latest", "optim.epochs=2", "run.max_steps=3", "data.size=16",
                      "data.scale_size=16")  # fmt: skip
    capsys.readouterr()
    assert train(resume)["step"] == 3
    out = capsys.readouterr().out
    note = next(line for line in out.splitlines() if line.startswith("note: resuming"))
    assert "(4 keys;" in note
    for text in ("data.size: 32 -> 16", "data.scale_size: 32 -> 16", "optim.epochs: 1 -> 2",
                 "run.max_steps: 2 -> 3"):  # fmt: skip
        assert text in note, text
    assert "run.resume" not in note


def test_resuming_a_finished_run_says_it_is_complete(finished, make_cfg, capsys) -> None:
    cfg, best = finished
    capsys.readouterr()
    result = train(make_cfg("run.resume=latest", "optim.epochs=1", "run.max_steps=2"))
    out = capsys.readouterr().out
    assert result["already_complete"] is True and result["epoch"] == 1 and result["step"] == 2
    assert "is already complete: 1 epochs, 2 steps (optim.epochs=1 / run.max_steps=2)" in out
    assert "wall_time_s" in result  # the finished run's own summary, not a 0 s one
    assert result["wall_time_s"] > 0.01
    out_dir = Path(cfg.run.out_dir)
    assert _epochs(out_dir) == [1]
    assert (out_dir / "checkpoints" / "best.safetensors").read_bytes() == best


def test_changed_keys_flattens_nested_sections() -> None:
    saved = {"data": {"size": 32, "scales": [1.0]}, "model": {"args": {"dropout": 0.0}}}
    now = {"data": {"size": 16, "scales": [1.0]}, "model": {"args": {"dropout": 0.5}}}
    assert runs.changed_keys(saved, now) == {
        "data.size": (32, 16),
        "model.args.dropout": (0.0, 0.5),
    }

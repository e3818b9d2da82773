"""Checkpoints: safetensors + weights_only state, atomic writes, compatibility, init_from."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from f4d.engine import checkpoint as ckpt
from f4d.models import create_model


def save(model, directory: Path, tag: str = "last", **kwargs) -> Path:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    defaults = dict(
        model=model, optimizer=optimizer, scheduler=None, scaler=None, epoch=3, step=12,
        best_metric=50.0, config={"model": {"name": model.model_name}},
        classes=[f"c{i}" for i in range(model.num_classes)], tag=tag,
    )  # fmt: skip
    return ckpt.save_checkpoint(directory, **{**defaults, **kwargs})


def test_round_trip_for_inference(tmp_path: Path) -> None:
    model = create_model("f4d_tiny", 5)
    save(model, tmp_path)
    save(model, tmp_path, step=13)  # a second save replaces the first and removes its files
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".saves",
        "last.json",
        "last.safetensors",
        "last.state.pt",
    ]  # fmt: skip  (no temp files left behind)
    live = os.readlink(tmp_path / ".saves" / "last")
    assert sorted(p.name for p in (tmp_path / ".saves").iterdir()) == ["last", live]
    assert sorted(p.name for p in (tmp_path / ".saves" / live).iterdir()) == [
        "last.json",
        "last.safetensors",
        "last.state.pt",
    ]  # fmt: skip
    loaded, classes, meta = ckpt.load_for_inference(tmp_path / "last")
    assert classes == ["c0", "c1", "c2", "c3", "c4"] and meta["model_name"] == "f4d_tiny"
    assert not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert json.loads((tmp_path / "last.json").read_text())["step"] == 13


def test_state_loads_with_weights_only_and_restores_rng(tmp_path: Path) -> None:
    save(create_model("tsn_tiny", 3), tmp_path)
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    state = ckpt.load_training_state(tmp_path / "last.safetensors")  # weights_only=True inside
    assert state["epoch"] == 3 and state["step"] == 12 and state["best_metric"] == 50.0
    expected = (random.random(), np.random.rand(), torch.rand(1))
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    rng = ckpt.capture_rng_state()
    random.random(), np.random.rand(), torch.rand(1)
    ckpt.restore_rng_state(rng)
    assert (random.random(), np.random.rand(), torch.rand(1)) == expected
    assert "momentum_buffer" not in str(state["optimizer"]["state"])  # no step taken yet


def test_refuses_non_finite_weights(tmp_path: Path) -> None:
    model = create_model("tsn_tiny", 3)
    with torch.no_grad():
        model.fc.weight[0, 0] = float("nan")
    with pytest.raises(ckpt.CheckpointError, match="non-finite"):
        save(model, tmp_path)
    assert not list(tmp_path.glob("*.safetensors"))


def test_different_model_or_class_count_is_refused(tmp_path: Path) -> None:
    save(create_model("f4d_tiny", 5), tmp_path)
    meta = ckpt.load_meta(tmp_path)
    with pytest.raises(ckpt.CheckpointError, match=r"'f4d_tiny'.*'v4d_tiny'"):
        ckpt.check_compatible(create_model("v4d_tiny", 5), meta, source="x")
    with pytest.raises(ckpt.CheckpointError, match=r"5 classes.*has 7"):
        ckpt.check_compatible(create_model("f4d_tiny", 7), meta, source="x")


def test_init_from_other_dataset_reinitialises_classifier(tmp_path: Path, capsys) -> None:
    source = create_model("tsn_tiny", 4)
    save(source, tmp_path)
    target = create_model("f4d_tiny", 9)
    fresh_fc = target.fc.weight.clone()
    report = ckpt.init_from_checkpoint(target, tmp_path / "last")
    assert report.skipped == ["fc.bias", "fc.weight"]  # 4 vs 9 classes
    assert report.missing and all(k.startswith("blocks4d.") for k in report.missing)
    assert not report.unexpected
    assert len(report.loaded) == len(source.state_dict()) - 2
    assert torch.equal(target.conv1.weight, source.conv1.weight)
    assert torch.equal(target.fc.weight, fresh_fc)
    assert "loaded" in capsys.readouterr().out


def test_init_from_can_force_a_fresh_classifier(tmp_path: Path) -> None:
    save(create_model("tsn_tiny", 4), tmp_path)
    target = create_model("tsn_tiny", 4)
    report = ckpt.init_from_checkpoint(
        target, tmp_path / "last", reset_classifier=True, print_report=False
    )
    assert report.skipped == ["fc.bias", "fc.weight"] and not report.missing


def test_init_from_excludes_prefixes(tmp_path: Path) -> None:
    save(create_model("f4d_tiny", 4), tmp_path)
    target = create_model("f4d_tiny", 4)
    fresh = {k: v.clone() for k, v in target.state_dict().items() if k.startswith("blocks4d.")}
    report = ckpt.init_from_checkpoint(
        target, tmp_path / "last", exclude=["blocks4d."], print_report=False
    )
    assert sorted(report.skipped) == sorted(fresh) and not report.missing
    for key, value in fresh.items():
        assert torch.equal(target.state_dict()[key], value), key


def test_prune_keeps_newest_periodic_and_never_last(tmp_path: Path) -> None:
    model = create_model("tsn_tiny", 2)
    for tag in ("epoch_0001", "epoch_0002", "last", "epoch_0003", "best"):
        save(model, tmp_path, tag=tag)
    removed = ckpt.prune_checkpoints(tmp_path, keep_last=1)
    assert removed == ["epoch_0001", "epoch_0002"]
    left = sorted(p.name for p in tmp_path.glob("*.safetensors"))
    assert left == ["best.safetensors", "epoch_0003.safetensors", "last.safetensors"]
    saves = sorted(p.name.partition("@")[0] for p in (tmp_path / ".saves").iterdir())
    assert saves == ["best", "best", "epoch_0003", "epoch_0003", "last", "last"]  # link + folder


def test_save_ids_tie_the_three_files_together(tmp_path: Path) -> None:
    model = create_model("tsn_tiny", 2)
    save(model, tmp_path, step=1)
    first = ckpt.load_meta(tmp_path / "last")["save_id"]
    save(model, tmp_path, step=2)
    meta = ckpt.verify_checkpoint(tmp_path / "last")
    assert meta["step"] == 2 and meta["save_id"] != first
    assert json.loads((tmp_path / "last.json").read_text())["save_id"] == meta["save_id"]
    assert ckpt.load_training_state(tmp_path / "last")["meta"]["save_id"] == meta["save_id"]


def test_latest_complete_checkpoint_prefers_newest_step_then_last(tmp_path: Path) -> None:
    model = create_model("tsn_tiny", 2)
    assert ckpt.latest_complete_checkpoint(tmp_path) is None
    save(model, tmp_path, tag="epoch_0002", step=8)
    save(model, tmp_path, tag="best", step=4)
    save(model, tmp_path, tag="last", step=8)
    assert ckpt.latest_complete_checkpoint(tmp_path) == tmp_path / "last.safetensors"
    (tmp_path / "last.json").unlink()  # incomplete: falls back to the other step-8 save
    assert ckpt.latest_complete_checkpoint(tmp_path) == tmp_path / "epoch_0002.safetensors"


def test_missing_checkpoint_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ckpt.CheckpointError, match="no checkpoint at"):
        ckpt.resolve_checkpoint(tmp_path / "nothing")

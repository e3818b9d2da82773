"""The config schema: YAML overrides, base inclusion, CLI overrides, errors naming key and file."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from f4d.engine.config import ConfigError, load_config, save_config


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_match_the_paper_recipe() -> None:
    cfg = load_config(None, ["data.root=/data"])
    assert (cfg.optim.lr, cfg.optim.momentum, cfg.optim.epochs) == (0.01, 0.9, 80)
    assert list(cfg.optim.milestones) == [20, 40, 60] and cfg.optim.gamma == 0.1
    assert (cfg.data.test_units, cfg.data.test_crops) == (10, 3)
    assert cfg.run.out_dir == "runs/f4d_tiny"  # ${model.name} interpolation


def test_base_files_merge_first_and_overrides_last(tmp_path: Path) -> None:
    write(
        tmp_path / "_base" / "common.yaml", "data:\n  root: /d\n  frames: 16\noptim:\n  lr: 0.5\n"
    )
    exp = write(tmp_path / "exp" / "a.yaml", "base: ../_base/common.yaml\noptim:\n  lr: 0.02\n")
    cfg = load_config(exp, ["data.units=6", "model.args={dropout: 0.3}"])
    assert cfg.data.frames == 16  # from the base
    assert cfg.optim.lr == 0.02  # the file beats its base
    assert cfg.data.units == 6 and cfg.model.args.dropout == 0.3  # command line last


def test_unknown_key_in_file_names_key_and_file(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.yaml", "data:\n  root: /d\noptim:\n  learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*optim\.learning_rate"):
        load_config(path, [])


def test_wrong_type_names_key_and_source(tmp_path: Path) -> None:
    path = write(tmp_path / "t.yaml", "data:\n  root: /d\n  units: four\n")
    with pytest.raises(ConfigError, match=r"t\.yaml.*data\.units"):
        load_config(path, [])
    with pytest.raises(ConfigError, match=r"command line.*optim\.epochs"):
        load_config(None, ["data.root=/d", "optim.epochs=many"])


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("optim.schedule=poly", "optim.schedule"),
        ("run.amp=fp8", "run.amp"),
        ("test.views=all", "test.views"),
        ("data.test_crops=2", "data.test_crops"),
        ("run.device=tpu", "run.device"),
        ("optim.global_batch_size=10", "optim.global_batch_size"),
        ("data.format=avi", "data.format"),
    ],
)
def test_bad_values_are_rejected_early(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, ["data.root=/d", override])


def test_missing_file_root_and_malformed_override(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml", [])
    with pytest.raises(ConfigError, match=r"data\.root is required"):
        load_config(None, [])
    with pytest.raises(ConfigError, match="key=value"):
        load_config(None, ["data.root=/d", "optim.lr"])


def test_base_cycle_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "base: b.yaml\n")
    write(tmp_path / "b.yaml", "base: a.yaml\n")
    with pytest.raises(ConfigError, match="include each other"):
        load_config(tmp_path / "a.yaml", [])


def test_saved_config_is_resolved_and_reloads_identically(tmp_path: Path) -> None:
    cfg = load_config(None, ["data.root=/d", "model.name=tsn_tiny", "optim.lr=0.3"])
    path = save_config(cfg, tmp_path / "run" / "config.yaml")
    assert "runs/tsn_tiny" in path.read_text()
    again = load_config(path, [])
    assert OmegaConf.to_container(again, resolve=True) == OmegaConf.to_container(cfg, resolve=True)

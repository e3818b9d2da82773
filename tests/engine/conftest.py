"""Shared fixtures of the engine tests: one tiny synthetic dataset per session, tiny configs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from omegaconf import DictConfig

from f4d.engine.config import load_config

NUM_CLASSES = 4


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 train / 8 test synthetic videos, 32x32, 16 frames, 4 units, 4 classes."""
    from f4d.data.synthetic import generate

    root = tmp_path_factory.mktemp("synth")
    return generate(
        root, num_train=16, num_test=8, size=32, frames=16, units=4, seed=0,
        num_classes=NUM_CLASSES, workers=1,
    )  # fmt: skip


def tiny_overrides(root: Path, out_dir: Path) -> list[str]:
    """Overrides for a seconds-long CPU run on the synthetic dataset."""
    return [
        f"data.root={root}",
        "data.size=32",
        "data.scale_size=32",
        "data.frames=2",
        "data.stride=2",
        "data.units=4",
        "data.test_units=4",
        "data.test_crops=1",
        "data.flip=false",
        "data.workers=0",
        "data.scales=[1.0]",
        "data.cache=true",
        "optim.batch_size=4",
        "optim.base_batch_size=4",
        "optim.lr=0.05",
        "optim.epochs=2",
        "optim.schedule=constant",
        "model.name=tsn_tiny",
        "model.args={dropout: 0.0}",
        f"run.out_dir={out_dir}",
        "run.progress=false",
        "run.plots=false",
        "run.log_every=1",
        "test.batch_size=4",
        "run.precision_check=0",  # on in tests/engine/test_precision_check.py
    ]


@pytest.fixture
def make_cfg(synth_root: Path, tmp_path: Path):
    """``make_cfg(*overrides, out="run") -> DictConfig`` writing into ``tmp_path / out``."""

    def make(*overrides: str, out: str = "run") -> DictConfig:
        return load_config(None, [*tiny_overrides(synth_root, tmp_path / out), *overrides])

    return make


@pytest.fixture
def cut_synth(synth_root: Path, tmp_path: Path):
    """``cut_synth(split) -> (root, cut file)``: a copy of the synthetic dataset (links) whose
    first ``split`` video is remuxed to Matroska and cut to 60% of its bytes."""
    from tests.data.clips import remux

    def make(split: str) -> tuple[Path, Path]:
        root = tmp_path / f"cut_{split}"
        shutil.copytree(synth_root, root, copy_function=os.symlink)
        first = sorted((root / "videos" / split).iterdir())[0]
        data = remux(first.resolve(), tmp_path / f"{split}.mkv").read_bytes()
        first.unlink()
        first.write_bytes(data[: len(data) * 6 // 10])
        return root, first

    return make

"""Shared test set-up: deterministic seeds, one thread per worker, paths to shared real data."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
REALDATA = REPO_ROOT.parent / "shared" / "realdata"


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


def pytest_configure(config: pytest.Config) -> None:
    torch.set_num_threads(1)


@pytest.fixture
def realdata() -> Path:
    """The shared real third-party test files; tests skip only when the folder is absent."""
    if not REALDATA.is_dir():
        pytest.skip(f"shared real data not found at {REALDATA}")
    return REALDATA


@pytest.fixture
def av_opens(monkeypatch) -> list[str]:
    """The path of every ``av.open`` from now on, in order (the one-open-per-video tests)."""
    import av

    opened: list[str] = []
    original = av.open

    def counting(file, *args, **kwargs):
        opened.append(str(file))
        return original(file, *args, **kwargs)

    monkeypatch.setattr(av, "open", counting)
    return opened

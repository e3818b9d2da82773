"""Shared fixtures of the serve tests: a tiny checkpoint (untrained f4d_tiny), clips, an app."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from f4d.engine.predict import Predictor, load_predictor
from f4d.serve.app import ServeSettings, create_app
from tests.engine.test_predict import make_run, make_video

REAL_VIDEOS = (
    "mmaction2_test.mp4",
    "mmaction2_test.avi",
    "decord_video_0.mov",
    "human2bot_task5_0.webm",
)


@pytest.fixture(scope="session")
def serve_assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Run folders of f4d_tiny (TA + STA) and tsn_tiny (no attention), and a tiny clip."""
    root = tmp_path_factory.mktemp("serve")
    return {
        "f4d": make_run(root / "f4d"),
        "tsn": make_run(root / "tsn", "tsn_tiny"),
        "clip": make_video(root / "clip.mp4"),
    }


@pytest.fixture(scope="session")
def predictor(serve_assets: dict[str, Path]) -> Predictor:
    return load_predictor(serve_assets["f4d"])


def make_client(predictor: Predictor, **settings) -> TestClient:
    """A TestClient of an app over ``predictor`` (use as a context manager: runs the lifespan)."""
    return TestClient(create_app(predictor, ServeSettings(**settings)))


@pytest.fixture(scope="module")
def client(predictor: Predictor):
    with make_client(predictor) as test_client:
        yield test_client

"""``POST /v1/timeline``: the JSON of ``f4d predict --timeline``, under the server's limits."""

from __future__ import annotations

import json

import pytest

from f4d.cli.main import main
from f4d.serve.worker import Limits
from tests.data.clips import cut_copy, remux
from tests.engine.test_timeline import make_long_video
from tests.serve.conftest import make_client

SERVER_ONLY = ("model", "timings_ms", "video")


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    return make_long_video(tmp_path_factory.mktemp("served_timeline") / "long.mp4", 50)


def post(client, path, **data):
    return client.post("/v1/timeline", files={"video": ("v.mp4", path.read_bytes())}, data=data)


@pytest.mark.parametrize("options", [{"window": "1.5", "hop": "0.5"}, {"views": "multi",
                                     "crops": "3", "window": "2"}])  # fmt: skip
def test_served_timeline_equals_the_cli(client, serve_assets, long_video, capsys, options):
    answer = post(client, long_video, topk="3", **options)
    assert answer.status_code == 200, answer.text
    served = answer.json()
    argv = ["predict", str(long_video), "--checkpoint", str(serve_assets["f4d"]), "--timeline",
            "--topk", "3", "--json"]  # fmt: skip
    for key, value in options.items():
        argv += [f"--{key}", value]
    assert main(argv) == 0
    cli = json.loads(capsys.readouterr().out)
    assert {k: v for k, v in served.items() if k not in SERVER_ONLY} == {
        k: v for k, v in cli.items() if k != "video"
    }
    assert served["video"] == "upload" and served["model"] == "f4d_tiny"
    assert set(served["timings_ms"]) == {"upload_ms", "timeline_ms", "total_ms"}
    assert "truncated" not in served


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"window": "0"}, "window: Input should be greater than 0"),
        ({"hop": "-1"}, "hop: Input should be greater than 0"),
        ({"hop": "abc"}, "hop: Input should be a valid number"),
        ({"window": "inf"}, "window must be a finite number of seconds > 0"),
        ({"min_score": "2"}, "min_score: Input should be less than or equal to 1"),
    ],
)
def test_bad_window_or_hop_is_422(client, long_video, data, words):
    answer = post(client, long_video, **data)
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_option"
    assert words in answer.json()["error"]["message"]


def test_truncated_upload_is_refused(client, long_video, tmp_path):
    cut = cut_copy(remux(long_video, tmp_path / "long.mkv"), 0.5)
    answer = post(client, cut)
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "truncated"


def test_limits_apply_to_timelines(predictor, long_video):
    with make_client(predictor, limits=Limits(max_frames=40)) as client:
        answer = post(client, long_video)
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "too_many_frames"
    with make_client(predictor, limits=Limits(max_upload_mb=0.001)) as client:
        answer = post(client, long_video)
    assert answer.status_code == 413


def test_queue_bound_applies_to_timelines(predictor, long_video):
    with make_client(predictor, max_pending=1) as client:
        client.app.state.f4d.service.pending = 1  # one request already admitted
        answer = post(client, long_video)
        client.app.state.f4d.service.pending = 0
    assert answer.status_code == 429 and "Retry-After" in answer.headers


def test_openapi_documents_the_timeline(client):
    spec = client.get("/openapi.json").json()
    assert "/v1/timeline" in spec["paths"]
    assert "TimelineResponse" in spec["components"]["schemas"]

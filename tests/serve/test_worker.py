"""Tests of the inference service: the bounded queue (429), batching, events off the loop."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
import torch
from torch import nn

from f4d.engine.predict import predict_video, with_views
from f4d.serve.errors import ApiError
from f4d.serve.worker import InferenceService

pytestmark = pytest.mark.xdist_group("serve_app")


class Gated(nn.Module):
    """The model behind a gate: every forward waits until ``gate`` is set, counting calls."""

    def __init__(self, inner: nn.Module, gate: threading.Event) -> None:
        super().__init__()
        self.inner, self.gate, self.batches = inner, gate, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert self.gate.wait(timeout=30), "gate never opened"
        self.batches.append(x.shape[0])
        return self.inner(x)


def gated(predictor):
    gate = threading.Event()
    return replace(predictor, model=Gated(predictor.model, gate)), gate


async def wait_until(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def test_a_full_queue_answers_429_with_retry_after(predictor, serve_assets):
    model, gate = gated(predictor)
    clip = serve_assets["clip"]

    async def scenario():
        service = InferenceService(model, max_pending=2)
        try:
            held = [
                asyncio.create_task(
                    service.predict(clip, model, video="v", topk=1, explain_dir=None)
                )
                for _ in range(2)
            ]
            await wait_until(lambda: service.pending == 2)
            with pytest.raises(ApiError) as refused:
                await service.predict(clip, model, video="v", topk=1, explain_dir=None)
            loop_alive = await asyncio.wait_for(asyncio.sleep(0, result=True), timeout=1)
            gate.set()
            answered = await asyncio.gather(*held)
            return refused.value, answered, loop_alive, service.pending
        finally:
            service.close()

    refused, answered, loop_alive, pending = asyncio.run(scenario())
    assert refused.status == 429 and refused.code == "busy"
    assert int(refused.headers["Retry-After"]) >= 1 and "retry in" in refused.message
    assert loop_alive  # the event loop kept running while the model was busy
    assert len(answered) == 2 and pending == 0
    expected = predict_video(predictor, clip, topk=1).topk
    assert all(outcome.prediction.topk == expected for outcome in answered)


def test_waiting_requests_with_the_same_views_share_one_forward(predictor, serve_assets, realdata):
    model, gate = gated(predictor)
    real = realdata / "videos"
    videos = [serve_assets["clip"], real / "mmaction2_test.avi", real / "decord_video_0.mov",
              real / "mmaction2_test.mp4"]  # fmt: skip
    multi = with_views(model, views="multi")
    settings = [model, model, multi, model]

    async def scenario():
        service = InferenceService(model, max_batch=4, max_pending=8)
        try:
            tasks = []
            for video, request_model in zip(videos, settings):
                request = service.predict(
                    video, request_model, video=video.name, topk=5, explain_dir=None
                )
                tasks.append(asyncio.create_task(request))
                if len(tasks) == 1:  # the first one holds the model thread at the gate
                    await wait_until(lambda: service._ready.qsize() == 0 and service.pending == 1)
                    await asyncio.sleep(0.05)
            await wait_until(lambda: service._ready.qsize() == 3)
            gate.set()
            return await asyncio.gather(*tasks)
        finally:
            service.close()

    outcomes = asyncio.run(scenario())
    assert [o.batch_size for o in outcomes] == [1, 2, 1, 2]
    assert model.model.batches == [1, 2, 3]  # 1 view; 1 + 1 views batched; 3 crops (multi)
    for outcome, video, request_model in zip(outcomes, videos, settings):
        alone = predict_video(replace(request_model, model=predictor.model), video, topk=5).topk
        got = outcome.prediction.topk
        assert [i for i, _, _ in got] == [i for i, _, _ in alone]
        assert [p for _, _, p in got] == pytest.approx([p for _, _, p in alone], abs=1e-6)


def test_service_settings_are_checked(predictor):
    with pytest.raises(ValueError, match="must be >= 1"):
        InferenceService(predictor, max_batch=0)


def test_http_429_carries_retry_after_and_the_server_recovers(predictor, serve_assets):
    from tests.serve.conftest import make_client

    model, gate = gated(predictor)
    video = {"video": ("clip.mp4", serve_assets["clip"].read_bytes())}
    with make_client(model, max_pending=1) as client:
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(client.post, "/v1/predict", files=video)
            deadline = time.monotonic() + 20
            while client.get("/healthz").json()["pending"] < 1:
                assert time.monotonic() < deadline, "first request never admitted"
                time.sleep(0.01)
            refused = client.post("/v1/predict", files=video)
            gate.set()
            assert first.result(timeout=30).status_code == 200
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"]["code"] == "busy"
        assert client.post("/v1/predict", files=video).status_code == 200


class Broken(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom in /opt/secret/model.py")


def test_a_server_bug_is_a_plain_500_and_the_server_keeps_serving(predictor, serve_assets):
    from fastapi.testclient import TestClient

    from f4d.serve.app import create_app

    broken = replace(predictor, model=Broken())
    video = {"video": ("clip.mp4", serve_assets["clip"].read_bytes())}
    with TestClient(create_app(broken), raise_server_exceptions=False) as client:
        answer = client.post("/v1/predict", files=video)
        assert answer.status_code == 500
        assert answer.json()["error"]["code"] == "internal_error"
        assert "boom" not in answer.text and "/opt" not in answer.text
        assert "Traceback" not in answer.text
        assert client.get("/healthz").json()["status"] == "ok"


def test_a_request_opens_its_video_once(predictor, serve_assets, monkeypatch):
    import av

    clip = serve_assets["clip"]
    opened: list[str] = []
    original = av.open

    def counting(file, *args, **kwargs):
        opened.append(str(file))
        return original(file, *args, **kwargs)

    monkeypatch.setattr(av, "open", counting)

    async def scenario():
        service = InferenceService(predictor)
        try:
            return await service.predict(clip, predictor, video="v", topk=2, explain_dir=None)
        finally:
            service.close()

    outcome = asyncio.run(scenario())
    assert opened == [str(clip)] and len(outcome.prediction.topk) == 2

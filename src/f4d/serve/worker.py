"""Inference off the event loop: a bounded queue, decode threads and one batching model thread.

A request's path through :class:`InferenceService`::

    admit (429 past ``max_pending``) -> decode thread: probe, limits, load_clip
        -> ready queue -> model thread: up to ``max_batch`` waiting clips of the same view
        settings in one forward (explain requests alone) -> the request's future

The event loop only awaits futures; decoding and the model run in threads. The model thread
never waits for a batch to fill: it takes what is queued when it gets free, so batching costs
no latency when the server is idle. With ``max_batch=1`` every request goes through
:func:`~f4d.engine.predict.predict_clip`, the code ``f4d predict`` runs, so the numbers are the
same bit for bit.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import queue
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from f4d.data.decode import VideoDecodeError, VideoInfo, open_video
from f4d.engine.predict import (
    Prediction,
    Predictor,
    batch_probabilities,
    decode_clip,
    predict_clip,
    top_k,
)
from f4d.errors import F4DError, OptionError
from f4d.serve.errors import ApiError, busy, decode_error, input_error

if TYPE_CHECKING:
    from f4d.engine.timeline import Timeline

log = logging.getLogger("f4d.serve")


@dataclass(frozen=True)
class Limits:
    """What one request may cost: upload size, frame count, frame size, decode time."""

    max_upload_mb: float = 100.0
    max_frames: int = 54_000  # 30 min at 30 fps
    max_side: int = 4096  # longest frame side in pixels
    decode_timeout_s: float = 30.0

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)


@dataclass
class Job:
    """One request inside the service: its upload, settings, result future and timings (ms)."""

    path: Path
    predictor: Predictor
    video: str
    topk: int
    explain_dir: Path | None
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    clip: torch.Tensor | None = None
    timings: dict[str, float] = field(default_factory=dict)
    ready_at: float = 0.0
    batch_size: int = 1


@dataclass
class Outcome:
    """A finished request: the prediction, timings in ms, and how many shared its forward."""

    prediction: Prediction
    timings: dict[str, float]
    batch_size: int


class InferenceService:
    """Decode threads and one model thread behind a bounded number of pending requests.

    Args:
        predictor: the loaded model (shared by every request; never trained here).
        workers: decode threads (probe + decode + transform run in parallel on these).
        max_batch: most requests one forward may hold (1: no batching).
        max_pending: most requests admitted at once (decoding, waiting or running); a request
            past it gets :func:`~f4d.serve.errors.busy` (429 with Retry-After).
        limits: per-request limits.
    """

    def __init__(
        self,
        predictor: Predictor,
        *,
        workers: int = 1,
        max_batch: int = 1,
        max_pending: int = 16,
        limits: Limits | None = None,
    ) -> None:
        if workers < 1 or max_batch < 1 or max_pending < 1:
            raise ValueError(
                f"workers, max_batch and max_pending must be >= 1, "
                f"got {workers}, {max_batch}, {max_pending}"
            )
        self.predictor = predictor
        self.workers, self.max_batch, self.max_pending = workers, max_batch, max_pending
        self.limits = limits or Limits()
        self.pending = 0
        self.served = 0
        self._service_s = 1.0  # moving average of admitted-to-answered time
        self._decoders = ThreadPoolExecutor(workers, thread_name_prefix="f4d-decode")
        self._ready: queue.Queue[Job | None] = queue.Queue()
        self._held: deque[Job] = deque()
        self._thread = threading.Thread(target=self._model_loop, name="f4d-model", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ event-loop side

    async def predict(
        self, path: Path, predictor: Predictor, *, video: str, topk: int, explain_dir: Path | None
    ) -> Outcome:
        """Predict one uploaded video; raises :class:`ApiError` for a refusal.

        ``predictor`` is the service's predictor with this request's view settings
        (:func:`~f4d.engine.predict.with_views`).
        """
        if self.pending >= self.max_pending:
            raise busy(self.retry_after_s(), self.max_pending)
        self.pending += 1
        start = time.perf_counter()
        loop = asyncio.get_running_loop()
        job = Job(path, predictor, video, topk, explain_dir, loop, loop.create_future())
        try:
            await loop.run_in_executor(self._decoders, self._decode, job)
            job.ready_at = time.perf_counter()
            self._ready.put(job)
            prediction = await job.future
        finally:
            self.pending -= 1
        elapsed = time.perf_counter() - start
        self._service_s = 0.8 * self._service_s + 0.2 * elapsed
        self.served += 1
        return Outcome(prediction, job.timings, job.batch_size)

    def retry_after_s(self) -> int:
        """Seconds until a slot is likely free: the queue drained at the measured pace."""
        per_request = self._service_s / max(1, self.max_batch)
        return max(1, min(120, math.ceil(per_request * self.pending)))

    def close(self) -> None:
        """Stop the model thread and the decode threads (queued work is dropped)."""
        self._ready.put(None)
        self._decoders.shutdown(wait=False, cancel_futures=True)
        self._thread.join(timeout=10)

    # ------------------------------------------------------------------ decode threads

    def _decode(self, job: Job) -> None:
        """Open once, check the limits, decode and transform (runs on a decode thread)."""
        start = time.perf_counter()
        limits = self.limits
        try:
            with open_video(job.path) as video:
                self._check_limits(video.info)
                job.clip = decode_clip(
                    video, job.predictor.settings, timeout_s=limits.decode_timeout_s
                )  # (V, U, C, T, size, size)
        except VideoDecodeError as err:
            raise decode_error(err, limit_s=limits.decode_timeout_s) from None
        except F4DError as err:  # another user-caused error about this upload
            raise input_error(err) from None
        job.timings["decode_ms"] = _ms(time.perf_counter() - start)

    def _check_limits(self, info: VideoInfo) -> None:
        """`ApiError` 422 for a video with more frames or longer sides than allowed."""
        limits = self.limits
        if info.num_frames > limits.max_frames:
            raise ApiError(
                422, "too_many_frames",
                f"the video has {info.num_frames} frames; the limit is {limits.max_frames}",
            )  # fmt: skip
        if max(info.width, info.height) > limits.max_side:
            raise ApiError(
                422, "frame_too_large",
                f"the frames are {info.width}x{info.height}; the longest side may be "
                f"at most {limits.max_side} pixels",
            )  # fmt: skip

    # ------------------------------------------------------------------ timelines

    async def timeline(self, path: Path, predictor: Predictor, **options: Any) -> Timeline:
        """The timeline of one uploaded video (``options``: of ``predict_timeline``).

        Admitted like a prediction (429 past ``max_pending``); decoding and the windows'
        forward passes run on one decode thread, under the same frame, size and decode-time
        limits (``decode_timeout_s`` bounds the whole run).
        """
        if self.pending >= self.max_pending:
            raise busy(self.retry_after_s(), self.max_pending)
        self.pending += 1
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(
                self._decoders, functools.partial(self._timeline, path, predictor, options)
            )
        finally:
            self.pending -= 1
        self.served += 1
        return result

    def _timeline(self, path: Path, predictor: Predictor, options: dict[str, Any]) -> Timeline:
        from f4d.engine.timeline import predict_timeline

        limits = self.limits
        try:
            return predict_timeline(
                predictor, path, timeout_s=limits.decode_timeout_s,
                check_info=self._check_limits, **options,
            )  # fmt: skip
        except OptionError as err:
            raise ApiError(422, "invalid_option", str(err)) from None
        except VideoDecodeError as err:
            raise decode_error(err, limit_s=limits.decode_timeout_s) from None
        except F4DError as err:
            raise input_error(err) from None

    # ------------------------------------------------------------------ model thread

    def _model_loop(self) -> None:
        while True:
            job = self._held.popleft() if self._held else self._ready.get()
            if job is None:
                return
            batch = [job]
            if job.explain_dir is None:
                batch += self._more_like(job)
            self._run(batch)

    def _more_like(self, first: Job) -> list[Job]:
        """Waiting jobs that can share ``first``'s forward (same view settings, no explain)."""
        more: list[Job] = []
        while len(more) + 1 < self.max_batch:
            try:
                job = self._ready.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._ready.put(None)
                break
            same = job.explain_dir is None and job.predictor.settings == first.predictor.settings
            (more if same else self._held).append(job)
        return more

    def _run(self, batch: list[Job]) -> None:
        start = time.perf_counter()
        for job in batch:
            job.timings["queue_ms"] = _ms(start - job.ready_at)
            job.batch_size = len(batch)
        try:
            predictions = self._forward(batch)
        except Exception as err:  # delivered to every request of the batch
            log.exception("inference failed")
            for job in batch:
                _settle(job, None, err)
            return
        model_ms = _ms(time.perf_counter() - start)
        for job, prediction in zip(batch, predictions):
            job.timings["model_ms"] = model_ms
            job.clip = None
            _settle(job, prediction, None)

    def _forward(self, batch: list[Job]) -> list[Prediction]:
        if len(batch) == 1:
            job = batch[0]
            return [
                predict_clip(job.predictor, job.clip, job.video, topk=job.topk,
                             explain_dir=job.explain_dir)
            ]  # fmt: skip
        first = batch[0].predictor
        probs = batch_probabilities(first, [job.clip for job in batch])
        settings = first.settings
        return [
            Prediction(job.video, top_k(p, first.classes, job.topk), views=settings.views,
                       units=settings.units, crops=settings.crops)
            for job, p in zip(batch, probs)
        ]  # fmt: skip


def _settle(job: Job, result: Prediction | None, err: BaseException | None) -> None:
    """Hand a result or error to the request's future on its event loop (thread-safe)."""

    def settle() -> None:
        if job.future.done():  # the client went away
            return
        if err is None:
            job.future.set_result(result)
        else:
            job.future.set_exception(err)

    with contextlib.suppress(RuntimeError):  # the event loop has closed (shutting down)
        job.loop.call_soon_threadsafe(settle)


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 2)

"""Model complexity: parameters, multiply-adds (MACs) and measured throughput (videos/s)."""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


@dataclass(frozen=True)
class ProfileResult:
    """One model at one input size; ``macs`` is per video, ``videos_per_s`` None if not timed."""

    model: str
    frames: int
    units: int
    size: int
    batch: int
    device: str
    params: int
    macs: int
    videos_per_s: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (buffers such as BN running statistics excluded)."""
    return sum(p.numel() for p in model.parameters())


def _video(batch: int, units: int, channels: int, frames: int, size: int, device: Any) -> Any:
    return torch.randn(batch, units, channels, frames, size, size, device=device)


def count_macs(model: nn.Module, *, frames: int, units: int, size: int = 224) -> int:
    """Multiply-adds of one forward pass of one video ``(1, U, C, T, size, size)``.

    Counted by :class:`torch.utils.flop_counter.FlopCounterMode` (which counts a multiply-add
    as 2 FLOPs, hence the halving) on a copy of the model on the meta device, so nothing is
    computed. Convolutions, matmuls and linears are counted; pooling, norms and activations are
    not (as in the papers' GFLOPs).
    """
    meta_model = copy.deepcopy(model).to("meta").eval()
    channels = getattr(model, "in_channels", 3)
    x = _video(1, units, channels, frames, size, "meta")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        meta_model(x)
    return counter.get_total_flops() // 2


def synchronize(device: torch.device) -> None:
    """Wait for all queued work on ``device`` (a no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(
    fn: Callable[[], object],
    *,
    device: torch.device,
    warmup: int = 2,
    repeats: int = 5,
    on_call: Callable[[], None] | None = None,
) -> list[float]:
    """The one timing harness of f4d (``f4d profile``, ``f4d bench``, :func:`measure_speed`).

    Runs ``fn`` ``warmup`` times untimed, then returns ``repeats`` wall times (s), each call
    bracketed by a device synchronisation so CUDA kernels are finished, not just queued.
    ``on_call`` runs after every call, warm-up included (e.g. to advance a progress bar), outside
    the timed span.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, "
                         f"warmup={warmup}")  # fmt: skip
    for _ in range(warmup):
        fn()
        if on_call is not None:
            on_call()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
        if on_call is not None:
            on_call()
    return times


def measure_speed(
    model: nn.Module,
    *,
    frames: int,
    units: int,
    batch: int = 16,
    size: int = 224,
    device: str | torch.device = "cpu",
    warmup: int = 2,
    iters: int = 5,
    on_pass: Callable[[], None] | None = None,
) -> float:
    """Inference throughput in videos/s: ``batch`` over the median time of ``iters`` forward
    passes of a random ``(batch, U, C, T, size, size)`` batch, after ``warmup`` passes
    (timed by :func:`time_call`).

    ``on_pass`` is called after every pass, warm-up included (e.g. to advance a progress bar).
    """
    if iters < 1 or warmup < 0:
        raise ValueError(f"need iters >= 1 and warmup >= 0, got iters={iters}, warmup={warmup}")
    device = torch.device(device)
    model = model.to(device).eval()
    x = _video(batch, units, getattr(model, "in_channels", 3), frames, size, device)
    with torch.inference_mode():
        times = time_call(
            lambda: model(x), device=device, warmup=warmup, repeats=iters, on_call=on_pass
        )
    return batch / statistics.median(times)


def profile_model(
    model: nn.Module,
    *,
    frames: int,
    units: int,
    batch: int = 16,
    size: int = 224,
    device: str | torch.device = "cpu",
    speed: bool = True,
    warmup: int = 2,
    iters: int = 5,
    on_pass: Callable[[], None] | None = None,
) -> ProfileResult:
    """Parameters, MACs per video and (if ``speed``) measured videos/s of ``model``.

    ``on_pass``: called after every timed or warm-up forward pass (see :func:`measure_speed`).
    """
    macs = count_macs(model, frames=frames, units=units, size=size)
    videos_per_s = None
    if speed:
        videos_per_s = measure_speed(
            model,
            frames=frames,
            units=units,
            batch=batch,
            size=size,
            device=device,
            warmup=warmup,
            iters=iters,
            on_pass=on_pass,
        )
    return ProfileResult(
        model=getattr(model, "model_name", type(model).__name__),
        frames=frames,
        units=units,
        size=size,
        batch=batch,
        device=str(device),
        params=count_parameters(model),
        macs=macs,
        videos_per_s=videos_per_s,
    )

"""Op benchmark: `Conv4d` (fast path) and `Factorized4d` against the naive `conv4d_loop`.

For each channel width C, one input `(B, C, U, T, S, S)` goes through three ops with the same
kernel, stride 1 and "same" padding:

* ``loop``: `conv4d_loop` -- the per-output-unit Python loop of 3D convolutions that public V4D
  code uses (the baseline);
* ``conv4d``: `Conv4d`, the same full 4D convolution through its single-conv3d fast path
  (same weights as ``loop``, so the outputs must agree);
* ``factorized``: `Factorized4d`, F4D's (3+1)D layer with about the same parameter count; its
  outputs are checked against the same layer evaluated with `conv4d_loop` for both convolutions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from f4d.bench.timing import median, time_call, wrap_report
from f4d.ops import Conv4d, Factorized4d, conv4d_loop


@dataclass(frozen=True)
class OpsBenchSettings:
    """Shapes and timing rules shared by every width of one ops benchmark."""

    units: int = 4
    frames: int = 8
    size: int = 14
    batch: int = 1
    kernel: tuple[int, int, int, int] = (3, 3, 1, 1)
    backward: bool = False
    repeats: int = 5
    warmup: int = 1

    def __post_init__(self) -> None:
        if len(self.kernel) != 4 or min(self.kernel) < 1:
            raise ValueError(f"kernel must be 4 positive ints (u, t, h, w), got {self.kernel}")
        for name in ("units", "frames", "size", "batch", "repeats"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def padding(self) -> tuple[int, ...]:
        """'Same' padding for odd kernels: `k // 2` per axis."""
        return tuple(k // 2 for k in self.kernel)


def factorized_reference(layer: Factorized4d, x: Tensor) -> Tensor:
    """`layer(x)` with both of its convolutions evaluated by the naive `conv4d_loop`."""
    spatial, temporal = layer.spatial, layer.temporal
    y = conv4d_loop(
        x, spatial.weight, spatial.bias, spatial.stride, spatial.padding, spatial.dilation
    )  # (B, M, U', T, H', W')
    shape = y.shape
    y = layer.act(layer.norm(y.flatten(4)).view(shape))
    return conv4d_loop(
        y, temporal.weight, temporal.bias, temporal.stride, temporal.padding, temporal.dilation
    )  # (B, O, U', T', H', W')


def _time(fn: Callable[[], Tensor], x: Tensor, settings: OpsBenchSettings, device) -> float:
    """Median seconds of a forward call (and its backward when ``settings.backward``)."""

    def forward_backward() -> None:
        x.grad = None
        fn().sum().backward()

    call = forward_backward if settings.backward else fn
    with torch.set_grad_enabled(settings.backward):
        times = time_call(call, device=device, warmup=settings.warmup, repeats=settings.repeats)
    return median(times)


def _max_diff(a: Tensor, b: Tensor) -> float:
    return float((a.double() - b.double()).abs().max())


def bench_op_width(width: int, *, settings: OpsBenchSettings, device: torch.device) -> dict:
    """Time and check the three ops at ``width`` input = output channels (one row)."""
    s = settings
    conv = Conv4d(width, width, s.kernel, padding=s.padding).to(device).eval()
    fact = Factorized4d(width, width, s.kernel, padding=s.padding).to(device).eval()
    x = torch.randn(s.batch, width, s.units, s.frames, s.size, s.size, device=device)
    x.requires_grad_(s.backward)
    ops = {
        "loop": lambda: conv4d_loop(x, conv.weight, conv.bias, conv.stride, conv.padding),
        "conv4d": lambda: conv(x),
        "factorized": lambda: fact(x),
    }
    with torch.no_grad():
        diff_conv = _max_diff(conv(x), ops["loop"]())
        diff_fact = _max_diff(fact(x), factorized_reference(fact, x))
    seconds = {name: _time(fn, x, s, device) for name, fn in ops.items()}
    return {
        "width": width,
        "params_conv4d": sum(p.numel() for p in conv.parameters()),
        "params_factorized": sum(p.numel() for p in fact.parameters()),
        "mid_channels": fact.mid_channels,
        **{f"{name}_ms": 1000 * t for name, t in seconds.items()},
        "conv4d_speedup": seconds["loop"] / seconds["conv4d"],
        "factorized_speedup": seconds["loop"] / seconds["factorized"],
        "factorized_vs_conv4d": seconds["conv4d"] / seconds["factorized"],
        "conv4d_max_abs_diff": diff_conv,
        "factorized_max_abs_diff": diff_fact,
    }


def bench_ops(
    widths: Sequence[int],
    *,
    settings: OpsBenchSettings,
    device: torch.device,
    on_result: Callable[[dict], None] | None = None,
) -> dict:
    """Run :func:`bench_op_width` for each width; returns ``{"kind": "ops", "machine",
    "settings", "results": [row, ...]}`` (times in ms, speed-ups = loop time / op time)."""
    if not widths or min(widths) < 1:
        raise ValueError(f"widths must be positive channel counts, got {list(widths)}")
    results = []
    for width in widths:
        results.append(bench_op_width(width, settings=settings, device=device))
        if on_result is not None:
            on_result(results[-1])
    return make_ops_report(results, settings=settings, device=device)


def make_ops_report(
    results: list[dict], *, settings: OpsBenchSettings, device: torch.device
) -> dict:
    """Wrap per-width rows with machine facts and settings."""
    return wrap_report("ops", results, settings=settings, device=device)

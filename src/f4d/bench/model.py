"""Model benchmark: inference and training-step throughput of registered models, side by side.

All models in one call run on one device with the same input `(B, U, 3, T, H, W)`, so their
ratios are fair. Each figure is the median of ``repeats`` synchronised timings after ``warmup``
untimed calls (which also absorb ``torch.compile`` time, reported separately).

With ``precision`` set (``f4d bench model``'s default, ``auto``) inference runs through
:func:`f4d.models.for_inference` as ``f4d predict`` does, and the training step autocasts in
the precision training would use; with ``precision=None`` (``--raw``) the model runs as
``create_model`` gives it, under plain autocast per ``dtype`` (the path before issue 23).
"""

from __future__ import annotations

import contextlib
import copy
import gc
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from f4d.bench.timing import (
    count_flops,
    peak_tflops,
    resolve_dtype,
    spread,
    synchronize,
    time_call,
    track_peak_memory,
    wrap_report,
)
from f4d.models.inference import for_inference
from f4d.models.precision import PRECISION_DTYPES, normalize_precision, resolve_precision
from f4d.models.profile import count_macs, count_parameters


@dataclass(frozen=True)
class ModelBenchSettings:
    """What every model in one benchmark run is measured with."""

    frames: int = 8
    units: int = 4
    batch: int = 16
    size: int = 224
    dtype: str = "fp32"  # plain autocast dtype of the unprepared model (precision None)
    precision: str | None = None  # auto | fp32 | bf16 | fp16: through for_inference
    compile: bool = False
    compile_backend: str = "inductor"
    channels_last: bool = False  # input laid out channels-last too (weights are by default)
    contiguous: bool = False  # model converted to NCTHW, the layout before issue 13
    cudnn_benchmark: bool = True
    train: bool = False
    repeats: int = 5
    warmup: int = 2
    num_classes: int = 174
    peak_tflops: float | None = None
    model_args: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        resolve_dtype(self.dtype)
        if self.precision is not None:
            normalize_precision(self.precision)
            if self.dtype != "fp32":
                raise ValueError(
                    f"dtype={self.dtype} is plain autocast of the unprepared model; with "
                    f"precision={self.precision} (for_inference) leave dtype at fp32"
                )
        for name in ("frames", "units", "batch", "size", "repeats", "num_classes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {self.warmup}")


def channels_last_6d(x: Tensor) -> Tensor:
    """Lay out `(B, U, C, T, H, W)` so that merging B·U gives a channels_last_3d 5D view."""
    return x.permute(0, 1, 3, 4, 5, 2).contiguous().permute(0, 1, 5, 2, 3, 4)


def make_input(settings: ModelBenchSettings, device: torch.device, batch: int) -> Tensor:
    """A random normalised batch `(batch, U, 3, T, size, size)` on ``device`` (fp32)."""
    s = settings
    x = torch.randn(batch, s.units, 3, s.frames, s.size, s.size, device=device)
    return channels_last_6d(x) if s.channels_last else x


def compute_dtype(settings: ModelBenchSettings, device: torch.device, *, training: bool) -> str:
    """``fp32`` / ``bf16`` / ``fp16``: what the model computes in (``precision`` resolved for
    ``device``, or the plain autocast ``dtype``)."""
    if settings.precision is None:
        return settings.dtype
    return resolve_precision(settings.precision, device, training=training)


def _autocast(
    settings: ModelBenchSettings, device: torch.device, *, training: bool = False
) -> contextlib.AbstractContextManager:
    name = compute_dtype(settings, device, training=training)
    if name == "fp32" or (settings.precision is not None and not training):
        return contextlib.nullcontext()  # for_inference sets its own precision
    return torch.autocast(device.type, dtype=PRECISION_DTYPES[name])


def build_model(name: str, settings: ModelBenchSettings, device: torch.device) -> nn.Module:
    """Create ``name`` from the registry on ``device``, as ``create_model`` gives it
    (channels_last_3d), or converted to NCTHW with ``settings.contiguous``."""
    from f4d.models import create_model

    model = create_model(name, settings.num_classes, **settings.model_args).to(device)
    if settings.contiguous:
        model = model.to(memory_format=torch.contiguous_format)
    return model


def count_model_flops(model: nn.Module, settings: ModelBenchSettings) -> dict:
    """FLOPs per video of a forward pass and (with ``settings.train``) of a training step.

    Forward MACs come from :func:`f4d.models.profile.count_macs`; the training step (forward,
    cross-entropy, backward) is counted the same way, on a meta-device copy (nothing computed).
    """
    macs = count_macs(model, frames=settings.frames, units=settings.units, size=settings.size)
    result = {"macs_per_video": macs, "flops_per_video": 2 * macs}
    if settings.train:
        try:
            result["train_flops_per_video"] = _count_train_flops(model, settings)
        except Exception as err:  # a counting gap must not cost the timing (other torch versions)
            result["train_flops_per_video"] = None
            result["train_flops_error"] = f"{type(err).__name__}: {err}"[:300]
    return result


def _count_train_flops(model: nn.Module, settings: ModelBenchSettings) -> int:
    """FLOPs of forward + cross-entropy + backward for one video, on a meta-device copy."""
    meta_model = copy.deepcopy(model).to("meta").train()
    s = settings
    x = torch.randn(1, s.units, 3, s.frames, s.size, s.size, device="meta")
    target = torch.zeros(1, dtype=torch.long, device="meta")
    return count_flops(lambda: F.cross_entropy(meta_model(x), target).backward())


def _first_call_seconds(fn: Callable[[], object], device: torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def _measure(fn: Callable[[], object], settings: ModelBenchSettings, device: torch.device) -> dict:
    """First-call time (includes compilation), then warm-up and timed calls (median, min, max,
    spread), with memory."""
    with track_peak_memory(device) as memory:
        first = _first_call_seconds(fn, device)
        times = time_call(
            fn, device=device, warmup=max(settings.warmup - 1, 0), repeats=settings.repeats
        )
    stats = spread(times)
    return {
        "first_call_s": first,
        "times_s": times,
        **stats,
        "videos_per_s": settings.batch / stats["median_s"],
        "videos_per_s_min": settings.batch / stats["max_s"],
        "videos_per_s_max": settings.batch / stats["min_s"],
        "peak_memory_mib": memory.mib,
        "memory_kind": memory.kind,
        "rss_growth_mib": memory.rss_growth_mib,
    }


def _inference_fn(model: nn.Module, settings: ModelBenchSettings, device: torch.device):
    x = make_input(settings, device, settings.batch)

    def step() -> Tensor:
        with torch.no_grad(), _autocast(settings, device):
            return model(x)

    return step


def _train_fn(model: nn.Module, settings: ModelBenchSettings, device: torch.device):
    x = make_input(settings, device, settings.batch)
    target = torch.randint(0, settings.num_classes, (settings.batch,), device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with _autocast(settings, device, training=True):
            loss = F.cross_entropy(model(x).float(), target)
        loss.backward()
        optimizer.step()

    return step


def _achieved(flops_per_video: int | None, videos_per_s: float, peak: float | None) -> dict:
    if flops_per_video is None:
        return {"achieved_tflops": None, "peak_share": None}
    tflops = flops_per_video * videos_per_s / 1e12
    share = tflops / peak if peak else None
    return {"achieved_tflops": tflops, "peak_share": share}


def bench_model(name: str, *, settings: ModelBenchSettings, device: torch.device) -> dict:
    """Measure one registered model; returns a flat dict of facts (see ``docs/benchmarks.md``).

    Keys: ``model``, ``params``, ``macs_per_video``, ``flops_per_video``, ``inference`` (a dict
    with ``videos_per_s``, ``median_s``, ``times_s``, ``first_call_s``, ``peak_memory_mib``,
    ``achieved_tflops``, ``peak_share``) and, with ``settings.train``, ``train`` (same keys).
    """
    peak, _ = _peak(settings, device)
    torch.backends.cudnn.benchmark = settings.cudnn_benchmark
    model = build_model(name, settings, device)
    result: dict = {"model": name, "params": count_parameters(model)}
    result.update(count_model_flops(model, settings))
    runner = _compiled(model, settings)
    runner.eval()
    infer = runner
    if settings.precision is not None:
        infer = for_inference(model, device, settings.precision)
        infer.model = _compiled(infer.model, settings)
    result["inference"] = _measure(_inference_fn(infer, settings, device), settings, device)
    result["inference"]["precision"] = compute_dtype(settings, device, training=False)
    del infer
    result["inference"].update(
        _achieved(result["flops_per_video"], result["inference"]["videos_per_s"], peak)
    )
    if settings.train:
        runner.train()
        result["train"] = _measure(_train_fn(runner, settings, device), settings, device)
        result["train"]["precision"] = compute_dtype(settings, device, training=True)
        result["train"].update(
            _achieved(result["train_flops_per_video"], result["train"]["videos_per_s"], peak)
        )
    return result


def _compiled(model: nn.Module, settings: ModelBenchSettings) -> nn.Module:
    if not settings.compile:
        return model
    return torch.compile(model, backend=settings.compile_backend)


def _peak(settings: ModelBenchSettings, device: torch.device) -> tuple[float | None, str]:
    if settings.peak_tflops is not None:
        return settings.peak_tflops, "--peak-tflops"
    return peak_tflops(device, compute_dtype(settings, device, training=False))


@contextlib.contextmanager
def _released(device: torch.device, compiled: bool) -> Iterator[None]:
    """Free the model's memory (and compiled graphs) before the next model is measured."""
    try:
        yield
    finally:
        if compiled:
            torch._dynamo.reset()
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()


def add_ratios(results: list[dict]) -> None:
    """Add ``*_vs_first`` ratios (speed-ups, MAC ratio) against the first successful model."""
    ok = [r for r in results if "error" not in r]
    if not ok:
        return
    first = ok[0]
    for r in ok:
        r["macs_vs_first"] = r["macs_per_video"] / first["macs_per_video"]
        r["params_vs_first"] = r["params"] / first["params"]
        for phase in ("inference", "train"):
            if phase in r and phase in first:
                r[phase]["speedup_vs_first"] = (
                    r[phase]["videos_per_s"] / first[phase]["videos_per_s"]
                )


def _check_names(names: Sequence[str]) -> None:
    from f4d.models import is_model, list_models

    unknown = [n for n in names if not is_model(n)]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; valid: {', '.join(list_models())}")


def bench_models(
    names: Sequence[str],
    *,
    settings: ModelBenchSettings,
    device: torch.device,
    on_result: Callable[[dict], None] | None = None,
) -> dict:
    """Benchmark ``names`` one after another on ``device``; one model's failure (e.g. out of
    memory) is recorded as ``{"model", "error"}`` and the others still run.

    Returns ``{"kind": "model", "machine", "settings", "peak_tflops", "peak_source",
    "results": [...]}`` with ratios against the first model that ran.
    """
    results = run_each(
        names, lambda name: bench_model(name, settings=settings, device=device),
        device=device, compiled=settings.compile, on_result=on_result,
    )  # fmt: skip
    return make_report(results, settings=settings, device=device)


def run_each(
    names: Sequence[str],
    bench: Callable[[str], dict],
    *,
    device: torch.device,
    compiled: bool,
    on_result: Callable[[dict], None] | None = None,
) -> list[dict]:
    """``bench(name)`` for each registered model name in turn, memory released between them; a
    model's failure (e.g. out of memory) is recorded as ``{"model", "error"}`` and the others
    still run. No names or unknown names raise ValueError listing the registered ones."""
    if not names:
        raise ValueError("no models given; name at least one (see `f4d.models.list_models()`)")
    _check_names(names)
    results: list[dict] = []
    for name in names:
        with _released(device, compiled):
            try:
                result = bench(name)
            except Exception as err:  # OOM, compiler failures, ...: recorded, the rest run on
                result = {"model": name, "error": f"{type(err).__name__}: {err}"[:500]}
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def make_report(results: list[dict], *, settings: ModelBenchSettings, device: torch.device) -> dict:
    """Wrap per-model ``results`` (ratios added in place) with machine facts and settings."""
    add_ratios(results)
    peak, source = _peak(settings, device)
    return wrap_report("model", results, settings=settings, device=device, peak_tflops=peak,
                       peak_source=source)  # fmt: skip

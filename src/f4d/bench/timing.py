"""Shared timing helpers for the benchmarks: devices, synchronised timings, memory, machine facts.

Every timing follows the same rules, those of the one harness :func:`time_call` (defined in
:mod:`f4d.models.profile`, re-exported here): warm-up calls are run and thrown away, each timed
call is bracketed by a device synchronisation (so CUDA kernels are finished, not just queued),
and the reported figure is the median of the repeats.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

# The one timing harness lives beside the model counts (models must not import bench).
from f4d.models.profile import synchronize, time_call  # noqa: F401  (re-exported)

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}

# Vendor data-sheet peaks in dense TFLOP/s (NVIDIA H100 / H200 data sheets; the data sheets quote
# tensor-core numbers "with sparsity", which are twice the dense figures used here). "tf32" is
# what cuDNN uses for fp32 convolutions while torch.backends.cudnn.allow_tf32 is on (the default).
# Keys are matched against torch.cuda.get_device_name() in this order (most specific first).
PEAK_TFLOPS = {
    "H200 NVL": {"fp32": 60.0, "tf32": 417.5, "bf16": 835.5},
    "H200": {"fp32": 67.0, "tf32": 494.5, "bf16": 989.5},
    "H100 NVL": {"fp32": 60.0, "tf32": 417.5, "bf16": 835.5},
    "H100 PCIe": {"fp32": 51.0, "tf32": 378.0, "bf16": 756.5},
    "H100": {"fp32": 67.0, "tf32": 494.5, "bf16": 989.5},
}


def resolve_device(name: str = "auto") -> torch.device:
    """Turn ``auto`` / ``cpu`` / ``cuda`` / ``cuda:N`` into a device; CUDA must exist if named."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but torch {torch.__version__} sees no GPU")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {name!r}; use auto, cpu, cuda or cuda:N")
    return device


def resolve_dtype(name: str) -> torch.dtype:
    """Map ``fp32`` / ``bf16`` to a torch dtype; ValueError lists the valid names."""
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}; valid: {', '.join(DTYPES)}")
    return DTYPES[name]


def median(values: list[float]) -> float:
    """The median of a non-empty list of timings."""
    return float(statistics.median(values))


# (slowest - fastest) / median of the timed calls above this: the figure is not to be trusted.
WIDE_SPREAD = 0.5


def spread(times: list[float]) -> dict[str, float | bool]:
    """``min_s``, ``median_s``, ``max_s`` of timings, their relative ``spread`` ((max - min) /
    median) and ``wide_spread`` (above :data:`WIDE_SPREAD`: a busy machine, a cold cache)."""
    low, mid, high = min(times), median(times), max(times)
    relative = (high - low) / mid if mid > 0 else 0.0
    return {"min_s": low, "median_s": mid, "max_s": high, "spread": relative,
            "wide_spread": relative > WIDE_SPREAD}  # fmt: skip


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs that ``fn`` runs, counted by :class:`torch.utils.flop_counter.FlopCounterMode`.

    One multiply-add counts as 2 FLOPs (so MACs = FLOPs / 2). Convolutions and matmuls are
    counted; element-wise work (norms, activations, attention gates) is not.
    """
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return int(counter.get_total_flops())


def _proc_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_rss_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


@dataclass
class PeakMemory:
    """Peak memory of a measured block in MiB (``None`` when the platform cannot say).

    ``mib`` is CUDA's peak of allocated tensor memory. On CPU it stays ``None``: the only
    process-level figure, ``rss_growth_mib`` (growth of the peak resident set during the block),
    is a lower bound, because the allocator reuses memory freed by earlier work.
    """

    mib: float | None = None
    kind: str = "n/a"
    rss_growth_mib: float | None = None


@contextlib.contextmanager
def track_peak_memory(device: torch.device) -> Iterator[PeakMemory]:
    """Measure peak memory inside the block.

    CUDA: ``torch.cuda.max_memory_allocated`` (tensors only, after a reset). CPU: only the
    growth of the process's peak resident set (Linux ``VmHWM`` after resetting it), kept apart
    as ``rss_growth_mib``; ``None`` where ``/proc`` cannot be used.
    """
    result = PeakMemory()
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        yield result
        synchronize(device)
        result.mib = torch.cuda.max_memory_allocated(device) / 2**20
        result.kind = "cuda max_memory_allocated"
        return
    before = _proc_status_kb("VmRSS")
    can_reset = before is not None and _reset_rss_peak()
    yield result
    peak = _proc_status_kb("VmHWM") if can_reset else None
    if before is not None and peak is not None:
        result.rss_growth_mib = max(peak - before, 0) / 1024


def device_name(device: torch.device) -> str:
    """The card name on CUDA, else the CPU model and its core count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{_cpu_model()} ({os.cpu_count()} cores visible)"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def peak_tflops(device: torch.device, dtype: str) -> tuple[float | None, str]:
    """The vendor-spec dense peak (TFLOP/s) for ``device`` at ``dtype`` and where it comes from.

    fp32 on CUDA uses the TF32 tensor-core peak while cuDNN's TF32 mode is on, because the
    convolutions (nearly all the FLOPs) then run on tensor cores. Unknown devices -> ``None``.
    """
    if device.type != "cuda":
        return None, "unknown (CPU); pass --peak-tflops"
    key = "tf32" if dtype == "fp32" and torch.backends.cudnn.allow_tf32 else dtype
    return vendor_peak(torch.cuda.get_device_name(device), key)


def vendor_peak(card_name: str, key: str) -> tuple[float | None, str]:
    """Look ``card_name`` (as CUDA reports it) up in :data:`PEAK_TFLOPS` for ``key``
    (``fp32`` / ``tf32`` / ``bf16``); returns ``(TFLOP/s or None, where it comes from)``."""
    for card, peaks in PEAK_TFLOPS.items():
        if card in card_name:
            return peaks[key], f"NVIDIA {card} data sheet, dense {key}"
    return None, f"unknown card {card_name!r}; pass --peak-tflops"


def machine_info(device: torch.device) -> dict[str, object]:
    """Facts that make a benchmark result reproducible: host, card, software versions."""
    info: dict[str, object] = {
        "device": str(device),
        "device_name": device_name(device),
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
        "thp_mem_alloc": os.environ.get("THP_MEM_ALLOC_ENABLE", "unset"),
    }
    if device.type == "cuda":
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
        info["cudnn_allow_tf32"] = torch.backends.cudnn.allow_tf32
        info["gpu_memory_gib"] = torch.cuda.get_device_properties(device).total_memory / 2**30
    return info


def wrap_report(
    kind: str, results: list[dict], *, settings: Any, device: torch.device, **extra: Any
) -> dict:
    """``{"kind", "machine", "settings", **extra, "results"}``: the JSON every bench writes."""
    return {"kind": kind, "machine": machine_info(device), "settings": asdict(settings), **extra,
            "results": results}  # fmt: skip

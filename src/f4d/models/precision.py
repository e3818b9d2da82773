"""Numeric precision as one setting: ``auto | fp32 | bf16 | fp16`` (``none`` = ``fp32``).

The same word is ``run.amp`` in a config, ``--precision`` on the command line and
``precision=`` in :func:`f4d.models.for_inference`. :func:`resolve_precision` turns it into the
precision that actually runs on a device:

==========  ===========================  ==========================================
setting     CUDA                         CPU
==========  ===========================  ==========================================
``auto``    bf16                         bf16 for inference where the CPU has Intel
                                         AMX (:func:`cpu_supports_bf16`), else fp32;
                                         fp32 for training (docs/training.md)
``fp32``    fp32 (``none``: the old name, kept as an alias)
``bf16``    bf16                         bf16 (correct without bf16 hardware, slower)
``fp16``    fp16                         an error: CPUs get bf16 or fp32
==========  ===========================  ==========================================

The capability check is a plain module function so that tests can monkeypatch it and exercise
the bf16 path (for correctness) on any CPU.
"""

from __future__ import annotations

import torch

from f4d.errors import OptionError

__all__ = [
    "PRECISIONS",
    "PRECISION_ALIASES",
    "PRECISION_DTYPES",
    "cpu_bf16_hardware",
    "cpu_supports_bf16",
    "normalize_precision",
    "resolve_precision",
]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
PRECISION_ALIASES = {"none": "fp32"}  # run.amp=none from before issue 23 means float32
PRECISION_DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}


def cpu_bf16_hardware() -> str | None:
    """This CPU's bf16 matrix hardware as torch reports it: ``"amx"`` (Intel AMX, Xeon 4th gen
    and later), ``"avx512_bf16"`` (AVX512-BF16 without AMX: Xeon 3rd gen Cooper Lake, AMD Zen 4
    and later) or None (bf16 is emulated)."""
    cpu = torch.cpu
    if bool(getattr(cpu, "_is_amx_tile_supported", lambda: False)()):
        return "amx"
    if bool(getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()):
        return "avx512_bf16"
    return None


def cpu_supports_bf16() -> bool:
    """True where ``auto`` runs CPU inference in bf16: a CPU with Intel AMX.

    With AVX512-BF16 but no AMX, bf16 was measured no faster than fp32: this project's Xeon
    with oneDNN capped at ``AVX512_CORE_BF16`` (``ONEDNN_MAX_CPU_ISA``, AMX off) ran a conv3d at
    113 GMAC/s in bf16 against 176 in fp32, ``f4d_r50`` and ``v4d_r50`` at 0.93-0.98x fp32
    (docs/benchmarks.md, "Issue 23"); ``auto`` must never be slower than fp32, so such CPUs get
    fp32 unless ``--precision bf16`` asks (a measurement on a real one may change this).
    """
    return cpu_bf16_hardware() == "amx"


def normalize_precision(precision: str) -> str:
    """``precision`` as one of :data:`PRECISIONS` (``none`` -> ``fp32``); ValueError otherwise."""
    name = PRECISION_ALIASES.get(precision, precision)
    if name not in PRECISIONS:
        valid = ", ".join([*PRECISIONS, *PRECISION_ALIASES])
        raise OptionError(f"precision must be one of {valid}, got {precision!r}")
    return name


def resolve_precision(precision: str, device: torch.device | str, *, training: bool = False) -> str:
    """The precision that runs for ``precision`` on ``device``: ``fp32``, ``bf16`` or ``fp16``.

    ``auto`` is bf16 on CUDA; on a CPU it is bf16 for inference where :func:`cpu_supports_bf16`
    (AMX) and fp32 otherwise, and fp32 for training (``training=True``). fp16 on a CPU raises
    :class:`~f4d.errors.OptionError` (ValueError) naming the choices that work there.
    """
    name = normalize_precision(precision)
    kind = torch.device(device).type
    if name == "auto":
        if kind == "cuda":
            return "bf16"
        return "bf16" if not training and cpu_supports_bf16() else "fp32"
    if name == "fp16" and kind != "cuda":
        raise OptionError(
            f"precision fp16 needs a CUDA device, not {kind}; on a CPU use bf16, fp32 or auto"
        )
    return name

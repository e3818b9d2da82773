"""Mixed precision policy (``run.amp``, ``--precision``), shared by training and evaluation.

The setting is one word, ``auto | fp32 | bf16 | fp16`` (``none``, the name before issue 23, is
kept as an alias of ``fp32``); :mod:`f4d.models.precision` says what each means on which device.
Training autocasts to bf16/fp16 with float32 master weights and a float32 loss (on a CPU too,
where ``auto`` stays fp32: see docs/training.md); inference goes through
:func:`f4d.models.for_inference`, which stores the weights once in the compute dtype.
"""

from __future__ import annotations

import contextlib

import torch

from f4d.models.precision import (
    PRECISION_ALIASES,
    PRECISION_DTYPES,
    PRECISIONS,
    resolve_precision,
)

__all__ = ["AMP_MODES", "amp_dtype", "autocast", "precision_line"]

AMP_MODES: tuple[str, ...] = (*PRECISIONS, *PRECISION_ALIASES)


def amp_dtype(amp: str, device: torch.device, *, training: bool = False) -> torch.dtype | None:
    """The autocast dtype for ``run.amp=amp`` on ``device``, or None for float32.

    Raises :class:`~f4d.errors.OptionError` (ValueError) for an unknown word or fp16 on a CPU.
    """
    name = resolve_precision(amp, device, training=training)
    return None if name == "fp32" else PRECISION_DTYPES[name]


def autocast(
    amp: str, device: torch.device, *, training: bool = False
) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``run.amp`` on ``device`` (a no-op context for float32)."""
    dtype = amp_dtype(amp, device, training=training)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def precision_line(amp: str, device: torch.device, *, training: bool = False) -> str:
    """What every command prints: ``precision: bf16 (auto on cpu)``."""
    name = resolve_precision(amp, device, training=training)
    return f"precision: {name} ({amp} on {device.type})" if amp != name else f"precision: {name}"

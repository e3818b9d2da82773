"""Mixed precision policy (`run.amp`), shared by training and evaluation.

On CUDA `auto` means bf16 autocast (the GPU default of f4d: bf16 + channels_last_3d), `bf16` and
`fp16` ask for that dtype and `none` turns autocast off; on any other device f4d computes in
float32 whatever `run.amp` says.
"""

from __future__ import annotations

import contextlib

import torch

__all__ = ["AMP_DTYPES", "amp_dtype", "autocast"]

AMP_DTYPES: dict[str, torch.dtype | None] = {
    "auto": torch.bfloat16,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
    "none": None,
}


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for `run.amp=amp` on `device`, or None for float32."""
    if amp not in AMP_DTYPES:
        raise ValueError(f"run.amp must be one of {', '.join(AMP_DTYPES)}, got {amp!r}")
    return AMP_DTYPES[amp] if device.type == "cuda" else None


def autocast(amp: str, device: torch.device) -> contextlib.AbstractContextManager:
    """`torch.autocast` for `run.amp` on `device` (a no-op context for float32)."""
    dtype = amp_dtype(amp, device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)

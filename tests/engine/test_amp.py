"""run.amp: one policy for training and evaluation (bf16 autocast on CUDA by default)."""

from __future__ import annotations

import pytest
import torch

from f4d.engine.amp import AMP_DTYPES, amp_dtype, autocast
from f4d.engine.config import AMP_MODES


def test_every_config_mode_has_a_dtype() -> None:
    assert set(AMP_DTYPES) == set(AMP_MODES)


@pytest.mark.parametrize(
    ("amp", "expected"),
    [("auto", torch.bfloat16), ("bf16", torch.bfloat16), ("fp16", torch.float16), ("none", None)],
)
def test_cuda_dtypes_and_cpu_is_float32(amp: str, expected: torch.dtype | None) -> None:
    assert amp_dtype(amp, torch.device("cuda")) == expected
    assert amp_dtype(amp, torch.device("cpu")) is None


def test_cpu_autocast_is_a_no_op_and_unknown_modes_are_named() -> None:
    with autocast("auto", torch.device("cpu")):
        out = torch.ones(2, 2) @ torch.ones(2, 2)
    assert out.dtype == torch.float32
    with pytest.raises(ValueError, match="'fp8'"):
        amp_dtype("fp8", torch.device("cuda"))

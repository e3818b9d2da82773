"""run.amp: one precision word for training and evaluation (f4d.models.precision decides)."""

from __future__ import annotations

import pytest
import torch

import f4d.models.precision as precision_module
from f4d.cli.options import PRECISION_CHOICES
from f4d.engine.amp import AMP_MODES as AMP_WORDS
from f4d.engine.amp import amp_dtype, autocast, precision_line
from f4d.engine.config import AMP_MODES
from f4d.errors import OptionError
from f4d.models.precision import PRECISIONS


def test_config_cli_and_policy_know_the_same_words() -> None:
    assert set(AMP_MODES) == set(AMP_WORDS) == {*PRECISIONS, "none"}
    assert PRECISION_CHOICES == PRECISIONS


@pytest.mark.parametrize(
    ("amp", "expected"),
    [
        ("auto", torch.bfloat16),
        ("bf16", torch.bfloat16),
        ("fp16", torch.float16),
        ("fp32", None),
        ("none", None),
    ],
)
def test_cuda_dtypes(amp: str, expected: torch.dtype | None) -> None:
    assert amp_dtype(amp, torch.device("cuda")) == expected
    assert amp_dtype(amp, torch.device("cuda"), training=True) == expected


@pytest.mark.parametrize("hardware", [True, False])
def test_cpu_dtypes(monkeypatch: pytest.MonkeyPatch, hardware: bool) -> None:
    monkeypatch.setattr(precision_module, "cpu_supports_bf16", lambda: hardware)
    cpu = torch.device("cpu")
    assert amp_dtype("auto", cpu) == (torch.bfloat16 if hardware else None)
    assert amp_dtype("auto", cpu, training=True) is None  # CPU training: fp32 unless asked
    assert amp_dtype("bf16", cpu, training=True) == torch.bfloat16
    assert amp_dtype("none", cpu) is None
    with pytest.raises(OptionError, match="fp16 needs a CUDA device"):
        amp_dtype("fp16", cpu)


def test_cpu_autocast_runs_bf16_when_asked_and_unknown_words_are_named() -> None:
    cpu = torch.device("cpu")
    with autocast("bf16", cpu, training=True):
        out = torch.ones(2, 2) @ torch.ones(2, 2)
    assert out.dtype == torch.bfloat16
    with autocast("fp32", cpu):
        out = torch.ones(2, 2) @ torch.ones(2, 2)
    assert out.dtype == torch.float32
    with pytest.raises(ValueError, match="'fp8'"):
        amp_dtype("fp8", torch.device("cuda"))


def test_precision_line_says_what_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision_module, "cpu_supports_bf16", lambda: True)
    cpu = torch.device("cpu")
    assert precision_line("auto", cpu) == "precision: bf16 (auto on cpu)"
    assert precision_line("auto", cpu, training=True) == "precision: fp32 (auto on cpu)"
    assert precision_line("bf16", cpu) == "precision: bf16"

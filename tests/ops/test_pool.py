"""The stem's max-pool on non-negative inputs (f4d.ops.pool) against an independent loop."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from f4d.ops.pool import max_pool_3x3s2_nonnegative


def _pool_loop(x: torch.Tensor) -> torch.Tensor:
    """3×3 windows, stride 2, padding 1, written out: the reference."""
    n, c, t, h, w = x.shape
    ho, wo = (h + 1) // 2, (w + 1) // 2
    out = torch.empty(n, c, t, ho, wo, dtype=x.dtype)
    for i, j in itertools.product(range(ho), range(wo)):
        rows = slice(max(2 * i - 1, 0), min(2 * i + 2, h))
        cols = slice(max(2 * j - 1, 0), min(2 * j + 2, w))
        out[..., i, j] = x[..., rows, cols].amax(dim=(-2, -1))
    return out


@pytest.mark.parametrize("hw", [(1, 1), (2, 3), (5, 4), (7, 7), (8, 6)])
def test_equals_the_loop_in_float64(hw: tuple[int, int]) -> None:
    torch.manual_seed(0)
    x = torch.rand(2, 3, 2, *hw, dtype=torch.float64)
    torch.testing.assert_close(max_pool_3x3s2_nonnegative(x), _pool_loop(x), rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_equals_max_pool3d_and_keeps_channels_last(dtype: torch.dtype) -> None:
    torch.manual_seed(1)
    x = torch.relu(torch.randn(2, 16, 3, 9, 12)).to(dtype)
    x = x.contiguous(memory_format=torch.channels_last_3d)
    got = max_pool_3x3s2_nonnegative(x)
    expected = F.max_pool3d(x, (1, 3, 3), (1, 2, 2), (0, 1, 1))
    assert got.dtype == dtype and got.shape == expected.shape == (2, 16, 3, 5, 6)
    assert torch.equal(got, expected)
    assert got.is_contiguous(memory_format=torch.channels_last_3d)


def test_small_values_zeros_and_infinity_keep_their_order() -> None:
    x = torch.zeros(1, 1, 1, 3, 3, dtype=torch.bfloat16)
    x[..., 0, 0] = 1e-30
    x[..., 2, 2] = float("inf")
    small = x[..., 0, 0].item()
    assert max_pool_3x3s2_nonnegative(x).flatten().tolist() == [small, 0.0, 0.0, float("inf")]


@settings(max_examples=30, deadline=None)
@given(h=st.integers(1, 9), w=st.integers(1, 9), seed=st.integers(0, 2**16))
def test_any_size_matches_max_pool3d(h: int, w: int, seed: int) -> None:
    torch.manual_seed(seed)
    x = torch.rand(1, 2, 2, h, w)
    expected = F.max_pool3d(x, (1, 3, 3), (1, 2, 2), (0, 1, 1))
    assert torch.equal(max_pool_3x3s2_nonnegative(x), expected)


def test_rejects_other_ranks_and_integer_tensors() -> None:
    with pytest.raises(ValueError, match=r"\(N, C, T, H, W\).*\(2, 3, 4, 5\)"):
        max_pool_3x3s2_nonnegative(torch.zeros(2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"torch\.int64"):
        max_pool_3x3s2_nonnegative(torch.zeros(1, 1, 1, 2, 2, dtype=torch.int64))

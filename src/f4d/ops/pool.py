"""The ResNet stem's spatial max-pool (3×3, stride 2, padding 1) for non-negative inputs.

The stem's pool follows a ReLU, so its input is never negative. For non-negative IEEE floats
(float16, bfloat16, float32, float64) the order of the values is the order of their bit patterns
read as signed integers of the same width, so the maximum can be taken on an integer view of
the same memory: no float conversion, and no int64 index tensor as ``max_pool3d`` writes (on a
CPU with torch 2.13 it computes the indices even when nobody asks for them). Measured in
docs/benchmarks.md ("Issue 23: bf16 on CPU"): the pool of ``f4d_r50``'s stem, bf16, 4 × 8 ×
112² × 64, 13.7 ms with ``max_pool3d``, 4.5 ms here.

The 3×3 window is separable: the maximum over columns ``2j - 1, 2j, 2j + 1`` of every row,
then over rows ``2i - 1, 2i, 2i + 1`` of that. Zero stands in for the padding, which gives the
same result because every window holds at least one input value and all of them are >= 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["max_pool_3x3s2_nonnegative"]

_INT_VIEW = {
    torch.float16: torch.int16,
    torch.bfloat16: torch.int16,
    torch.float32: torch.int32,
    torch.float64: torch.int64,
}


def max_pool_3x3s2_nonnegative(x: Tensor) -> Tensor:
    """``max_pool3d(x, (1, 3, 3), (1, 2, 2), (0, 1, 1))`` for ``x >= 0`` (a ReLU's output).

    ``x`` ``(N, C, T, H, W)`` float -> ``(N, C, T, ceil(H / 2), ceil(W / 2))`` in ``x``'s memory
    order (channels_last_3d stays channels_last_3d). Negative values give wrong maxima (not
    checked: that would be another full pass); a NaN propagates only with its sign bit clear.
    """
    if x.ndim != 5 or x.dtype not in _INT_VIEW:
        raise ValueError(
            f"expected a (N, C, T, H, W) float16/bfloat16/float32/float64 tensor, "
            f"got {tuple(x.shape)} {x.dtype}"
        )
    bits = x.view(_INT_VIEW[x.dtype])
    rows = _max3_stride2(bits, dim=4)  # (N, C, T, H, ceil(W / 2))
    return _max3_stride2(rows, dim=3).view(x.dtype)  # (N, C, T, ceil(H / 2), ceil(W / 2))


def _max3_stride2(x: Tensor, dim: int) -> Tensor:
    """``out[j] = max(x[2j - 1], x[2j], x[2j + 1])`` along ``dim`` (missing ends left out)."""
    even, odd = x[_along(dim, slice(0, None, 2))], x[_along(dim, slice(1, None, 2))]
    n_even, n_odd = even.shape[dim], odd.shape[dim]
    if n_even == n_odd:
        out = torch.maximum(even, odd)
    else:  # odd length: the last window has no right neighbour
        out = even.clone()
        head = out[_along(dim, slice(0, n_odd))]
        torch.maximum(head, odd, out=head)
    # left neighbours: out[j] against odd[j - 1], for j >= 1
    tail = out[_along(dim, slice(1, None))]
    torch.maximum(tail, odd[_along(dim, slice(0, n_even - 1))], out=tail)
    return out


def _along(dim: int, index: slice) -> tuple[slice, ...]:
    return (slice(None),) * dim + (index,)

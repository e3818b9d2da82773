"""Convolutions over small maps as one matrix product (the attention maps of small F4D blocks).

The attention modules' convolutions have one or two channels and run on small maps (STA on
`(N, 2, T, H, W)`, TA on `(B, 1, U·T)`). At the sizes of a small block (e.g. `4 × 4 × 4`) the
convolution library's fixed cost per call is many times the arithmetic, and in training each
call runs three times (forward, input and weight gradients). Here such a convolution is one
matrix product with its dense (Toeplitz) matrix, built from the weight by one gather:

    out[n, o·S + s] = Σ_{i, r} x[n, i·S + r] · K[i·S + r, o·S + s],
    K[i·S + r, o·S + s] = weight[o, i, r - s + k//2]  (0 where the tap is off the kernel),

for `S` the number of positions. Same result as a stride-1 "same" convolution with zero
padding; gradients flow to `x`, `weight` and `bias` through the gather and the product.
`dense_conv_fits` says when the matrix stays small enough that this pays.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor

__all__ = ["DENSE_CONV_MAX_ENTRIES", "dense_conv", "dense_conv_fits"]

# Largest dense matrix (C_in·S × C_out·S entries) `dense_conv_fits` accepts: 2^16 floats
# (256 KiB) keeps the product far below the convolution's fixed cost.
DENSE_CONV_MAX_ENTRIES = 1 << 16


def dense_conv_fits(in_channels: int, out_channels: int, size: tuple[int, ...]) -> bool:
    """True when the dense matrix of a conv `in_channels -> out_channels` on a map of `size`
    (the spatial extent, e.g. `(T, H, W)`) has at most `DENSE_CONV_MAX_ENTRIES` entries."""
    positions = math.prod(size)
    return in_channels * out_channels * positions * positions <= DENSE_CONV_MAX_ENTRIES


@lru_cache(maxsize=64)
def _tap_index(size: tuple[int, ...], kernel: tuple[int, ...]) -> Tensor:
    """`(S_in, S_out)` int64: the flat kernel tap joining input position `r` to output `s`,
    or `prod(kernel)` (a zero tap appended to the weight) where the offset is off the kernel."""
    grid = torch.stack(torch.meshgrid(*(torch.arange(n) for n in size), indexing="ij"), -1)
    pos = grid.reshape(-1, len(size))  # (S, D): row-major multi-index of each position
    half = torch.tensor([k // 2 for k in kernel])
    offset = pos[:, None, :] - pos[None, :, :] + half  # (S_in, S_out, D)
    valid = ((offset >= 0) & (offset < torch.tensor(kernel))).all(-1)
    strides = torch.tensor([math.prod(kernel[d + 1 :]) for d in range(len(kernel))])
    flat = (offset * strides).sum(-1)
    return torch.where(valid, flat, torch.full_like(flat, math.prod(kernel)))


def dense_conv(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Stride-1, zero-padded "same" convolution of `x (N, C_in, *S)` with `weight (C_out, C_in,
    *k)` (odd `k`, one per axis of `S`) and optional `bias (C_out,)` -> `(N, C_out, *S)`,
    as one product with the dense matrix (see the module docstring). Equals
    `F.conv{1,2,3}d(x, weight, bias, padding=k//2)`; use it where `dense_conv_fits`."""
    size, kernel = tuple(x.shape[2:]), tuple(weight.shape[2:])
    if len(size) != len(kernel) or any(k % 2 == 0 for k in kernel):
        raise ValueError(
            f"dense_conv needs one odd kernel size per axis of x's map: x {tuple(x.shape)}, "
            f"weight {tuple(weight.shape)}"
        )
    n, c_in = x.shape[:2]
    c_out, positions = weight.shape[0], math.prod(size)
    index = _tap_index(size, kernel).to(weight.device)
    taps = torch.cat([weight.flatten(2), weight.new_zeros(c_out, c_in, 1)], dim=2)
    matrix = taps[:, :, index]  # (C_out, C_in, S_in, S_out)
    matrix = matrix.permute(1, 2, 0, 3).reshape(c_in * positions, c_out * positions)
    rows = x.reshape(n, c_in * positions)  # (N, C_in·S)
    if bias is None:
        out = rows @ matrix
    else:
        out = torch.addmm(bias.repeat_interleave(positions), rows, matrix)
    return out.view(n, c_out, *size)  # (N, C_out, *S)

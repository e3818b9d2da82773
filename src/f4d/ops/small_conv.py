"""Convolutions over small maps as one matrix product (the attention maps of small F4D blocks).

The attention modules' convolutions have one or two channels and run on small maps (STA on
`(N, 2, T, H, W)`, TA on `(B, 1, U·T)`). At the sizes of a small block (e.g. `4 × 4 × 4`) the
convolution library's fixed cost per call is many times the arithmetic, and in training each
call runs three times (forward, input and weight gradients). Here such a convolution is one
matrix product with its dense (Toeplitz) matrix, built from the weight by one product with a
cached 0/1 table of where each tap lands:

    out[n, o·S + s] = Σ_{i, r} x[n, i·S + r] · K[i·S + r, o·S + s],
    K[i·S + r, o·S + s] = weight[o, i, r - s + k//2]  (0 where the tap is off the kernel),

for `S` the number of positions. Same result as a stride-1 "same" convolution with zero
padding; gradients flow to `x`, `weight` and `bias` through the two products.
`dense_conv_fits` says when the matrix stays small enough that this pays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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


def _tap_positions(
    size: tuple[int, ...], kernel: tuple[int, ...], dilation: tuple[int, ...]
) -> Tensor:
    """`(taps, S_in, S_out)` bool: tap `j` of a same-padded kernel (`dilation` per axis) joins
    input position `r` to output position `s`."""
    grid = torch.stack(torch.meshgrid(*(torch.arange(n) for n in size), indexing="ij"), -1)
    pos = grid.reshape(-1, len(size))  # (S, D): row-major multi-index of each position
    taps = torch.stack(torch.meshgrid(*(torch.arange(k) for k in kernel), indexing="ij"), -1)
    offsets = taps.reshape(-1, len(size)) - torch.tensor([k // 2 for k in kernel])
    offsets = offsets * torch.tensor(dilation)  # (K, D): where each tap reads, from the output
    return (pos[None, :, None, :] == pos[None, None, :, :] + offsets[:, None, None, :]).all(-1)


def _selection(
    size: tuple[int, ...],
    kernels: tuple[tuple[int, ...], ...],
    dilations: tuple[tuple[int, ...], ...],
    device: torch.device,
    dtype: torch.dtype,
) -> Tensor:
    """`(K, S_in·S_out)` 0/1: row `j` places tap `j` of the kernels (their taps in order) in
    the dense matrix; `taps (·, K) @ selection` is every kernel's dense matrix, summed. Cached
    per geometry in eager mode; under `torch.compile` built in the graph (a constant there)."""
    build = _cached_selection.__wrapped__ if torch.compiler.is_compiling() else _cached_selection
    return build(size, kernels, dilations, device, dtype)


@lru_cache(maxsize=64)
def _cached_selection(
    size: tuple[int, ...],
    kernels: tuple[tuple[int, ...], ...],
    dilations: tuple[tuple[int, ...], ...],
    device: torch.device,
    dtype: torch.dtype,
) -> Tensor:
    # a normal tensor even when first asked for under inference_mode (evaluation), so that
    # training in the same process can save it for backward
    with torch.inference_mode(False):
        rows = [_tap_positions(size, k, d) for k, d in zip(kernels, dilations)]
        return torch.cat(rows).flatten(1).to(device=device, dtype=dtype)  # (K, S_in·S_out)


def dense_conv(
    x: Tensor,
    weight: Tensor | Sequence[Tensor],
    bias: Tensor | None = None,
    dilation: Sequence[Sequence[int]] | None = None,
) -> Tensor:
    """Stride-1, zero-padded "same" convolution of `x (N, C_in, *S)` with `weight (C_out, C_in,
    *k)` (odd `k`, one per axis of `S`) and optional `bias (C_out,)` -> `(N, C_out, *S)`,
    as one product with the dense matrix (see the module docstring). Equals
    `F.conv{1,2,3}d(x, weight, bias, padding=k//2)`; use it where `dense_conv_fits`.

    `weight` may be a sequence of kernels with one `dilation` each (per axis): the result is
    then the sum of their same-padded dilated convolutions (e.g. TA's and STA's two paths),
    from one matrix built by one product with a cached 0/1 table."""
    weights = [weight] if isinstance(weight, Tensor) else list(weight)
    dilations = [(1,) * (w.dim() - 2) for w in weights] if dilation is None else dilation
    size = tuple(x.shape[2:])
    kernels = tuple(tuple(w.shape[2:]) for w in weights)
    if any(len(k) != len(size) or any(n % 2 == 0 for n in k) for k in kernels):
        raise ValueError(
            f"dense_conv needs one odd kernel size per axis of x's map: x {tuple(x.shape)}, "
            f"weights {[tuple(w.shape) for w in weights]}"
        )
    if len(dilations) != len(weights) or any(len(d) != len(size) for d in dilations):
        raise ValueError(f"dense_conv needs one dilation per kernel and axis, got {dilations}")
    n, c_in = x.shape[:2]
    c_out, positions = weights[0].shape[0], math.prod(size)
    taps = torch.cat([w.reshape(c_out * c_in, -1) for w in weights], dim=1)  # (O·I, K)
    # the table meets the taps in the product: it follows their device and dtype
    table = _selection(size, kernels, tuple(tuple(d) for d in dilations), taps.device, taps.dtype)
    matrix = (taps @ table).view(c_out, c_in, positions, positions)  # (O, I, S_in, S_out)
    matrix = matrix.permute(1, 2, 0, 3).reshape(c_in * positions, c_out * positions)
    rows = x.reshape(n, c_in * positions)  # (N, C_in·S)
    if bias is None:
        out = rows @ matrix
    else:
        out = torch.addmm(bias[:, None].expand(c_out, positions).reshape(-1), rows, matrix)
    return out.view(n, c_out, *size)  # (N, C_out, *S)

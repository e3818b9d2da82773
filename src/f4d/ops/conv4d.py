"""Exact 4D convolution over `(B, C, U, T, H, W)` tensors (paper eqns 1 and 2).

Eqn 1 sums a `u×t×h×w` kernel over the action-unit axis U and the 3D axes (T, H, W). Eqn 2
rewrites it as a sum over the `u` unit offsets of ordinary 3D convolutions. `conv4d` evaluates
that sum without a Python loop over output units:

* pointwise-space kernels (`h = w = 1`, no spatial stride or padding), e.g. the V4D kernel
  `(3, 3, 1, 1)`: H and W are flattened into one axis and a single `conv3d` runs over
  `(U, T, H·W)` with kernel `(u, t, 1)` -- no copy of the input beyond a reshape;
* any other kernel: the `u` shifted U-slices are gathered and folded into the channel axis, so
  one `conv3d` over `(B·U_out, C·u, T, H, W)` with weight `(O, C·u, t, h, w)` does the work.

`conv4d_loop` is the naive reference of public V4D code (a 3D convolution per output unit and
per offset); benchmarks use it as the baseline and tests check both give the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Int4 = int | Sequence[int]

__all__ = ["Conv4d", "conv4d", "conv4d_loop", "conv4d_output_size", "to_4tuple"]


def to_4tuple(value: Int4, name: str) -> tuple[int, int, int, int]:
    """Expand an int or a 4-sequence to a `(U, T, H, W)` tuple of ints; raise on anything else."""
    if isinstance(value, int):
        return (value, value, value, value)
    values = tuple(value)
    if len(values) != 4 or not all(isinstance(v, int) for v in values):
        raise ValueError(f"{name} must be an int or 4 ints for (U, T, H, W), got {value!r}")
    return values  # type: ignore[return-value]


def conv4d_output_size(
    size: Sequence[int],
    kernel_size: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
) -> tuple[int, ...]:
    """Output extent along each of (U, T, H, W) for the usual convolution arithmetic."""
    return tuple(
        (n + 2 * p - d * (k - 1) - 1) // s + 1
        for n, k, s, p, d in zip(size, kernel_size, stride, padding, dilation)
    )


def _check_input(x: Tensor, weight: Tensor) -> None:
    if x.dim() != 6:
        raise ValueError(f"conv4d expects input (B, C, U, T, H, W), got shape {tuple(x.shape)}")
    if weight.dim() != 6:
        raise ValueError(f"conv4d expects weight (O, C, u, t, h, w), got {tuple(weight.shape)}")
    if x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"input has {x.shape[1]} channels but the weight expects {weight.shape[1]}"
        )


def _arguments(
    x: Tensor, weight: Tensor, stride: Int4, padding: Int4, dilation: Int4
) -> tuple[tuple[int, ...], ...]:
    stride4, padding4 = to_4tuple(stride, "stride"), to_4tuple(padding, "padding")
    dilation4 = to_4tuple(dilation, "dilation")
    if min(stride4) < 1 or min(dilation4) < 1 or min(padding4) < 0:
        raise ValueError(
            f"need stride >= 1, dilation >= 1, padding >= 0; got stride={stride4}, "
            f"padding={padding4}, dilation={dilation4}"
        )
    out = conv4d_output_size(x.shape[2:], weight.shape[2:], stride4, padding4, dilation4)
    if min(out) < 1:
        raise ValueError(
            f"input (U, T, H, W)={tuple(x.shape[2:])} is too small for kernel "
            f"{tuple(weight.shape[2:])} with padding={padding4}, dilation={dilation4}"
        )
    return stride4, padding4, dilation4, out


def _conv4d_pointwise_space(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: tuple, padding: tuple, dilation: tuple
) -> Tensor:
    """`h = w = 1` kernels: one conv3d over `(U, T, H·W)`; returns `(B, O, U', T', H, W)`."""
    b, c, u, t, h, w = x.shape
    flat = x.reshape(b, c, u, t, h * w)  # (B, C, U, T, H·W)
    y = F.conv3d(
        flat,
        weight.flatten(4),  # (O, C, u, t, 1)
        bias,
        stride=(stride[0], stride[1], 1),
        padding=(padding[0], padding[1], 0),
        dilation=(dilation[0], dilation[1], 1),
    )
    return y.view(b, y.shape[1], y.shape[2], y.shape[3], h, w)  # (B, O, U', T', H, W)


def _conv4d_folded(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: tuple,
    padding: tuple,
    dilation: tuple,
    u_out: int,
) -> Tensor:
    """General kernels: fold the `u` unit offsets into channels, one conv3d; `(B, O, U', ...)`."""
    b = x.shape[0]
    o, _, k_u = weight.shape[:3]
    units = x.transpose(1, 2)  # (B, U, C, T, H, W)
    if padding[0]:
        units = F.pad(units, (0, 0, 0, 0, 0, 0, 0, 0, padding[0], padding[0]))
    span = (u_out - 1) * stride[0] + 1
    shifted = [units[:, s * dilation[0] : s * dilation[0] + span : stride[0]] for s in range(k_u)]
    stacked = torch.stack(shifted, dim=3)  # (B, U', C, u, T, H, W)
    folded = stacked.flatten(0, 1).flatten(1, 2)  # (B·U', C·u, T, H, W)
    y = F.conv3d(
        folded,
        weight.flatten(1, 2),  # (O, C·u, t, h, w); channel index c·u + s matches the fold
        bias,
        stride=stride[1:],
        padding=padding[1:],
        dilation=dilation[1:],
    )
    y = y.view(b, u_out, o, *y.shape[2:])  # (B, U', O, T', H', W')
    return y.transpose(1, 2)  # (B, O, U', T', H', W')


def conv4d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Int4 = 1,
    padding: Int4 = 0,
    dilation: Int4 = 1,
) -> Tensor:
    """Exact 4D convolution (eqn 1) evaluated as eqn 2 with a single `conv3d` call.

    Args:
        x: input `(B, C, U, T, H, W)`.
        weight: `(O, C, u, t, h, w)`.
        bias: `(O,)` or None.
        stride, padding, dilation: int or 4 ints over `(U, T, H, W)`; zero padding.

    Returns:
        `(B, O, U', T', H', W')` with the usual convolution output sizes.
    """
    _check_input(x, weight)
    stride4, padding4, dilation4, out = _arguments(x, weight, stride, padding, dilation)
    k_h, k_w = weight.shape[4:]
    if (k_h, k_w) == (1, 1) and stride4[2:] == (1, 1) and padding4[2:] == (0, 0):
        return _conv4d_pointwise_space(x, weight, bias, stride4, padding4, dilation4)
    return _conv4d_folded(x, weight, bias, stride4, padding4, dilation4, out[0])


def conv4d_loop(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Int4 = 1,
    padding: Int4 = 0,
    dilation: Int4 = 1,
) -> Tensor:
    """Naive eqn 2: a Python loop of 3D convolutions per output unit and per unit offset.

    This is how public V4D code computes a 4D convolution; it is kept as the benchmark
    baseline. Same arguments and shapes as `conv4d`: `(B, C, U, T, H, W)` ->
    `(B, O, U', T', H', W')`.
    """
    _check_input(x, weight)
    stride4, padding4, dilation4, out = _arguments(x, weight, stride, padding, dilation)
    pad_u = padding4[0]
    padded = F.pad(x, (0, 0, 0, 0, 0, 0, pad_u, pad_u)) if pad_u else x  # (B, C, U+2p, T, H, W)
    outputs = []
    for u in range(out[0]):
        total = None
        for s in range(weight.shape[2]):
            unit = padded[:, :, u * stride4[0] + s * dilation4[0]]  # (B, C, T, H, W)
            y = F.conv3d(unit, weight[:, :, s], None, stride4[1:], padding4[1:], dilation4[1:])
            total = y if total is None else total + y
        if bias is not None:
            total = total + bias.view(1, -1, 1, 1, 1)
        outputs.append(total)
    return torch.stack(outputs, dim=2)  # (B, O, U', T', H', W')


class Conv4d(nn.Module):
    """4D convolution layer over `(B, C, U, T, H, W)` (paper eqns 1-2).

    Parameters: `weight (out_channels, in_channels, u, t, h, w)` and `bias (out_channels,)`.
    `kernel_size` is 4 ints `(u, t, h, w)` (or one int); `stride`, `padding` and `dilation`
    are an int or 4 ints over `(U, T, H, W)`, including the action-unit axis U.
    Output: `(B, out_channels, U', T', H', W')`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Int4 = (3, 3, 1, 1),
        stride: Int4 = 1,
        padding: Int4 = 0,
        dilation: Int4 = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if in_channels < 1 or out_channels < 1:
            raise ValueError(
                f"channels must be >= 1, got in_channels={in_channels}, out_channels={out_channels}"
            )
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = to_4tuple(kernel_size, "kernel_size")
        if min(self.kernel_size) < 1:
            raise ValueError(f"kernel_size must be >= 1 on every axis, got {self.kernel_size}")
        self.stride = to_4tuple(stride, "stride")
        self.padding = to_4tuple(padding, "padding")
        self.dilation = to_4tuple(dilation, "dilation")
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *self.kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-uniform weights and uniform bias, as `nn.Conv3d` does, with the 4D fan-in."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.weight[0].numel())
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        """`(B, C, U, T, H, W)` -> `(B, O, U', T', H', W')`."""
        return conv4d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
            f"bias={self.bias is not None}"
        )

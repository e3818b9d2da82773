"""Exact 4D convolution over `(B, C, U, T, H, W)` tensors (paper eqns 1 and 2).

Eqn 1 sums a `u×t×h×w` kernel over the action-unit axis U and the 3D axes (T, H, W). Eqn 2
rewrites it as a sum over the `u` unit offsets of ordinary 3D convolutions. f4d evaluates it on
*rows*: the backbone's `(B·U, C, T, H, W)` layout (row `b·U + u`), so a 4D block never moves U
out of the batch. Three paths, chosen from the kernel, none of them looping over output units:

* **unit kernel** (`t = h = 1`, no T/H stride or padding; F4D's `(u, 1, 1, 1)` filter): T and
  H merge into one axis and a single `conv3d` runs over `(B, C, U, T·H, W)` with kernel
  `(u, 1, w)`. In the `channels_last_3d` layout the models use, that is a view of the rows:
  no copy at all.
* **unit sum** (U stride 1, any other kernel; V4D's `(3, 3, 1, 1)`): eqn 2 literally, batched
  over units: for each of the `u` unit offsets one `conv3d` with kernel `(t, h, w)` over every
  unit that offset reaches, added into the output rows it feeds. `u` calls, whatever U is.
* **folded** (U stride > 1): the `u` shifted unit slices are stacked into the channel axis and one
  `conv3d` over `(B·U', C·u, T, H, W)` with weight `(O, C·u, t, h, w)` does the work. It also
  runs on the meta device, where f4d counts MACs: the unit sum skips the products with U's zero
  padding, and counts follow the convolution definition (padding included), as the paper's do.

`conv4d` is the `(B, C, U, T, H, W)` interface; `conv4d_rows` the rows interface. `conv4d_loop`
is the naive reference of public V4D code (a 3D convolution per output unit and per offset);
benchmarks use it as the baseline and tests check every path gives the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Int4 = int | Sequence[int]

__all__ = [
    "Conv4d",
    "channels_last_6d",
    "conv4d",
    "conv4d_loop",
    "conv4d_output_size",
    "conv4d_rows",
    "is_channels_last",
    "merges_space",
    "rows_to_units",
    "to_4tuple",
    "units_to_rows",
]


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


def units_to_rows(x: Tensor) -> Tensor:
    """`(B, C, U, T, H, W)` -> rows `(B·U, C, T, H, W)` (a view when the memory allows)."""
    b, c, u = x.shape[:3]
    return x.transpose(1, 2).reshape(b * u, c, *x.shape[3:])


def rows_to_units(x: Tensor, units: int) -> Tensor:
    """Rows `(B·U, C, T, H, W)` -> `(B, C, U, T, H, W)`, always a view."""
    return x.unflatten(0, (x.shape[0] // units, units)).transpose(1, 2)


def is_channels_last(x: Tensor) -> bool:
    """`x` is laid out channels_last_3d and not also plain contiguous (False for a 6D tensor)."""
    return x.is_contiguous(memory_format=torch.channels_last_3d) and not x.is_contiguous()


def channels_last_6d(weight: Tensor) -> Tensor:
    """`(O, C, u, t, h, w)` laid out as `(O, u, t, h, w, C)` in memory: every 5D slice or merge
    the conv paths take of it (`weight[:, :, s]`, `flatten(3, 4)`) is then `channels_last_3d`."""
    return weight.permute(0, 2, 3, 4, 5, 1).contiguous().permute(0, 5, 1, 2, 3, 4)


def _like(weight: Tensor, x: Tensor) -> Tensor:
    """A 5D conv weight in `x`'s layout: conv3d with a channels-last input and a contiguous
    weight would convert the (large) input to the weight's layout instead."""
    if is_channels_last(x) and not weight.is_contiguous(memory_format=torch.channels_last_3d):
        return weight.contiguous(memory_format=torch.channels_last_3d)
    return weight


def _check_weight(channels: int, weight: Tensor) -> None:
    if weight.dim() != 6:
        raise ValueError(f"conv4d expects weight (O, C, u, t, h, w), got {tuple(weight.shape)}")
    if channels != weight.shape[1]:
        raise ValueError(f"input has {channels} channels but the weight expects {weight.shape[1]}")


def _arguments(
    size: Sequence[int], weight: Tensor, stride: Int4, padding: Int4, dilation: Int4
) -> tuple[tuple[int, ...], ...]:
    stride4, padding4 = to_4tuple(stride, "stride"), to_4tuple(padding, "padding")
    dilation4 = to_4tuple(dilation, "dilation")
    if min(stride4) < 1 or min(dilation4) < 1 or min(padding4) < 0:
        raise ValueError(
            f"need stride >= 1, dilation >= 1, padding >= 0; got stride={stride4}, "
            f"padding={padding4}, dilation={dilation4}"
        )
    out = conv4d_output_size(size, weight.shape[2:], stride4, padding4, dilation4)
    if min(out) < 1:
        raise ValueError(
            f"input (U, T, H, W)={tuple(size)} is too small for kernel "
            f"{tuple(weight.shape[2:])} with padding={padding4}, dilation={dilation4}"
        )
    return stride4, padding4, dilation4, out


def _select_units(x: Tensor, units: int, lo: int, hi: int) -> Tensor:
    """Rows of units `lo..hi-1` of every video, in `x`'s memory layout (a view when B = 1)."""
    videos = x.shape[0] // units
    if (lo, hi) == (0, units):
        return x
    if videos == 1:
        return x[lo:hi]
    if is_channels_last(x):  # copy in (N, T, H, W, C) order so the result stays channels-last
        picked = x.permute(0, 2, 3, 4, 1).unflatten(0, (videos, units))[:, lo:hi]
        return picked.flatten(0, 1).permute(0, 4, 1, 2, 3)
    return x.unflatten(0, (videos, units))[:, lo:hi].flatten(0, 1)


def _unit_kernel(
    x: Tensor, weight: Tensor, bias: Tensor | None, units: int, stride, padding, dilation
) -> Tensor:
    """`t = h = 1` kernels: one conv3d over `(B, C, U, T·H, W)`; rows in, rows out."""
    _, _, t, h, _ = x.shape
    cube = rows_to_units(x, units).flatten(3, 4)  # (B, C, U, T·H, W), a view
    y = F.conv3d(
        cube,
        _like(weight.flatten(3, 4), cube),  # (O, C, u, 1, w)
        bias,
        stride=(stride[0], 1, stride[3]),
        padding=(padding[0], 0, padding[3]),
        dilation=(dilation[0], 1, dilation[3]),
    )  # (B, O, U', T·H, W')
    return units_to_rows(y.unflatten(3, (t, h)))  # (B·U', O, T, H, W')


def merges_space(weight: Tensor, stride, padding) -> bool:
    """`h = w = 1` kernels mixing units (`u > 1`) with no stride or padding in H, W: V4D's
    `(3, 3, 1, 1)`. H and W then merge into one axis (see :func:`_space_flat`). Taken for
    channels_last_3d rows of two videos or more: with one, torch 2.13's CPU conv3d of a batch
    of one in float32 leaves oneDNN for a path twice as slow as :func:`_unit_sum` (measured:
    512 channels, 4 × 8 × 28², 542 vs 298 ms; bf16 58 vs 59 ms; two videos: fp32 556 vs 628
    ms, bf16 129 vs 166 ms)."""
    k_u, _, k_h, k_w = weight.shape[2:]
    return k_u > 1 and (k_h, k_w) == (1, 1) and stride[2:] == (1, 1) and padding[2:] == (0, 0)


def _space_flat(
    x: Tensor, weight: Tensor, bias: Tensor | None, units: int, stride, padding, dilation
) -> Tensor:
    """`h = w = 1` kernels: one conv3d over `(B, C, U, T, H·W)`; rows in, rows out.

    In `channels_last_3d` the rows `(B·U, C, T, H, W)` are `(B, U, T, H·W, C)` in memory, which
    is the `(B, C, U, T, H·W)` cube in `channels_last_3d`: a view, no copy. One convolution
    with kernel `(u, t, 1)` replaces :func:`_unit_sum`'s `u` convolutions and their sums.
    """
    _, _, _, h, w = x.shape
    cube = rows_to_units(x, units).flatten(4, 5)  # (B, C, U, T, H·W), a view
    y = F.conv3d(
        cube,
        _like(weight.flatten(4, 5), cube),  # (O, C, u, t, 1)
        bias,
        stride=(*stride[:2], 1),
        padding=(*padding[:2], 0),
        dilation=(*dilation[:2], 1),
    )  # (B, O, U', T', H·W)
    # channels_last_3d rows in, the same out (conv3d leaves it for float64 and some shapes)
    y = y.contiguous(memory_format=torch.channels_last_3d)
    return units_to_rows(y.unflatten(4, (h, w)))  # (B·U', O, T', H, W)


def _unit_sum(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    units: int,
    stride,
    padding,
    dilation,
    out_size: tuple[int, ...],
) -> Tensor:
    """U stride 1: eqn 2 batched over units, one conv3d per unit offset; rows in, rows out.

    Offset `s` reads input unit `i = u' + δ` (`δ = s·d − p`) for output unit `u'`; its conv3d
    runs once over every unit some `u'` reads, and is added into the rows of those `u'`.
    """
    videos, u_out = x.shape[0] // units, out_size[0]
    spans = []
    for s in range(weight.shape[2]):
        delta = s * dilation[0] - padding[0]
        lo, hi = max(0, delta), min(units, u_out + delta)
        if lo < hi:
            spans.append((s, delta, lo, hi))
    conv = {"stride": stride[1:], "padding": padding[1:], "dilation": dilation[1:]}
    full = next((sp for sp in spans if sp[1] == 0 and sp[3] - sp[2] == u_out), None)
    if full is not None:  # an offset that feeds every output unit starts the sum, with the bias
        spans.remove(full)
        x_full = _select_units(x, units, full[2], full[3])
        w_full = _like(weight[:, :, full[0]], x)
        out = F.conv3d(x_full, w_full, bias, **conv)  # (B·U', O, T', H', W')
    else:  # padding only reaches some units: start from zeros (+ bias)
        layout = torch.channels_last_3d if is_channels_last(x) else torch.contiguous_format
        out = x.new_zeros(videos * u_out, weight.shape[0], *out_size[1:])
        out = out.to(memory_format=layout)
        if bias is not None:
            out += bias.view(1, -1, 1, 1, 1)
    for s, delta, lo, hi in spans:
        z = F.conv3d(_select_units(x, units, lo, hi), _like(weight[:, :, s], x), None, **conv)
        grid = out.unflatten(0, (videos, u_out))[:, lo - delta : hi - delta]
        grid += z.unflatten(0, (videos, hi - lo))  # (B, hi-lo, O, T', H', W')
    return out


def _folded(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    units: int,
    stride,
    padding,
    dilation,
    u_out: int,
) -> Tensor:
    """Any U stride: fold the `u` unit offsets into channels, one conv3d; rows in, rows out."""
    videos = x.shape[0] // units
    k_u = weight.shape[2]
    grid = x.unflatten(0, (videos, units))  # (B, U, C, T, H, W)
    if padding[0]:
        grid = F.pad(grid, (0, 0, 0, 0, 0, 0, 0, 0, padding[0], padding[0]))
    span = (u_out - 1) * stride[0] + 1
    shifted = [grid[:, s * dilation[0] : s * dilation[0] + span : stride[0]] for s in range(k_u)]
    folded = torch.stack(shifted, dim=3).flatten(0, 1).flatten(1, 2)  # (B·U', C·u, T, H, W)
    return F.conv3d(
        folded,
        weight.flatten(1, 2),  # (O, C·u, t, h, w); channel index c·u + s matches the fold
        bias,
        stride=stride[1:],
        padding=padding[1:],
        dilation=dilation[1:],
    )


def conv4d_rows(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    *,
    units: int,
    stride: Int4 = 1,
    padding: Int4 = 0,
    dilation: Int4 = 1,
) -> Tensor:
    """Exact 4D convolution (eqn 1) on rows: `(B·U, C, T, H, W)` -> `(B·U', O, T', H', W')`.

    Row `b·U + u` holds unit `u` of video `b` (the backbone's layout); `units = U`. Same numbers
    as :func:`conv4d` on the `(B, C, U, T, H, W)` view of the rows. Works in any memory layout;
    in `channels_last_3d` (the models' default) no path copies the input when B = 1, and only the
    `u − 1` shifted unit slices of the unit-sum path are gathered when B > 1.
    """
    if x.dim() != 5 or units < 1 or x.shape[0] % units:
        raise ValueError(
            f"conv4d_rows expects (B·U, C, T, H, W) with a batch divisible by units={units}, "
            f"got shape {tuple(x.shape)}"
        )
    _check_weight(x.shape[1], weight)
    size = (units, *x.shape[2:])
    stride4, padding4, dilation4, out = _arguments(size, weight, stride, padding, dilation)
    k_t, k_h = weight.shape[3:5]
    if (k_t, k_h) == (1, 1) and stride4[1:3] == (1, 1) and padding4[1:3] == (0, 0):
        return _unit_kernel(x, weight, bias, units, stride4, padding4, dilation4)
    if merges_space(weight, stride4, padding4) and is_channels_last(x) and x.shape[0] > units:
        return _space_flat(x, weight, bias, units, stride4, padding4, dilation4)
    if stride4[0] == 1 and not x.is_meta:
        return _unit_sum(x, weight, bias, units, stride4, padding4, dilation4, out)
    return _folded(x, weight, bias, units, stride4, padding4, dilation4, out[0])


def conv4d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Int4 = 1,
    padding: Int4 = 0,
    dilation: Int4 = 1,
) -> Tensor:
    """Exact 4D convolution (eqn 1) evaluated as eqn 2 without a loop over output units.

    Args:
        x: input `(B, C, U, T, H, W)`.
        weight: `(O, C, u, t, h, w)`.
        bias: `(O,)` or None.
        stride, padding, dilation: int or 4 ints over `(U, T, H, W)`; zero padding.

    Returns:
        `(B, O, U', T', H', W')` with the usual convolution output sizes (a view of the rows
        :func:`conv4d_rows` computes).
    """
    if x.dim() != 6:
        raise ValueError(f"conv4d expects input (B, C, U, T, H, W), got shape {tuple(x.shape)}")
    rows = conv4d_rows(
        units_to_rows(x),
        weight,
        bias,
        units=x.shape[2],
        stride=stride,
        padding=padding,
        dilation=dilation,
    )
    return rows_to_units(rows, rows.shape[0] // x.shape[0])


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
    if x.dim() != 6:
        raise ValueError(f"conv4d expects input (B, C, U, T, H, W), got shape {tuple(x.shape)}")
    _check_weight(x.shape[1], weight)
    stride4, padding4, dilation4, out = _arguments(x.shape[2:], weight, stride, padding, dilation)
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
    Output: `(B, out_channels, U', T', H', W')`. `layer(rows, units=U)` takes and returns the
    backbone's rows `(B·U, C, T, H, W)` instead, which is how the 4D blocks call it.
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
        # stored (O, u, t, h, w, C) in memory, so the conv3d calls need no weight copies
        weight = torch.empty(out_channels, in_channels, *self.kernel_size)
        self.weight = nn.Parameter(channels_last_6d(weight))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-uniform weights and uniform bias, as `nn.Conv3d` does, with the 4D fan-in."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.weight[0].numel())
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(
        self,
        x: Tensor,
        units: int | None = None,
        *,
        weight: Tensor | None = None,
        bias: Tensor | None = None,
    ) -> Tensor:
        """`(B, C, U, T, H, W)` -> `(B, O, U', T', H', W')`; with `units`, rows
        `(B·U, C, T, H, W)` -> `(B·U', O, T', H', W')` (see :func:`conv4d_rows`).

        `weight` / `bias` replace the layer's own for this call (an eval-mode BatchNorm folded
        into them, see :func:`f4d.ops.fold.fold_batch_norm`).
        """
        weight = self.weight if weight is None else weight
        bias = self.bias if bias is None else bias
        if units is None:
            return conv4d(x, weight, bias, self.stride, self.padding, self.dilation)
        return conv4d_rows(
            x, weight, bias, units=units, stride=self.stride, padding=self.padding,
            dilation=self.dilation,
        )  # fmt: skip

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
            f"bias={self.bias is not None}"
        )

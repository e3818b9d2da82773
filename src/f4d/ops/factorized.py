"""(3+1)D factorization of a 4D convolution (paper section 3.3) on `(B, C, U, T, H, W)`.

A full 4D layer has `N_i` filters of size `N_{i-1}×u×t×h×w`. The factorized layer replaces it with
`M_i` filters `N_{i-1}×u×1×h×w` over (U, H, W), a nonlinearity, then `N_i` temporal filters
`M_i×1×t×1×1`; `M_i = factorized_width(...)` keeps the parameter count about the same.

Where the paper is silent: between the two convolutions we put BatchNorm then ReLU (the paper
names only the ReLU; R(2+1)D, which the paper follows, uses BN + ReLU). The first convolution
therefore has no bias; the second has one when `bias=True`.
"""

from __future__ import annotations

from torch import Tensor, nn

from f4d.ops.conv4d import Conv4d, Int4, rows_to_units, to_4tuple, units_to_rows
from f4d.ops.fold import fold_batch_norm

__all__ = ["Factorized4d", "factorized_width"]


def factorized_width(in_ch: int, out_ch: int, kernel_size: Int4) -> int:
    """The paper's `M_i = floor(u·t·h·w·N_{i-1}·N_i / (u·h·w·N_{i-1} + t·N_i))`.

    `in_ch = N_{i-1}`, `out_ch = N_i`, `kernel_size = (u, t, h, w)`. Returns at least 1.
    """
    u, t, h, w = to_4tuple(kernel_size, "kernel_size")
    if in_ch < 1 or out_ch < 1 or min(u, t, h, w) < 1:
        raise ValueError(
            f"need positive widths and kernel, got in_ch={in_ch}, out_ch={out_ch}, "
            f"kernel_size={(u, t, h, w)}"
        )
    width = (u * t * h * w * in_ch * out_ch) // (u * h * w * in_ch + t * out_ch)
    return max(1, width)


class Factorized4d(nn.Module):
    """Factorized 4D convolution: `(B, C, U, T, H, W)` -> `(B, O, U', T', H', W')`.

    `spatial` is a `Conv4d` with kernel `(u, 1, h, w)` (a 3D filter over U, H, W), followed by
    `norm` (BatchNorm over the `mid_channels` axis) and ReLU; `temporal` is a `Conv4d` with kernel
    `(1, t, 1, 1)`. Stride, padding and dilation on (U, H, W) go to the first convolution, on T to
    the second, so the output shape equals that of `Conv4d` with the same arguments.
    `mid_channels` defaults to `factorized_width(in_channels, out_channels, kernel_size)`.
    `layer(rows, units=U)` works on the backbone's rows `(B·U, C, T, H, W)` instead; there the
    paper's kernel `(3, 3, 1, 1)` is one conv3d `(3, 1, 1)` over `(B, C, U, T·H, W)` and one over
    `(B·U, M, T, H, W)`, both views of the rows in `channels_last_3d`.
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
        mid_channels: int | None = None,
    ) -> None:
        super().__init__()
        k_u, k_t, k_h, k_w = to_4tuple(kernel_size, "kernel_size")
        s_u, s_t, s_h, s_w = to_4tuple(stride, "stride")
        p_u, p_t, p_h, p_w = to_4tuple(padding, "padding")
        d_u, d_t, d_h, d_w = to_4tuple(dilation, "dilation")
        if mid_channels is None:
            mid_channels = factorized_width(in_channels, out_channels, (k_u, k_t, k_h, k_w))
        if mid_channels < 1:
            raise ValueError(f"mid_channels must be >= 1, got {mid_channels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.mid_channels = mid_channels
        self.kernel_size = (k_u, k_t, k_h, k_w)
        self.spatial = Conv4d(
            in_channels,
            mid_channels,
            (k_u, 1, k_h, k_w),
            stride=(s_u, 1, s_h, s_w),
            padding=(p_u, 0, p_h, p_w),
            dilation=(d_u, 1, d_h, d_w),
            bias=False,
        )
        self.norm = nn.BatchNorm3d(mid_channels)
        self.act = nn.ReLU(inplace=True)
        self.temporal = Conv4d(
            mid_channels,
            out_channels,
            (1, k_t, 1, 1),
            stride=(1, s_t, 1, 1),
            padding=(0, p_t, 0, 0),
            dilation=(1, d_t, 1, 1),
            bias=bias,
        )

    def forward(self, x: Tensor, units: int | None = None) -> Tensor:
        """`(B, C, U, T, H, W)` -> `(B, O, U', T', H', W')`; with `units`, rows
        `(B·U, C, T, H, W)` -> `(B·U', O, T', H', W')` (the 4D blocks' layout)."""
        if units is None:
            rows = self.forward(units_to_rows(x), units=x.shape[2])
            return rows_to_units(rows, rows.shape[0] // x.shape[0])
        videos = x.shape[0] // units
        folded = fold_batch_norm(self.spatial.weight, None, self.norm)
        if folded is None:  # training: BN per channel over (B·U', T, H', W')
            y = self.norm(self.spatial(x, units=units))  # (B·U', M, T, H', W')
        else:  # eval: BN folded into the spatial convolution (its own row reads 0 in benchmarks)
            y = self.spatial(x, units=units, weight=folded[0], bias=folded[1])
        y = self.act(y)
        return self.temporal(y, units=y.shape[0] // videos)  # (B·U', O, T', H', W')

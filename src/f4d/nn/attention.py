"""Attention modules of the F4D block (paper section 3.5) and the SE / CBAM baselines (Table 5).

Layouts: `TemporalAttention` works in 4D space on `(B, C, U, T, H, W)`; all others work on
`(N, C, T, H, W)` with the action units merged into the batch (`N = B·U`).
The paper's three modules (TA, CA, STA) end with an inner residual, `F·M + F` (eqns 6, 9, 12);
SE and CBAM keep their published form, `F·M`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from f4d.ops.small_conv import dense_conv, dense_conv_fits

__all__ = [
    "CBAM3d",
    "ChannelAttention",
    "SpatioTemporalAttention",
    "SqueezeExcitation3d",
    "TemporalAttention",
]


def _channel_mlp(channels: int, reduction: int) -> nn.Sequential:
    """The shared MLP of CA, SE and CBAM on `(N, C)`: `C -> C/r -> C` (at least 1 hidden unit)
    with a ReLU between the two linears."""
    if channels < 1 or reduction < 1:
        raise ValueError(f"need channels >= 1 and reduction >= 1, got {channels}, {reduction}")
    hidden = max(1, channels // reduction)
    return nn.Sequential(
        nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels)
    )


def may_write_in_place() -> bool:
    """True in plain inference (no gradient recorded, not tracing or exporting), where a module
    may write into tensors it owns; exporters and autograd need the out-of-place ops."""
    if torch.is_grad_enabled() or torch.jit.is_tracing():
        return False
    return not torch.onnx.is_in_onnx_export()


def _scale_residual(x: Tensor, attn: Tensor, inplace: bool) -> Tensor:
    """`M·F + F` (eqns 6, 9, 12) for `F = x`, `M = attn` (broadcast). With `inplace` and no
    gradient being recorded (inference) it is written into `x`: the 4D block, which owns its
    intermediate tensors, sets `inplace` on its attention modules to save an allocation per map."""
    if inplace and may_write_in_place():
        return torch.addcmul(x, x, attn, out=x)
    return torch.addcmul(x, x, attn)


def max_pool(x: Tensor, dims: tuple[int, ...], keepdim: bool = False) -> Tensor:
    """`x.amax(dims)`, computed so that training is cheap: with a gradient to record, the
    reduced dims are merged (a view, in `x`'s memory order) and `max(dim)` keeps the argmax, so
    the backward is one scatter instead of amax's four full-size passes (mask, count, divide,
    multiply). Same values; at exact ties the gradient goes to one maximum instead of being
    split between them (both are subgradients; exact ties are rare in real-valued features)."""
    if not (torch.is_grad_enabled() and x.requires_grad):
        return x.amax(dim=dims, keepdim=keepdim)
    order = sorted(range(x.dim()), key=lambda d: (-x.stride(d), d))  # memory order
    moved = x.permute(*order)
    where = sorted(order.index(d) for d in dims)
    if not moved.is_contiguous() or where[-1] - where[0] + 1 != len(where):
        return x.amax(dim=dims, keepdim=keepdim)
    lo, hi = where[0], where[-1]
    flat = moved.reshape(*moved.shape[:lo], -1, *moved.shape[hi + 1 :])  # a view
    values = flat.max(dim=lo).values  # kept dims, in memory order
    kept = [d for d in order if d not in dims]
    values = values.permute(*(kept.index(d) for d in sorted(kept)))  # kept dims, in x's order
    if keepdim:
        for d in sorted(dims):
            values = values.unsqueeze(d)
    return values


def _shared_mlp_sum(mlp: nn.Module, x: Tensor) -> Tensor:
    """`MLP(avg(F)) + MLP(max(F))` over (T, H, W) of `(N, C, T, H, W)` -> `(N, C)`."""
    return _mlp_sum(mlp, x.mean(dim=(2, 3, 4)), max_pool(x, (2, 3, 4)))


def _mlp_sum(mlp: nn.Module, avg: Tensor, peak: Tensor) -> Tensor:
    """`MLP(avg) + MLP(peak)` for two `(N, C)` descriptors, run as one batch of `2N` rows."""
    out = mlp(torch.cat([avg, peak]))  # (2N, C)
    n = avg.shape[0]
    return out[:n] + out[n:]


class _TwoPathDilated(nn.Module):
    """Two parallel dilated convolutions (dilations 2 and 3) whose outputs are summed.

    `conv` is `nn.Conv1d` or `nn.Conv3d`; `kernel` and `dilation_axes` say on which axes the
    kernel spans and is dilated (e.g. `(1, 3, 3)` and `(0, 1, 1)` for a 2D conv over H, W).
    Padding keeps every axis's length. Output channels: `out_channels`.
    """

    def __init__(
        self,
        conv: type[nn.Module],
        in_channels: int,
        out_channels: int,
        kernel: tuple[int, ...],
        *,
        dilations: tuple[int, int] = (2, 3),
    ) -> None:
        super().__init__()
        self.paths = nn.ModuleList(
            conv(
                in_channels,
                out_channels,
                kernel,
                dilation=tuple(d if k > 1 else 1 for k in kernel),
                padding=tuple(d * (k - 1) // 2 for k in kernel),
            )
            for d in dilations
        )

    def forward(self, x: Tensor) -> Tensor:
        """The sum of the paths, computed as one convolution whose kernel holds every path's
        taps at their dilated offsets (zeros elsewhere): the same sum of products, one call
        instead of one per path (the dilated convolutions' backward was the costliest op of a
        small F4D block). On a small map (`dense_conv_fits`) that convolution is one product
        with its dense matrix (`f4d.ops.small_conv`), which skips the convolution library's
        fixed cost per call."""
        first = self.paths[0].weight
        if dense_conv_fits(first.shape[1], first.shape[0], tuple(x.shape[2:])):  # one product
            return dense_conv(x, [p.weight for p in self.paths], self._bias(),
                              dilation=[p.dilation for p in self.paths])  # fmt: skip
        weight, bias = self.merged()
        conv = F.conv1d if x.dim() == 3 else F.conv3d
        return conv(x, weight, bias, padding=tuple(k // 2 for k in weight.shape[2:]))

    def merged(self) -> tuple[Tensor, Tensor | None]:
        """`(weight, bias)` of the single convolution equal to the sum of the paths."""
        spans = [
            tuple(d * (k - 1) + 1 for k, d in zip(p.kernel_size, p.dilation)) for p in self.paths
        ]
        size = tuple(max(axis) for axis in zip(*spans))
        first = self.paths[0].weight
        weight = first.new_zeros(*first.shape[:2], *size)
        for path, span in zip(self.paths, spans):
            taps = tuple(
                slice((n - s) // 2, (n - s) // 2 + s, d)
                for n, s, d in zip(size, span, path.dilation)
            )
            weight[(..., *taps)] += path.weight
        return weight, self._bias()

    def _bias(self) -> Tensor | None:
        """The sum of the paths' biases (None if none has one)."""
        biases = [p.bias for p in self.paths if p.bias is not None]
        return torch.stack(biases).sum(0) if biases else None


class TemporalAttention(nn.Module):
    """TA, eqns 4-6, in 4D space: `(B, C, U, T, H, W)` -> same shape.

    `F_avg^T + F_max^T` pools over channels and space into a `(B, 1, U, T)` descriptor (eqn 5).
    The two-path dilated 1D convolution (dilations 2 and 3, i.e. skipping 1 and 2 steps) runs
    over the flattened `U·T` frame sequence of each video, so a frame near the end of one action
    unit sees frames of the next: the map models temporal evolution across all action units
    ("inter-clip"), which a conv over T inside each unit could not. `M_T = σ(...)` has shape
    `(B, 1, U, T, 1, 1)` and the output is `M_T·F + F` (eqn 6). With `record = True` the last map
    is kept, detached, in `last_map`.
    """

    def __init__(self, kernel_size: int = 3) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 1, got {kernel_size}")
        self.conv = _TwoPathDilated(nn.Conv1d, 1, 1, (kernel_size,))
        self.inplace = False  # see _scale_residual
        self.record = False
        self.last_map: Tensor | None = None

    def forward(self, x: Tensor, units: int | None = None) -> Tensor:
        """`(B, C, U, T, H, W)` -> same; with `units`, rows `(B·U, C, T, H, W)` -> same."""
        if units is None:
            if x.dim() != 6:
                raise ValueError(
                    f"TemporalAttention expects (B, C, U, T, H, W), got {tuple(x.shape)}"
                )
            pooled = x.mean(dim=(1, 4, 5)) + max_pool(x, (1, 4, 5))  # (B, U, T), eqn 5
            return _scale_residual(x, self.map(pooled), self.inplace)  # eqn 6: M_T·F + F
        if x.dim() != 5 or units < 1 or x.shape[0] % units:
            raise ValueError(
                f"TemporalAttention expects rows (B·U, C, T, H, W) with a batch divisible by "
                f"units={units}, got {tuple(x.shape)}"
            )
        n, _, t = x.shape[:3]
        pooled = x.mean(dim=(1, 3, 4)) + max_pool(x, (1, 3, 4))  # (B·U, T), eqn 5
        attn = self.map(pooled.view(n // units, units, t))  # (B, 1, U, T, 1, 1)
        return _scale_residual(x, attn.view(n, 1, t, 1, 1), self.inplace)  # eqn 6: M_T·F + F

    def map(self, pooled: Tensor) -> Tensor:
        """`(B, U, T)` descriptor -> `M_T` `(B, 1, U, T, 1, 1)` (eqn 5), kept if `record`."""
        b, u, t = pooled.shape
        seq = pooled.reshape(b, 1, u * t)  # (B, 1, U·T): one sequence across the action units
        attn = torch.sigmoid(self.conv(seq)).view(b, 1, u, t, 1, 1)
        if self.record:  # at least float32: a bf16 model's map is widened for the plots
            self.last_map = attn.detach().to(torch.promote_types(attn.dtype, torch.float32))
        return attn


class ChannelAttention(nn.Module):
    """CA, eqns 7-9: `(N, C, T, H, W)` -> same shape.

    Average- and max-pooled `(N, C)` descriptors pass through one shared MLP
    `C -> C/r -> C` (ReLU after the first layer), are summed, and a sigmoid gives
    `M_C (N, C, 1, 1, 1)`; the output is `M_C·F + F` (eqn 9).
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.mlp = _channel_mlp(channels, reduction)
        self.inplace = False  # see _scale_residual

    def forward(self, x: Tensor) -> Tensor:
        attn = self.map(x.mean(dim=(2, 3, 4)), max_pool(x, (2, 3, 4)))  # (N, C), eqn 8
        return _scale_residual(x, attn[:, :, None, None, None], self.inplace)  # eqn 9

    def map(self, avg: Tensor, peak: Tensor) -> Tensor:
        """`M_C = σ(MLP(avg) + MLP(peak))` (eqn 8) from the `(N, C)` average- and max-pooled
        descriptors -> `(N, C)`."""
        return torch.sigmoid(_mlp_sum(self.mlp, avg, peak))


class SpatioTemporalAttention(nn.Module):
    """STA, eqns 10-12: `(N, C, T, H, W)` -> same shape.

    `m_ST = [avg_C(F), max_C(F)]` is `(N, 2, T, H, W)` (eqn 10). A two-path dilated 2D conv over
    (H, W) (dilations 2 and 3, "skipping 1 and 2 pixels"; each path 2 -> 2 channels, summed),
    ReLU, then a two-path dilated 1D conv over T (dilations 2 and 3; 2 -> 1 channel, summed) and
    a sigmoid give `M_ST (N, 1, T, H, W)` (eqn 11); the output is `M_ST·F + F` (eqn 12).
    With `record = True` the last map is kept, detached, in `last_map`.
    """

    def __init__(self, kernel_size: int = 3) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 1, got {kernel_size}")
        self.spatial = _TwoPathDilated(nn.Conv3d, 2, 2, (1, kernel_size, kernel_size))
        self.act = nn.ReLU(inplace=True)
        self.temporal = _TwoPathDilated(nn.Conv3d, 2, 1, (kernel_size, 1, 1))
        self.inplace = False  # see _scale_residual
        self.record = False
        self.last_map: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        m_st = torch.cat([x.mean(dim=1, keepdim=True), max_pool(x, (1,), keepdim=True)], dim=1)
        return _scale_residual(x, self.map(m_st), self.inplace)  # eqn 12: M_ST·F + F

    def map(self, m_st: Tensor) -> Tensor:
        """`M_ST (N, 1, T, H, W)` (eqn 11) from `m_st = [avg_C(F), max_C(F)] (N, 2, T, H, W)`
        (eqn 10); kept, detached, in `last_map` if `record`."""
        attn = torch.sigmoid(self.temporal(self.act(self.spatial(m_st))))  # (N, 1, T, H, W)
        if self.record:  # at least float32: a bf16 model's map is widened for the plots
            self.last_map = attn.detach().to(torch.promote_types(attn.dtype, torch.float32))
        return attn


class SqueezeExcitation3d(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018) in 3D: `(N, C, T, H, W)` -> same shape.

    Global average over (T, H, W), MLP `C -> C/r -> C` with ReLU, sigmoid, output `F·M`.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.mlp = _channel_mlp(channels, reduction)

    def forward(self, x: Tensor) -> Tensor:
        attn = torch.sigmoid(self.mlp(x.mean(dim=(2, 3, 4))))  # (N, C)
        return x * attn[:, :, None, None, None]


class CBAM3d(nn.Module):
    """CBAM (Woo et al. 2018) in 3D: `(N, C, T, H, W)` -> same shape.

    Channel attention (avg+max pooled descriptors, shared MLP `C -> C/r -> C`, sigmoid), then
    spatial attention over (T, H, W): channel avg/max concatenated into `(N, 2, T, H, W)`, one
    `spatial_kernel³` conv (CBAM's 7×7 carried to 3D), sigmoid. Outputs are `F·M` (no inner
    residual), as in the original.
    """

    def __init__(self, channels: int, reduction: int = 16, spatial_kernel: int = 7) -> None:
        super().__init__()
        self.mlp = _channel_mlp(channels, reduction)
        if spatial_kernel < 1 or spatial_kernel % 2 == 0:
            raise ValueError(f"spatial_kernel must be odd and >= 1, got {spatial_kernel}")
        self.spatial = nn.Conv3d(2, 1, spatial_kernel, padding=spatial_kernel // 2)

    def forward(self, x: Tensor) -> Tensor:
        channel = torch.sigmoid(_shared_mlp_sum(self.mlp, x))  # (N, C)
        x = x * channel[:, :, None, None, None]
        pooled = torch.cat([x.mean(dim=1, keepdim=True), max_pool(x, (1,), keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial(pooled))  # (N, 1, T, H, W) map broadcast

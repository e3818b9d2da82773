"""Compact STM and TEA blocks for the paper's Table 5, on `(N, C, T, H, W)` with `N = B·U`.

Both keep their published structure but are sized to sit where the F4D block's CA/STA attention
sits (same channels in and out, ending in a residual so they start close to the identity):

* `STMBlock` (Jiang et al. 2019): 1×1 reduce, CSTM (channel-wise temporal conv + 2D conv) and
  CMM (feature differences between neighbouring frames) summed, 1×1 expand, residual add.
* `TEABlock` (Li et al. 2020): ME (motion excitation by neighbouring-frame feature differences,
  `X + X·(2σ(·) − 1)`), then MTA (hierarchical residual temporal aggregation over 4 channel
  fragments), BatchNorm, residual add.

2D convolutions are `Conv3d` with kernel `(1, 3, 3)`; temporal ones use `(3, 1, 1)`. Temporal
differences use `K(X_{t+1}) − X_t` with the last frame's difference set to zero, as in both papers.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["STMBlock", "TEABlock"]


def _spatial_conv(in_ch: int, out_ch: int, *, groups: int = 1) -> nn.Conv3d:
    return nn.Conv3d(in_ch, out_ch, (1, 3, 3), padding=(0, 1, 1), groups=groups, bias=False)


def _temporal_depthwise(channels: int) -> nn.Conv3d:
    return nn.Conv3d(channels, channels, (3, 1, 1), padding=(1, 0, 0), groups=channels, bias=False)


def _frame_difference(x: Tensor, transform: nn.Module) -> Tensor:
    """`D_t = K(X_{t+1}) − X_t` for t < T−1 and `D_{T−1} = 0`: `(N, C, T, H, W)` -> same."""
    moved = transform(x)  # K applied per frame (kernel 1 along T), so shifting commutes with it
    diff = moved[:, :, 1:] - x[:, :, :-1]  # (N, C, T-1, H, W)
    return torch.cat([diff, torch.zeros_like(x[:, :, :1])], dim=2)


def _width(channels: int, ratio: int, name: str) -> int:
    if channels < 1 or ratio < 1:
        raise ValueError(f"need channels >= 1 and {name} >= 1, got {channels}, {ratio}")
    return max(1, channels // ratio)


class STMBlock(nn.Module):
    """STM block (CSTM + CMM): `(N, C, T, H, W)` -> same shape.

    `reduce` (1×1, C -> C/bottleneck, BN, ReLU); CSTM = depthwise temporal conv (k=3) then a
    3×3 2D conv; CMM = 1×1 (-> C/bottleneck/reduction), `K(X_{t+1}) − X_t` with a 3×3 2D conv K,
    1×1 back; CSTM + CMM -> BN -> ReLU -> `expand` (1×1 back to C) -> BN; output `x + that`.
    """

    def __init__(self, channels: int, *, bottleneck: int = 4, reduction: int = 16) -> None:
        super().__init__()
        width = _width(channels, bottleneck, "bottleneck")
        motion = _width(width, reduction, "reduction")
        self.reduce = nn.Sequential(
            nn.Conv3d(channels, width, 1, bias=False), nn.BatchNorm3d(width), nn.ReLU(inplace=True)
        )
        self.cstm = nn.Sequential(_temporal_depthwise(width), _spatial_conv(width, width))
        self.cmm_reduce = nn.Conv3d(width, motion, 1, bias=False)
        self.cmm_transform = _spatial_conv(motion, motion)
        self.cmm_expand = nn.Conv3d(motion, width, 1, bias=False)
        self.fuse = nn.Sequential(nn.BatchNorm3d(width), nn.ReLU(inplace=True))
        self.expand = nn.Sequential(
            nn.Conv3d(width, channels, 1, bias=False), nn.BatchNorm3d(channels)
        )

    def forward(self, x: Tensor) -> Tensor:
        h = self.reduce(x)  # (N, C/b, T, H, W)
        motion = _frame_difference(self.cmm_reduce(h), self.cmm_transform)  # (N, C/b/r, T, H, W)
        y = self.fuse(self.cstm(h) + self.cmm_expand(motion))
        return x + self.expand(y)


class _MotionExcitation(nn.Module):
    """TEA's ME: `(N, C, T, H, W)` -> `X + X·(2σ(expand(pool(K(X_{t+1}) − X_t))) − 1)`."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        hidden = _width(channels, reduction, "reduction")
        self.reduce = nn.Sequential(
            nn.Conv3d(channels, hidden, 1, bias=False), nn.BatchNorm3d(hidden)
        )
        self.transform = _spatial_conv(hidden, hidden, groups=hidden)
        self.expand = nn.Conv3d(hidden, channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        motion = _frame_difference(self.reduce(x), self.transform)  # (N, C/r, T, H, W)
        pooled = motion.mean(dim=(3, 4), keepdim=True)  # (N, C/r, T, 1, 1)
        attn = 2 * torch.sigmoid(self.expand(pooled)) - 1  # (N, C, T, 1, 1) in (-1, 1)
        return x + x * attn


class _MultipleTemporalAggregation(nn.Module):
    """TEA's MTA: 4 channel fragments; `Y_1 = X_1`, `Y_i = spa(temp(X_i + Y_{i-1}))`; concat."""

    def __init__(self, channels: int, fragments: int) -> None:
        super().__init__()
        if fragments < 2 or channels % fragments:
            raise ValueError(
                f"channels ({channels}) must split evenly into fragments ({fragments} >= 2)"
            )
        part = channels // fragments
        self.fragments = fragments
        self.stages = nn.ModuleList(
            nn.Sequential(_temporal_depthwise(part), _spatial_conv(part, part))
            for _ in range(fragments - 1)
        )

    def forward(self, x: Tensor) -> Tensor:
        parts = x.chunk(self.fragments, dim=1)  # fragments × (N, C/4, T, H, W)
        outputs = [parts[0]]
        for part, stage in zip(parts[1:], self.stages):
            outputs.append(stage(part + outputs[-1]))
        return torch.cat(outputs, dim=1)


class TEABlock(nn.Module):
    """TEA block (ME + MTA): `(N, C, T, H, W)` -> same shape.

    `x + BN(MTA(ME(x)))`; the outer residual stands in for the shortcut of the original TEA
    bottleneck. `channels` must be divisible by `fragments` (4 in the paper).
    """

    def __init__(self, channels: int, *, reduction: int = 16, fragments: int = 4) -> None:
        super().__init__()
        self.me = _MotionExcitation(channels, reduction)
        self.mta = _MultipleTemporalAggregation(channels, fragments)
        self.norm = nn.BatchNorm3d(channels)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.norm(self.mta(self.me(x)))

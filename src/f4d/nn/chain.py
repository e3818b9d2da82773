"""F4D's attention chain TA -> CA -> STA (eqns 4-12) as one pass of pooled statistics.

Each of the three modules multiplies its input by `(1 + M)` for a map `M` of its own shape:
TA by `α = 1 + M_T` over `(n, t)`, CA by `β = 1 + M_C` over `(n, c)`, STA by `1 + M_ST` over
`(n, t, h, w)`. So the chain's output is `F·α·β·(1 + M_ST)` and the inputs of CA and STA are
`F·α` and `F·α·β`. Run one after the other, the chain writes two full-size intermediates and
pools each of them in full (mean and max, twice per module). Here the pools of the
intermediates come from pools of `F` instead, because every factor is positive (`1 + σ(·) > 1`)
and so commutes with max: for `Y1 = F·α`,

    max_{t,h,w} Y1[n, c] = max_t α[n, t] · max_{h,w} F[n, c, t]   (CA's max pool),
    mean_{t,h,w} Y1[n, c] = Σ_t α[n, t] · Σ_{h,w} F[n, c, t] / (T·H·W)   (CA's average pool),

and TA's pools are pools of the same `(N, C, T)` sums and maxima over `c`. Only STA needs one
full-size tensor, `Z = F·β`, whose channel mean and max times `α` are STA's pools; the output
is `Z·α·(1 + M_ST)`. The maps are the modules' own (same parameters, same convolutions and MLP);
values equal the module-by-module chain up to float rounding (tested against it in float64).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from f4d.nn.attention import (
    ChannelAttention,
    SpatioTemporalAttention,
    TemporalAttention,
    may_write_in_place,
)

__all__ = ["AttentionChain", "ta_ca_sta"]

Modules = tuple[TemporalAttention, ChannelAttention, SpatioTemporalAttention]


class AttentionChain(nn.Module):
    """`ta_ca_sta` as a module, so hooks (e.g. `f4d bench breakdown`) see the chain run.

    It holds the three modules by reference, not as children: their parameters stay where they
    are registered (the block's `attention` dict), so state dicts are unchanged and this module
    has none of its own."""

    def __init__(
        self, ta: TemporalAttention, ca: ChannelAttention, sta: SpatioTemporalAttention
    ) -> None:
        super().__init__()
        self.chain = (ta, ca, sta)  # a tuple: not registered as submodules

    def forward(self, x: Tensor, units: int) -> Tensor:
        """Rows `(B·U, C, T, H, W)` with `units = U` -> same shape (see `ta_ca_sta`)."""
        return ta_ca_sta(x, units, *self.chain)


def ta_ca_sta(
    x: Tensor,
    units: int,
    ta: TemporalAttention,
    ca: ChannelAttention,
    sta: SpatioTemporalAttention,
) -> Tensor:
    """`sta(ca(ta(x, units)))` on rows `x (B·U, C, T, H, W)` -> same shape and memory layout.

    In training the full-size work runs in `_Chain` (a hand-written backward over the same
    pooled statistics); with no gradient to record (inference) the result is written into `x`
    when `ta`, `ca` and `sta` all have `inplace` set (the 4D block owns `x`)."""
    modules = (ta, ca, sta)
    params = [*ta.parameters(), *ca.parameters(), *sta.parameters()]  # TA's and CA's first
    if torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in params)):
        return _Chain.apply(x, units, modules, *params)
    inplace = all(m.inplace for m in modules) and may_write_in_place()
    return _chain_forward(x, units, modules, inplace=inplace)[0]


def _rows_view(x: Tensor) -> Tensor:
    """`(N, C, T, H, W)` -> `(N, T, S, C)` with `S = H·W`: a view in both layouts, in memory
    order in channels_last_3d."""
    return x.permute(0, 2, 3, 4, 1).flatten(2, 3)


def _chain_forward(
    x: Tensor, units: int, modules: Modules, *, inplace: bool, keep: dict[str, Any] | None = None
) -> tuple[Tensor, Tensor]:
    """The chain on rows `x`; returns `(out, z)`. `keep` (training) receives the small maps'
    graphs and the statistics `_Chain.backward` needs; the full-size tensors carry no graph."""
    ta, ca, sta = modules
    n, c, t, h, w = x.shape
    v = _rows_view(x)  # (N, T, S, C)
    sums, peaks = _sum(v, 2), v.amax(2)  # (N, T, C): Σ and max over (H, W) of F
    alpha, beta = _stage1(sums, peaks, units, ta, ca, (h, w), keep)  # (N, T, 1), (N, C)
    # STA (eqns 10-12) on F·α·β = Z·α
    z = v.mul_(beta[:, None, None]) if inplace else v * beta[:, None, None]  # (N, T, S, C)
    z_mean, z_max = _sum(z, 3) / c, z.amax(3)  # (N, T, S)
    gain = _stage2(z_mean, z_max, alpha, sta, (h, w), keep)  # (N, T, S): α·(1 + M_ST)
    out = z.mul_(gain[..., None]) if inplace else z * gain[..., None]  # (N, T, S, C)
    return out.view(n, t, h, w, c).permute(0, 4, 1, 2, 3), z  # (N, C, T, H, W)


def _sum(v: Tensor, dim: int) -> Tensor:
    """`v.sum(dim)` of `(N, T, S, C)` over S (2) or C (3). On a CPU in bf16/fp16 as a product
    with ones (float32 accumulation in oneDNN): torch's CPU sum of a reduced-precision tensor
    first copies all of it to float32, which cost more than the chain's other passes."""
    if v.dtype not in (torch.bfloat16, torch.float16) or v.device.type != "cpu":
        return v.sum(dim)
    ones = v.new_ones(v.shape[dim], 1)
    return (v @ ones).squeeze(3) if dim == 3 else (ones.mT @ v).squeeze(2)


def _leaf(x: Tensor, keep: dict[str, Any] | None, name: str) -> Tensor:
    """`x` itself, or (training) a detached copy that records the small graph built on it."""
    if keep is None:
        return x
    keep[name] = x.detach().requires_grad_()
    return keep[name]


def _stage1(
    sums: Tensor,
    peaks: Tensor,
    units: int,
    ta: TemporalAttention,
    ca: ChannelAttention,
    hw: tuple[int, int],
    keep: dict[str, Any] | None,
) -> tuple[Tensor, Tensor]:
    """TA's and CA's factors `α (N, T, 1)` and `β (N, C)` from the `(N, T, C)` sums and maxima
    of `F` over (H, W)."""
    with torch.enable_grad() if keep is not None else torch.no_grad():
        sums, peaks = _leaf(sums, keep, "sums"), _leaf(peaks, keep, "peaks")
        n, t, c = sums.shape
        space = hw[0] * hw[1]
        # TA (eqns 4-6): pools over (C, H, W) of F, map over the U·T sequence of each video
        pooled_t = sums.sum(2) / (c * space) + peaks.amax(2)  # (N, T)
        alpha = 1.0 + ta.map(pooled_t.view(n // units, units, t)).view(n, t, 1)  # > 1
        # CA (eqns 7-9) on F·α: α > 0 commutes with max, so its pools come from sums/maxima
        avg_c = (sums * alpha).sum(1) / (t * space)  # (N, C)
        max_c = (peaks * alpha).amax(1)  # (N, C)
        beta = 1.0 + ca.map(avg_c, max_c)  # (N, C), > 1
    if keep is not None:
        keep["alpha"], keep["beta"] = alpha, beta
        alpha, beta = alpha.detach(), beta.detach()
    return alpha, beta


def _stage2(
    z_mean: Tensor,
    z_max: Tensor,
    alpha: Tensor,
    sta: SpatioTemporalAttention,
    hw: tuple[int, int],
    keep: dict[str, Any] | None,
) -> Tensor:
    """STA's gain `α·(1 + M_ST) (N, T, S)` from `Z`'s channel mean and max `(N, T, S)`."""
    with torch.enable_grad() if keep is not None else torch.no_grad():
        z_mean, z_max = _leaf(z_mean, keep, "z_mean"), _leaf(z_max, keep, "z_max")
        alpha = _leaf(alpha, keep, "alpha_leaf")
        n, t, s = z_mean.shape
        pooled = torch.stack([z_mean, z_max], dim=1) * alpha[:, None]  # (N, 2, T, S), eqn 10
        map_st = sta.map(pooled.view(n, 2, t, *hw))  # (N, 1, T, H, W), eqn 11
        gain = (1.0 + map_st.view(n, t, s)) * alpha  # (N, T, S)
    if keep is not None:
        keep["gain"] = gain
        gain = gain.detach()
    return gain


class _Chain(torch.autograd.Function):
    """Training: the forward of `_chain_forward` and a backward that walks the full-size
    tensors a few times (products, sums, and the max pools' tie masks), with the small maps'
    own backward (convolutions, MLP, sigmoid) left to autograd on their recorded graphs."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, units: int, modules: Modules, *params: Tensor) -> Tensor:
        keep: dict[str, Any] = {}
        out, z = _chain_forward(x, units, modules, inplace=False, keep=keep)
        split = sum(1 for m in modules[:2] for _ in m.parameters())  # TA's and CA's: stage 1
        ctx.keep, ctx.params, ctx.split = keep, params, split
        ctx.save_for_backward(x, z)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, z = ctx.saved_tensors
        keep, params = ctx.keep, ctx.params
        v, g = _rows_view(x), _rows_view(grad)  # (N, T, S, C)
        stage1 = [p for p in params[: ctx.split] if p.requires_grad]  # TA's and CA's
        stage2 = [p for p in params[ctx.split :] if p.requires_grad]  # STA's
        # out = Z·gain: STA's stage first
        d_gain = (g * z).sum(3)  # (N, T, S)
        d_mean, d_max, d_alpha, *d_sta = _grads(
            keep["gain"], d_gain, [keep["z_mean"], keep["z_max"], keep["alpha_leaf"]], stage2
        )
        d_z = (g * keep["gain"].detach()[..., None]).add_((d_mean / z.shape[3])[..., None])
        _add_max_grad(d_z, z, keep["z_max"].detach(), d_max, dim=3)
        # Z = F·β, then TA and CA (stage 1) from F's sums and maxima over (H, W)
        beta = keep["beta"].detach()
        d_beta = (d_z * v).sum((1, 2))  # (N, C)
        d_sums, d_peaks, *d_tca = _grads(
            (keep["alpha"], keep["beta"]), (d_alpha, d_beta), [keep["sums"], keep["peaks"]], stage1
        )
        d_v = d_z.mul_(beta[:, None, None]).add_(d_sums[:, :, None])  # (N, T, S, C)
        _add_max_grad(d_v, v, keep["peaks"].detach(), d_peaks, dim=2)
        n, c, t, h, w = x.shape
        d_x = d_v.view(n, t, h, w, c).permute(0, 4, 1, 2, 3)  # (N, C, T, H, W)
        by_param = {id(p): d for p, d in zip([*stage1, *stage2], [*d_tca, *d_sta])}
        return (d_x, None, None, *(by_param.get(id(p)) for p in params))


def _grads(
    outputs: Tensor | tuple[Tensor, ...],
    grads: Tensor | tuple[Tensor, ...],
    leaves: list[Tensor],
    params: list[Tensor],
) -> list[Tensor]:
    """Gradients of the small graph's `outputs` (given `grads`) w.r.t. `leaves` (zeros where a
    leaf does not reach the outputs) then `params` (None where a parameter does not)."""
    inputs = [*leaves, *params]
    # retain_graph: the outer graph may be walked again (`retain_graph=True`, gradcheck)
    found = torch.autograd.grad(outputs, inputs, grads, retain_graph=True, allow_unused=True)
    found_leaves = [torch.zeros_like(i) if d is None else d for i, d in zip(leaves, found)]
    return [*found_leaves, *found[len(leaves) :]]


def _add_max_grad(out: Tensor, x: Tensor, peak: Tensor, grad: Tensor, dim: int) -> None:
    """`out += ∂ amax(x, dim) / ∂x · grad`: the gradient split evenly between tied maxima,
    as `torch.amax`'s backward does."""
    mask = torch.eq(x, peak.unsqueeze(dim), out=torch.empty_like(x))  # 1.0 / 0.0, as floats
    share = grad / mask.sum(dim)
    out.addcmul_(mask, share.unsqueeze(dim))

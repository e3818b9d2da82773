"""The 4D residual block of eqn 3 (V4D with `op="full"`, F4D with `op="factorized"`).

This is the one place in f4d that knows U is merged into the batch: it hands the rows
`(B·U, C, T, H, W)` and `units = U` to the 4D op and TA, which read U from the row order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from f4d.nn.attention import may_write_in_place
from f4d.nn.chain import AttentionChain
from f4d.nn.registry import ATTENTION_LAYERS, FOUR_D_ATTENTION, make_attention
from f4d.ops import Conv4d, Factorized4d
from f4d.ops.conv4d import Int4, to_4tuple
from f4d.ops.fold import batch_norm_affine

__all__ = ["FOUR_D_OPS", "Residual4dBlock"]

FOUR_D_OPS: dict[str, type[nn.Module]] = {"full": Conv4d, "factorized": Factorized4d}


def _check_same_padding(kernel_size: tuple[int, ...], padding: tuple[int, ...]) -> None:
    if any(2 * p != k - 1 for k, p in zip(kernel_size, padding)):
        raise ValueError(
            f"a residual 4D block must keep (U, T, H, W): kernel_size {kernel_size} needs padding "
            f"{tuple((k - 1) // 2 for k in kernel_size)} (odd kernels only), got {padding}"
        )


def _check_attention(names: Sequence[str]) -> tuple[str, ...]:
    names = tuple(names)
    unknown = [n for n in names if n not in ATTENTION_LAYERS]
    if unknown:
        raise ValueError(
            f"unknown attention {unknown}; valid names: {', '.join(sorted(ATTENTION_LAYERS))}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"attention names repeat: {names}")
    return names


class Residual4dBlock(nn.Module):
    """Residual 4D block (eqn 3) on `(B·U, C, T, H, W)` with row `b·U + u`; output same shape.

    Eqn 3's permutes ℘(C,U) and ℘(U,C) are never materialised: the 4D op and TA take the rows
    and `units` (`op(x, units=U)`), and read U from the row order (see `f4d.ops.conv4d_rows`).
    Order (the paper fixes the op, TA in 4D space, CA and STA after permuting back, and
    "followed by BN, ReLU and dropout"; the order of the attention relative to BN is ours):

        x (B·U, C, T, H, W) -> view/permute (B, C, U, T, H, W) -> 4D op -> TA
        -> permute back (B·U, C, T, H, W) -> 3D attention in the order given (CA, STA,
        or SE / CBAM / STM / TEA) -> BN -> ReLU -> dropout -> × scale -> x + that.

    `op`: "factorized" (`Factorized4d`, F4D) or "full" (`Conv4d`, V4D); no bias, BN follows.
    `attention`: any subset of `ATTENTION_LAYERS` names (empty = none); "ta" always runs in 4D
    space right after the op. The modules live in `self.attention` (a ModuleDict by name), so
    `block.attention["sta"].record = True` keeps STA's maps.
    `dropout`: the paper names a dropout layer but no rate; default 0.0 (off).
    `zero_init`: start the per-channel branch scale `scale` (C,) at 0, so a new block is exactly
    the identity, yet trains: the branch itself is live, so `scale` gets a gradient at the
    first step and the rest of the branch from the second (ReZero-style). Zeroing BN's weight
    instead would never train here: BN is followed by a ReLU whose gradient at 0 is 0.
    With `zero_init=False` the scale starts at 1.
    U is read from `units` at every call: the same block runs with any U.
    """

    def __init__(
        self,
        channels: int,
        *,
        op: str = "factorized",
        kernel_size: Int4 = (3, 3, 1, 1),
        padding: Int4 = (1, 1, 0, 0),
        attention: Sequence[str] = ("ta", "ca", "sta"),
        dropout: float = 0.0,
        zero_init: bool = True,
        norm_layer: Callable[[int], nn.Module] | None = nn.BatchNorm3d,
        act_layer: Callable[..., nn.Module] | None = nn.ReLU,
    ) -> None:
        super().__init__()
        if op not in FOUR_D_OPS:
            raise ValueError(f"unknown 4D op {op!r}; valid: {', '.join(sorted(FOUR_D_OPS))}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        kernel4, padding4 = to_4tuple(kernel_size, "kernel_size"), to_4tuple(padding, "padding")
        _check_same_padding(kernel4, padding4)
        names = _check_attention(attention)
        self.channels, self.op_name = channels, op
        self.op = FOUR_D_OPS[op](channels, channels, kernel4, padding=padding4, bias=False)
        self.attention = nn.ModuleDict({n: make_attention(n, channels) for n in names})
        for module in self.attention.values():  # the block owns the tensors they scale
            if hasattr(module, "inplace"):
                module.inplace = True
        self._names_4d = tuple(n for n in names if n in FOUR_D_ATTENTION)
        self._names_3d = tuple(n for n in names if n not in FOUR_D_ATTENTION)
        # the paper's chain TA -> CA -> STA runs as one pass of pooled statistics (None: the
        # modules run one by one)
        self.attention_chain: AttentionChain | None = None
        if self._names_4d == ("ta",) and self._names_3d == ("ca", "sta"):
            a = self.attention
            self.attention_chain = AttentionChain(a["ta"], a["ca"], a["sta"])
        self.norm = norm_layer(channels) if norm_layer is not None else nn.Identity()
        self.act = act_layer() if act_layer is not None else nn.Identity()
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        # Branch gate (C,): 0 makes the block start as the identity (see `zero_init`).
        self.scale = nn.Parameter(torch.full((channels,), 0.0 if zero_init else 1.0))

    def forward(self, x: Tensor, units: int) -> Tensor:
        """`(B·U, C, T, H, W)` with `units = U` -> `(B·U, C, T, H, W)`."""
        if x.dim() != 5 or units < 1 or x.shape[0] % units:
            raise ValueError(
                f"expected (B·U, C, T, H, W) with a batch divisible by units={units}, "
                f"got shape {tuple(x.shape)}"
            )
        y = self.op(x, units=units)  # (B·U, C, T, H, W): the 4D op on rows, ℘(C,U) implicit
        if self.attention_chain is not None:  # TA, CA, STA in that order, see f4d.nn.chain
            return self._tail(x, self.attention_chain(y, units))
        for name in self._names_4d:
            y = self.attention[name](y, units=units)  # TA across the units of each video
        for name in self._names_3d:
            y = self.attention[name](y)
        return self._tail(x, y)

    def _tail(self, x: Tensor, y: Tensor) -> Tensor:
        """`x + scale · dropout(act(BN(y)))` for the block input `x` and branch `y`."""
        scale = self.scale.view(1, -1, 1, 1, 1)
        affine = batch_norm_affine(self.norm) if may_write_in_place() else None
        if affine is None:
            y = self.drop(self.act(self.norm(y)))
            return torch.addcmul(x, y, scale)  # x + scale·y
        # inference: y is this block's own tensor, so BN (a fixed affine map in eval), the
        # activation and the residual are written into it instead of three new tensors
        norm_scale, norm_shift = (t.to(y.dtype) for t in affine)  # bf16 y: no mixed-type op
        y = torch.addcmul(
            norm_shift.view(1, -1, 1, 1, 1), y, norm_scale.view(1, -1, 1, 1, 1), out=y
        )
        # ReLU in place too: y is ours (a new tensor cost 7.6 of a bf16 F4D block's 113 ms)
        y = self.drop(y.relu_() if type(self.act) is nn.ReLU else self.act(y))
        return torch.addcmul(x, y, scale, out=y)

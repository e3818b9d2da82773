"""Folding an eval-mode BatchNorm into the convolution before it (inference only).

`norm(conv(x, W, b))` with running statistics is the affine map `s·conv(x, W, b) + (β − μ·s)`,
`s = γ / sqrt(σ² + ε)` per output channel, i.e. one convolution with weight `W·s` and bias
`b·s + β − μ·s`. Folding saves the BatchNorm's pass over the activations; the results equal the
unfolded ones to float rounding (tests check it in float64).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["batch_norm_affine", "fold_batch_norm"]


def batch_norm_affine(norm: nn.Module) -> tuple[Tensor, Tensor] | None:
    """Per-channel `(s, t)` with `norm(y) = s·y + t`, or None unless `norm` is a BatchNorm in
    eval mode with running statistics (the only case in which it is a fixed affine map)."""
    if not isinstance(norm, nn.modules.batchnorm._BatchNorm):
        return None
    if norm.training or norm.running_mean is None or norm.running_var is None:
        return None
    scale = torch.rsqrt(norm.running_var + norm.eps)  # (C,)
    if norm.weight is not None:
        scale = scale * norm.weight
    shift = -norm.running_mean * scale
    if norm.bias is not None:
        shift = shift + norm.bias
    return scale, shift


def fold_batch_norm(
    weight: Tensor, bias: Tensor | None, norm: nn.Module
) -> tuple[Tensor, Tensor] | None:
    """Weight and bias of `norm(conv(x, weight, bias))` as one convolution, or None.

    `weight` is `(O, C, ...)` (any number of kernel axes; its memory layout is kept) and `norm`
    normalises the `O` channels. Returns None, meaning "run the two layers", unless `norm` is a
    BatchNorm in eval mode with running statistics (what inference uses). Differentiable, so
    gradients in eval mode still reach the convolution and BN's affine parameters.
    """
    affine = batch_norm_affine(norm)
    if affine is None:
        return None
    scale, shift = affine
    if bias is not None:
        shift = shift + bias * scale
    return weight * scale.view(-1, *([1] * (weight.dim() - 1))), shift

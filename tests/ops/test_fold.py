"""Folding an eval-mode BatchNorm into the preceding convolution (f4d.ops.fold)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from f4d.ops import Factorized4d
from f4d.ops.fold import fold_batch_norm


def _bn(channels: int) -> nn.BatchNorm3d:
    norm = nn.BatchNorm3d(channels).double().eval()
    with torch.no_grad():
        norm.running_mean.uniform_(-1.0, 1.0)
        norm.running_var.uniform_(0.3, 2.0)
        norm.weight.uniform_(-1.5, 1.5)
        norm.bias.uniform_(-0.5, 0.5)
    return norm


@pytest.mark.parametrize("conv_bias", [False, True])
def test_folded_conv_equals_conv_then_bn_in_float64(conv_bias: bool) -> None:
    torch.manual_seed(0)
    conv = nn.Conv3d(3, 5, (3, 1, 3), padding=(1, 0, 1), bias=conv_bias).double()
    norm = _bn(5)
    x = torch.randn(2, 3, 4, 5, 6, dtype=torch.float64)
    weight, bias = fold_batch_norm(conv.weight, conv.bias, norm)
    expected = norm(conv(x))
    torch.testing.assert_close(F.conv3d(x, weight, bias, padding=(1, 0, 1)), expected,
                               rtol=1e-12, atol=1e-12)  # fmt: skip


def test_training_or_batch_statistics_are_not_folded() -> None:
    conv = nn.Conv3d(2, 4, 1)
    assert fold_batch_norm(conv.weight, None, nn.BatchNorm3d(4).train()) is None
    assert (
        fold_batch_norm(conv.weight, None, nn.BatchNorm3d(4, track_running_stats=False).eval())
        is None
    )
    assert fold_batch_norm(conv.weight, None, nn.Identity()) is None


def test_folding_keeps_the_layout_and_gradients() -> None:
    conv = nn.Conv3d(4, 6, (3, 1, 1)).double().to(memory_format=torch.channels_last_3d)
    norm = _bn(6)
    weight, _ = fold_batch_norm(conv.weight, conv.bias, norm)
    assert weight.is_contiguous(memory_format=torch.channels_last_3d)
    x = torch.randn(2, 4, 3, 2, 2, dtype=torch.float64)
    F.conv3d(x, weight, _).sum().backward()
    folded_grads = [conv.weight.grad.clone(), norm.weight.grad.clone()]
    conv.zero_grad(), norm.zero_grad()
    norm(conv(x)).sum().backward()
    torch.testing.assert_close(folded_grads, [conv.weight.grad, norm.weight.grad])


def test_factorized_eval_folds_its_norm_and_matches_train_path() -> None:
    """In eval the spatial conv carries BN; the output equals the unfolded evaluation."""
    torch.manual_seed(1)
    layer = Factorized4d(3, 4, (3, 3, 1, 1), padding=(1, 1, 0, 0), mid_channels=5).double()
    layer.norm = _bn(5)
    layer.eval()
    x = torch.randn(2 * 3, 3, 4, 2, 2, dtype=torch.float64)  # rows (B·U, C, T, H, W)
    calls = []
    layer.norm.register_forward_hook(lambda *_: calls.append(1))
    folded = layer(x, units=3)
    assert calls == []  # BN never ran as its own pass
    unfolded = layer.temporal(layer.act(layer.norm(layer.spatial(x, units=3))), units=3)
    torch.testing.assert_close(folded, unfolded, rtol=1e-12, atol=1e-12)

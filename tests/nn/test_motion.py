"""STM and TEA blocks: shapes, gradients, parameter counts, and that they see motion."""

from __future__ import annotations

import pytest
import torch

from f4d.nn import STMBlock, TEABlock


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def stm_param_count(c: int, bottleneck: int = 4, reduction: int = 16) -> int:
    w = max(1, c // bottleneck)
    m = max(1, w // reduction)
    reduce = c * w + 2 * w  # 1×1 conv + BN
    cstm = w * 3 + w * w * 9  # depthwise temporal conv + 3×3 conv
    cmm = w * m + m * m * 9 + m * w  # 1×1 down, 3×3 K, 1×1 up
    return reduce + cstm + cmm + 2 * w + w * c + 2 * c  # fuse BN, expand 1×1 + BN


def tea_param_count(c: int, reduction: int = 16, fragments: int = 4) -> int:
    r = max(1, c // reduction)
    p = c // fragments
    me = c * r + 2 * r + r * 9 + r * c  # 1×1 + BN, depthwise 3×3 K, 1×1 expand
    mta = (fragments - 1) * (p * 3 + p * p * 9)  # depthwise temporal + 3×3 per fragment
    return me + mta + 2 * c  # final BN


@pytest.mark.parametrize("channels", [64, 256, 512])
def test_stm_parameter_count(channels):
    assert _count(STMBlock(channels)) == stm_param_count(channels)


@pytest.mark.parametrize("channels", [64, 256, 512])
def test_tea_parameter_count(channels):
    assert _count(TEABlock(channels)) == tea_param_count(channels)


@pytest.mark.parametrize("block_cls", [STMBlock, TEABlock])
@pytest.mark.parametrize("frames", [2, 5])
def test_shape_and_every_parameter_learns(block_cls, frames):
    block = block_cls(32)
    x = torch.randn(4, 32, frames, 4, 4)
    out = block(x)
    assert out.shape == x.shape
    out.square().sum().backward()
    for name, param in block.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


@pytest.mark.parametrize("block_cls", [STMBlock, TEABlock])
def test_motion_branch_sees_the_next_frame(block_cls):
    """Frame t's output depends on frame t+1 (feature differences / temporal convs)."""
    block = block_cls(16).eval()
    x = torch.randn(2, 16, 4, 4, 4)
    moved = x.clone()
    moved[:, :, 2] += 1.0
    delta = (block(moved) - block(x)).abs().sum(dim=(0, 1, 3, 4))  # per frame
    assert delta[1] > 0 and delta[3] > 0  # neighbours of the changed frame respond
    assert delta[2] > 0


@pytest.mark.parametrize("block_cls", [STMBlock, TEABlock])
def test_single_frame_units_work_and_motion_is_zero(block_cls):
    """With T = 1 there is no frame t+1: the difference is zero and ME is the identity."""
    block = block_cls(16)
    x = torch.randn(3, 16, 1, 4, 4)
    assert block(x).shape == x.shape
    if block_cls is TEABlock:
        torch.testing.assert_close(block.me(x), x)


def test_tea_needs_channels_divisible_by_fragments():
    with pytest.raises(ValueError, match=r"channels \(30\).*fragments \(4"):
        TEABlock(30)


def test_blocks_are_frame_local_without_temporal_mixing_across_batch_rows():
    block = STMBlock(16).eval()
    x = torch.randn(3, 16, 3, 4, 4)
    moved = x.clone()
    moved[0] += 1.0
    delta = (block(moved) - block(x)).abs().sum(dim=(1, 2, 3, 4))
    assert delta[0] > 0 and delta[1:].abs().sum() == 0

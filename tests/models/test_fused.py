"""models.fused: oneDNN-fused convolutions and residual blocks against plain PyTorch."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from f4d.models import create_model, for_inference
from f4d.models.fused import (
    FusedConv3d,
    FusedFactorized4d,
    FusedResidual4d,
    FusedResidualBlock,
    can_fuse,
    fuse_blocks,
)
from f4d.models.inference import fold_batch_norms
from f4d.nn import Residual4dBlock
from f4d.ops.factorized import Factorized4d

pytestmark = pytest.mark.skipif(not can_fuse(torch.device("cpu")), reason="torch without mkldnn")


@pytest.mark.parametrize("shape", [(2, 6, 3, 9, 9), (1, 6, 5, 16, 12), (3, 6, 1, 4, 4)])
def test_fused_conv_matches_conv3d_for_any_input_size(shape: tuple[int, ...]) -> None:
    """The weight is reordered once, without the input size; every size must still work."""
    conv = nn.Conv3d(6, 10, (3, 3, 3), stride=(1, 2, 2), padding=(1, 1, 1))
    ref = copy.deepcopy(conv).double()
    x = torch.randn(shape, dtype=torch.float64)
    with torch.no_grad():
        conv_x = ref(x)
        other = torch.randn(conv_x.shape)
        relu_fused, plain_fused = FusedConv3d(conv, relu=True), FusedConv3d(conv, relu=False)
        got = relu_fused(x.float()), relu_fused(x.float(), other), plain_fused(x.float())
    expected = F.relu(conv_x), F.relu(conv_x + other.double()), conv_x
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g.double(), e, rtol=1e-4, atol=1e-5)
    assert got[2].min() < 0  # no ReLU when not asked


def test_fuse_blocks_swaps_every_residual_block_and_the_stem() -> None:
    model = create_model("f4d_tiny", 5).eval()
    fold_batch_norms(model)
    assert fuse_blocks(model) == 6  # tiny ResNet-10: 4 residual blocks, the stem, the 4D op
    blocks = [m for m in model.modules() if isinstance(m, FusedResidualBlock)]
    assert len(blocks) == 4 and sum(b.downsample is not None for b in blocks) == 3
    assert isinstance(model.conv1, FusedConv3d) and isinstance(model.act1, nn.Identity)


def test_blocks_that_do_not_fit_are_left_alone() -> None:
    gelu = create_model("tsn_tiny", 5, act="gelu").eval()
    fold_batch_norms(gelu)
    assert fuse_blocks(gelu) == 0  # only ReLU is fused
    training = create_model("tsn_tiny", 5)  # BatchNorms not folded (training mode)
    assert fuse_blocks(training) == 0


def test_for_inference_fuses_on_cpu_only_through_the_capability() -> None:
    prepared = for_inference(create_model("tsn_tiny", 5), "cpu", "fp32")
    assert any(isinstance(m, FusedResidualBlock) for m in prepared.modules())
    assert can_fuse(torch.device("cuda")) is False  # CUDA keeps cuDNN's own kernels


def _randomised(name: str) -> nn.Module:
    """``name`` in eval mode with BatchNorm statistics, affine and the 4D blocks' branch scale
    (zero at init, which would hide the branch) drawn at random, some scales negative."""
    torch.manual_seed(0)
    model = create_model(name, 5).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
            if isinstance(m, Residual4dBlock):
                m.scale.uniform_(-1.0, 1.0)
    return model


@pytest.mark.parametrize("videos", [1, 2])
@pytest.mark.parametrize(("name", "fused", "other"), [
    ("v4d_tiny", FusedResidual4d, FusedFactorized4d),
    ("f4d_tiny", FusedFactorized4d, FusedResidual4d),
])  # fmt: skip
def test_fused_4d_blocks_compute_the_plain_model(videos, name, fused, other) -> None:
    """V4D's block as one convolution over the (B, C, U, T, H·W) view with its ReLU; F4D's
    factorized op with its spatial convolution and ReLU as one over (B, C, U, T·H, W): the same
    logits as the float64 model, unfused."""
    model = _randomised(name)
    prepared = for_inference(model, "cpu", "fp32")
    assert sum(isinstance(m, fused) for m in prepared.modules()) == 1  # one 4D block each
    assert not any(isinstance(m, other) for m in prepared.modules())
    x = torch.randn(videos, 4, 3, 4, 32, 32)  # (B, U, C, T, H, W)
    expected = copy.deepcopy(model).double()(x.double())
    torch.testing.assert_close(prepared(x).double(), expected, rtol=1e-4, atol=1e-4)


def _same_in_both_layouts(fused: nn.Module, rows: torch.Tensor, units: int, want: torch.Tensor):
    """``fused(rows, units)`` equals ``want`` for contiguous and for channels_last_3d rows."""
    for layout in (torch.contiguous_format, torch.channels_last_3d):
        got = fused(rows.to(memory_format=layout), units).double()
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_fused_factorized_op_runs_plain_outside_the_rows() -> None:
    model = _randomised("f4d_tiny")
    op = next(m for m in model.modules() if isinstance(m, Factorized4d))
    reference = copy.deepcopy(op).double()
    fold_batch_norms(model)
    fused = FusedFactorized4d(op)
    cube = torch.randn(2, op.in_channels, 4, 2, 4, 4)  # (B, C, U, T, H, W): not rows
    torch.testing.assert_close(fused(cube).double(), reference(cube.double()), rtol=1e-4,
                               atol=1e-5)  # fmt: skip
    rows = cube.transpose(1, 2).reshape(8, op.in_channels, 2, 4, 4)  # contiguous rows
    _same_in_both_layouts(fused, rows, 4, reference(rows.double(), units=4))


def test_fused_4d_block_falls_back_on_a_contiguous_input() -> None:
    model = _randomised("v4d_tiny")
    block = next(m for m in model.modules() if isinstance(m, Residual4dBlock))
    reference = copy.deepcopy(block).double()
    fold_batch_norms(block)
    fused = FusedResidual4d(block)
    rows = torch.randn(2 * 4, block.channels, 2, 4, 4)  # (B·U, C, T, H, W), contiguous
    _same_in_both_layouts(fused, rows, 4, reference(rows.double(), 4))

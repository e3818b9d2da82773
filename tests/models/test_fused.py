"""models.fused: oneDNN-fused convolutions and residual blocks against plain PyTorch."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from f4d.models import create_model, for_inference
from f4d.models.fused import FusedConv3d, FusedResidualBlock, can_fuse, fuse_blocks
from f4d.models.inference import fold_batch_norms

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
    assert fuse_blocks(model) == 5  # tiny ResNet-10: 4 residual blocks + the stem
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

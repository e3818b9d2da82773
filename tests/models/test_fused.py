"""models.fused: oneDNN-fused convolutions and residual blocks against plain PyTorch."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import f4d.models.fused as fused_module
from f4d.models import create_model, for_inference
from f4d.models.fused import (
    FusedConv3d,
    FusedFactorized4d,
    FusedResidual4d,
    FusedResidualBlock,
    FusedStem,
    PackedWeight,
    can_fuse,
    fuse_blocks,
)
from f4d.models.inference import fold_batch_norms
from f4d.nn import Residual4dBlock
from f4d.ops.factorized import Factorized4d
from f4d.ops.pool import max_pool_3x3s2_nonnegative

pytestmark = pytest.mark.skipif(not can_fuse(torch.device("cpu")), reason="torch without mkldnn")


@pytest.mark.parametrize("shape", [(2, 6, 3, 9, 9), (1, 6, 5, 16, 12), (3, 6, 1, 4, 4)])
def test_fused_conv_matches_conv3d_for_any_input_size(shape: tuple[int, ...]) -> None:
    """The weight is packed per input shape (the last PackedWeight.SHAPES kept); every size
    must work, including one whose packing was dropped."""
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
    assert list(relu_fused.packed.by_shape) == [shape]  # packed once for this shape


def test_packed_weight_keeps_the_last_shapes() -> None:
    conv = nn.Conv3d(4, 6, (1, 3, 3), padding=(0, 1, 1))
    fused = FusedConv3d(conv, relu=False)
    sizes = [5, 6, 7, 8, 9, 5]
    with torch.no_grad():
        for size in sizes:
            x = torch.randn(1, 4, 2, size, size)
            torch.testing.assert_close(fused(x), conv(x), rtol=1e-4, atol=1e-5)
    kept = [key[-1] for key in fused.packed.by_shape]
    assert kept == [7, 8, 9, 5] and PackedWeight.SHAPES == 4  # 5 was dropped, then re-packed


def test_fuse_blocks_swaps_every_residual_block_and_the_stem() -> None:
    model = create_model("f4d_tiny", 5).eval()
    fold_batch_norms(model)
    assert fuse_blocks(model) == 6  # tiny ResNet-10: 4 residual blocks, the stem, the 4D op
    blocks = [m for m in model.modules() if isinstance(m, FusedResidualBlock)]
    assert len(blocks) == 4 and sum(b.downsample is not None for b in blocks) == 3
    assert isinstance(model.conv1, FusedStem) and isinstance(model.act1, nn.Identity)
    assert isinstance(model.maxpool, nn.Identity)


def _stem(kernel: tuple[int, int, int], pool: nn.Module) -> tuple[nn.Module, nn.Module]:
    """A folded stem convolution (3 -> 8 channels, stride 2 in space) and its float64 twin
    with ReLU and ``pool``, the independent reference."""
    torch.manual_seed(0)
    padding = tuple(k // 2 for k in kernel)
    conv = nn.Conv3d(3, 8, kernel, stride=(1, 2, 2), padding=padding)
    reference = nn.Sequential(copy.deepcopy(conv), nn.ReLU(), copy.deepcopy(pool)).double()
    return FusedStem(conv, pool), reference


@pytest.mark.parametrize("kernel", [(1, 7, 7), (3, 7, 7), (1, 3, 3)])
@pytest.mark.parametrize("hw", [(32, 32), (27, 30)])
def test_fused_stem_is_conv_relu_pool(
    kernel: tuple[int, int, int], hw: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A (1, k, k) kernel runs as a 2D convolution over the (N·T, C, H, W) view of
    channels-last input, the pool on the integer view; a temporal kernel runs the 3D
    convolution. Both layouts, odd sizes."""
    pools = []

    def spy(y: torch.Tensor) -> torch.Tensor:
        pools.append(y.shape)
        return max_pool_3x3s2_nonnegative(y)

    monkeypatch.setattr(fused_module, "max_pool_3x3s2_nonnegative", spy)
    pool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
    fused, reference = _stem(kernel, pool)
    assert (fused.frames is not None) == (kernel[0] == 1) and fused.pool_nonnegative
    x = torch.randn(2, 3, 4, *hw, dtype=torch.float64)
    with torch.no_grad():
        want = reference(x)
        for layout in (torch.contiguous_format, torch.channels_last_3d):
            got = fused(x.float().contiguous(memory_format=layout))
            assert got.is_contiguous(memory_format=torch.channels_last_3d)
            torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-5)
    assert len(pools) == 2  # the integer-view pool, both times
    if fused.frames is not None:  # the 2D convolution ran (once: channels-last input only)
        assert [key[0] for key in fused.frames.by_shape] == [2 * 4]


def test_fused_stem_runs_any_other_pool_as_it_is() -> None:
    pool = nn.MaxPool3d((1, 2, 2), stride=(1, 2, 2))
    fused, reference = _stem((1, 7, 7), pool)
    assert not fused.pool_nonnegative
    x = torch.randn(1, 3, 2, 16, 16, dtype=torch.float64)
    with torch.no_grad():
        got = fused(x.float().contiguous(memory_format=torch.channels_last_3d))
        torch.testing.assert_close(got.double(), reference(x), rtol=1e-4, atol=1e-5)


def test_residual_block_adds_into_its_shortcut() -> None:
    """The last convolution writes into the shortcut's memory: the identity shortcut's is the
    block's input (dead after the block in a forward); a contiguous input is left alone."""
    model = create_model("tsn_tiny", 5, zero_init_residual=False).eval()
    block = copy.deepcopy(model.layer1[0])  # 8 -> 8 channels, identity shortcut
    assert block.downsample is None
    fold_batch_norms(block)
    fused = FusedResidualBlock(block)
    x = torch.randn(4, 8, 1, 8, 8)
    with torch.no_grad():
        want = model.layer1[0].double()(x.double(), 1)
        rows = x.contiguous(memory_format=torch.channels_last_3d)
        got = fused(rows, 1)
        assert got.data_ptr() == rows.data_ptr()
        torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-5)
        plain = x.clone()
        torch.testing.assert_close(fused(plain, 1).double(), want, rtol=1e-4, atol=1e-5)
        assert torch.equal(plain, x)


def test_prepared_model_leaves_its_input_alone() -> None:
    for precision in ("fp32", "bf16"):
        prepared = for_inference(create_model("tsn_tiny", 5), "cpu", precision)
        x = torch.randn(2, 2, 3, 4, 32, 32).to(prepared.dtype)
        kept = x.clone()
        first = prepared(x)
        assert torch.equal(x, kept) and torch.equal(prepared(x), first)


def test_blocks_that_do_not_fit_are_left_alone() -> None:
    gelu = create_model("tsn_tiny", 5, act="gelu").eval()
    fold_batch_norms(gelu)
    assert fuse_blocks(gelu) == 0  # only ReLU is fused
    training = create_model("tsn_tiny", 5)  # BatchNorms not folded (training mode)
    assert fuse_blocks(training) == 0
    for kernel in [(3, 3, 3, 1), (3, 3, 3, 3)]:  # spatial (u, 1, h, w) with h > 1
        op = Factorized4d(8, 8, kernel, padding=tuple(k // 2 for k in kernel)).eval()
        holder = nn.Sequential(op)
        fold_batch_norms(holder)
        assert fuse_blocks(holder) == 0 and holder[0] is op


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
    if fused is FusedFactorized4d:  # the temporal (1, 3, 1, 1) convolution fused too
        assert all(m.temporal is not None for m in prepared.modules() if isinstance(m, fused))
    assert not any(isinstance(m, other) for m in prepared.modules())
    x = torch.randn(videos, 4, 3, 4, 32, 32)  # (B, U, C, T, H, W)
    expected = copy.deepcopy(model).double()(x.double())
    torch.testing.assert_close(prepared(x).double(), expected, rtol=1e-4, atol=1e-4)
    if fused is FusedFactorized4d:  # and it ran: its weight was packed for the rows' shape
        assert all(m.temporal.packed.by_shape for m in prepared.modules() if isinstance(m, fused))


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


def test_a_prepared_model_can_be_copied() -> None:
    """PackedWeight holds a lock (servers call one model from several threads) and packed
    weights: a deep copy gets its own lock and starts with no packed shapes."""
    prepared = for_inference(create_model("tsn_tiny", 5), "cpu", "fp32")
    x = torch.randn(1, 2, 3, 4, 32, 32)
    first = prepared(x)
    twin = copy.deepcopy(prepared)
    used, copied = prepared.model.conv1.frames, twin.model.conv1.frames  # the 2D stem's
    assert len(used.by_shape) == 1 and copied.by_shape == {} and copied._lock is not used._lock
    torch.testing.assert_close(twin(x), first, rtol=0, atol=0)

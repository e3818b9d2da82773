"""CPU inference: ResNet blocks whose ReLU and residual add run inside the convolution.

After :func:`f4d.models.inference.fold_batch_norms` a residual block is convolution -> ReLU ->
convolution -> ReLU -> convolution -> ``+ shortcut`` -> ReLU. On a CPU each ReLU and the add
are separate passes over a full activation, and in bf16 they are slower than in fp32 (torch
2.13 on a Xeon with AMX: a bf16 ``relu_`` of 25.7 M values 44 ms, fp32 19 ms), so they cost
as much as the convolutions they follow. oneDNN applies them as post-ops of the convolution
(``torch.ops.mkldnn._convolution_pointwise``, what inductor's CPU fusion emits), with the
weights reordered once into oneDNN's blocked layout. Measured in docs/benchmarks.md
("Issue 23: bf16 on CPU").

:func:`fuse_blocks` swaps, in place, every :class:`~f4d.models.resnet3d.Bottleneck3d` and
:class:`~f4d.models.resnet3d.BasicBlock3d` whose norms are folded and whose activations are
ReLUs for a fused twin computing the same function (tests hold each against the float64
reference), and the stem's convolution + ReLU. Inference only: the fused modules have no
gradients and no state dict worth saving.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from f4d.models.resnet3d import BasicBlock3d, Bottleneck3d, VideoResNet

__all__ = ["FusedConv3d", "FusedResidualBlock", "can_fuse", "fuse_blocks"]


def can_fuse(device: torch.device) -> bool:
    """oneDNN post-op fusion is available: a CPU device and torch built with mkldnn."""
    return device.type == "cpu" and torch.backends.mkldnn.is_available()


class FusedConv3d(nn.Module):
    """A ``Conv3d`` (BatchNorm folded into its bias) with ReLU and/or ``+ other`` as oneDNN
    post-ops; ``(N, C, T, H, W)`` -> ``(N, O, T', H', W')``, channels_last_3d."""

    def __init__(self, conv: nn.Conv3d, *, relu: bool) -> None:
        super().__init__()
        if not isinstance(conv.padding, tuple):
            raise ValueError(f"padding {conv.padding!r}: only explicit paddings can be fused")
        self.padding = list(conv.padding)
        self.stride, self.dilation = list(conv.stride), list(conv.dilation)
        self.groups = conv.groups
        self.relu = relu
        weight = conv.weight.detach().contiguous(memory_format=torch.channels_last_3d)
        # oneDNN's blocked layout, once (valid for any input size, checked by the tests)
        self.weight = torch.ops.mkldnn._reorder_convolution_weight(
            weight, self.padding, self.stride, self.dilation, self.groups
        )
        self.bias = None if conv.bias is None else conv.bias.detach()

    def forward(self, x: Tensor, other: Tensor | None = None) -> Tensor:
        """``relu?(conv(x))``, or ``relu?(conv(x) + other)`` with ``other`` of the output shape."""
        ops = torch.ops.mkldnn
        args = (self.padding, self.stride, self.dilation, self.groups)
        if other is None:
            unary = "relu" if self.relu else "none"
            return ops._convolution_pointwise(x, self.weight, self.bias, *args, unary, [], "")
        unary = "relu" if self.relu else None
        return ops._convolution_pointwise.binary(
            x, other, self.weight, self.bias, *args, "add", None, unary, [], ""
        )


class FusedResidualBlock(nn.Module):
    """A folded ``Bottleneck3d`` / ``BasicBlock3d`` as fused convolutions: the inner ones carry
    their ReLU, the last one the shortcut add and the final ReLU; the same ``forward(x, rows)``."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        convs = [block.conv1, block.conv2] + ([block.conv3] if hasattr(block, "conv3") else [])
        self.shift = block.shift
        self.inner = nn.ModuleList(FusedConv3d(c, relu=True) for c in convs[:-1])
        self.last = FusedConv3d(convs[-1], relu=True)
        self.downsample = None if block.downsample is None else FusedConv3d(
            block.downsample[0], relu=False
        )  # fmt: skip

    def forward(self, x: Tensor, rows: int) -> Tensor:
        """``x`` ``(N, C, T, H, W)``; ``rows`` consecutive batch rows form one sequence."""
        shortcut = x if self.downsample is None else self.downsample(x)
        out = x if self.shift is None else self.shift(x, rows)
        for conv in self.inner:
            out = conv(out)
        return self.last(out, shortcut)


def fuse_blocks(model: nn.Module) -> int:
    """Swap every fusable residual block of ``model`` (norms folded, ReLU activations) for a
    :class:`FusedResidualBlock`, and fuse the stem's convolution with its ReLU; in place.
    Returns how many blocks (stem included) were fused."""
    count = 0
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if _fusable_block(child):
                setattr(module, name, FusedResidualBlock(child))
                count += 1
        if isinstance(module, VideoResNet) and _folded(module.bn1) and _relu(module.act1):
            module.conv1, module.act1 = FusedConv3d(module.conv1, relu=True), nn.Identity()
            count += 1
    return count


def _fusable_block(module: nn.Module) -> bool:
    if isinstance(module, Bottleneck3d):
        norms = (module.bn1, module.bn2, module.bn3)
        acts = (module.act1, module.act2, module.act3)
    elif isinstance(module, BasicBlock3d):
        norms, acts = (module.bn1, module.bn2), (module.act1, module.act2)
    else:
        return False
    down = module.downsample
    down_folded = down is None or (isinstance(down[0], nn.Conv3d) and _folded(down[1]))
    return all(map(_folded, norms)) and all(map(_relu, acts)) and down_folded


def _folded(norm: nn.Module) -> bool:
    return isinstance(norm, nn.Identity)


def _relu(act: nn.Module) -> bool:
    return isinstance(act, nn.ReLU)

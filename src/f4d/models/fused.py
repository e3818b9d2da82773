"""CPU inference: ResNet blocks whose ReLU and residual add run inside the convolution.

After :func:`f4d.models.inference.fold_batch_norms` a residual block is convolution -> ReLU ->
convolution -> ReLU -> convolution -> ``+ shortcut`` -> ReLU. On a CPU each ReLU and the add
are separate passes over a full activation, and in bf16 they are slower than in fp32 (torch
2.13 on a Xeon with AMX: a bf16 ``relu_`` of 25.7 M values 44 ms, fp32 19 ms), so they cost
as much as the convolutions they follow. oneDNN applies them as post-ops of the convolution
(``torch.ops.mkldnn._convolution_pointwise``, what inductor's CPU fusion emits), with the
weights packed into oneDNN's blocked layout once per input shape (:class:`PackedWeight`) and
the residual added into the shortcut's memory. Measured in docs/benchmarks.md ("Issue 23:
bf16 on CPU").

:func:`fuse_blocks` swaps, in place, every :class:`~f4d.models.resnet3d.Bottleneck3d` and
:class:`~f4d.models.resnet3d.BasicBlock3d` whose norms are folded and whose activations are
ReLUs for a fused twin computing the same function (tests hold each against the float64
reference), the stem's convolution + ReLU + max-pool (:class:`FusedStem`), V4D's 4D block
(:class:`FusedResidual4d`) and F4D's factorized op (:class:`FusedFactorized4d`). Inference only:
the fused modules have no gradients and no state dict worth saving.
"""

from __future__ import annotations

import threading

import torch
from torch import Tensor, nn

from f4d.models.resnet3d import BasicBlock3d, Bottleneck3d, VideoResNet
from f4d.nn import Residual4dBlock
from f4d.ops.conv4d import Conv4d, is_channels_last, merges_space, rows_to_units, units_to_rows
from f4d.ops.factorized import Factorized4d
from f4d.ops.pool import max_pool_3x3s2_nonnegative

__all__ = [
    "FusedConv3d",
    "FusedFactorized4d",
    "FusedResidual4d",
    "FusedResidualBlock",
    "FusedStem",
    "PackedWeight",
    "can_fuse",
    "fuse_blocks",
]


def can_fuse(device: torch.device) -> bool:
    """oneDNN post-op fusion is available: a CPU device and torch built with mkldnn."""
    return device.type == "cpu" and torch.backends.mkldnn.is_available()


class PackedWeight:
    """A convolution weight in oneDNN's blocked layout, packed once for each input shape met.

    oneDNN picks the weight layout of a convolution from its input shape; a weight packed
    without one (``torch.ops.mkldnn._reorder_convolution_weight`` with no ``input_size``)
    often meets a kernel that wants another layout, and is then reordered on every call
    (about 8 ms per ``f4d_r50`` forward at 1 × 4 × 8 × 224², 27 reorders). Packed for the
    shape it runs on, nothing is reordered: F4D's 512 -> 768 convolution over the unit cube
    36.7 -> 34.5 ms, a ``layer3`` 1024 -> 256 ``3×1×1`` 7.1 -> 6.5 ms (best of 9). The last
    :attr:`SHAPES` shapes are kept (a server's batches come in a few sizes); any other shape
    still runs, with oneDNN reordering on the fly.
    """

    SHAPES = 4

    def __init__(self, weight: Tensor, padding: list[int], stride: list[int],
                 dilation: list[int], groups: int) -> None:  # fmt: skip
        """``weight`` ``(O, C/groups, t, h, w)`` or ``(O, C/groups, h, w)``, channels-last."""
        self.plain = weight
        self.args = (padding, stride, dilation, groups)
        self.by_shape: dict[tuple[int, ...], Tensor] = {}
        self._lock = threading.Lock()  # a server may run one model from several threads

    def __getstate__(self) -> dict:
        """Copies (``copy.deepcopy`` of a prepared model) start with no packed shapes."""
        state = dict(self.__dict__, by_shape={})
        del state["_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    def __call__(self, shape: torch.Size) -> Tensor:
        """The weight packed for an input of ``shape``."""
        key = tuple(shape)
        packed = self.by_shape.get(key)
        if packed is not None:
            return packed
        packed = torch.ops.mkldnn._reorder_convolution_weight(self.plain, *self.args, list(key))
        with self._lock:
            while len(self.by_shape) >= self.SHAPES:
                del self.by_shape[next(iter(self.by_shape))]  # the oldest
            self.by_shape[key] = packed
        return packed


class FusedConv3d(nn.Module):
    """A ``Conv3d`` (BatchNorm folded into its bias) with ReLU and/or ``+ other`` as oneDNN
    post-ops; ``(N, C, T, H, W)`` -> ``(N, O, T', H', W')``, channels_last_3d. The weight is
    packed for each input shape (:class:`PackedWeight`)."""

    def __init__(
        self,
        conv: nn.Conv3d | None = None,
        *,
        relu: bool,
        weight: Tensor | None = None,
        bias: Tensor | None = None,
        padding: tuple[int, ...] = (0, 0, 0),
        stride: tuple[int, ...] = (1, 1, 1),
        dilation: tuple[int, ...] = (1, 1, 1),
    ) -> None:
        """From ``conv``, or from a bare 5D ``weight`` ``(O, C, t, h, w)`` and its arguments."""
        super().__init__()
        groups = 1
        if conv is not None:
            if not isinstance(conv.padding, tuple):
                raise ValueError(f"padding {conv.padding!r}: only explicit paddings can be fused")
            weight, bias = conv.weight, conv.bias
            padding, stride, dilation, groups = (
                conv.padding, conv.stride, conv.dilation, conv.groups
            )  # fmt: skip
        self.relu = relu
        weight = weight.detach().contiguous(memory_format=torch.channels_last_3d)
        self.packed = PackedWeight(weight, list(padding), list(stride), list(dilation), groups)
        self.bias = None if bias is None else bias.detach()

    def forward(self, x: Tensor, other: Tensor | None = None) -> Tensor:
        """``relu?(conv(x))``, or ``relu?(conv(x) + other)`` with ``other`` of the output shape."""
        ops = torch.ops.mkldnn
        args = self.packed.args  # padding, stride, dilation, groups
        weight = self.packed(x.shape)
        if other is None:
            unary = "relu" if self.relu else "none"
            return ops._convolution_pointwise(x, weight, self.bias, *args, unary, [], "")
        unary = "relu" if self.relu else None
        return ops._convolution_pointwise.binary(
            x, other, weight, self.bias, *args, "add", None, unary, [], ""
        )

    def add_into(self, x: Tensor, other: Tensor) -> Tensor:
        """``relu?(conv(x) + other)`` written into ``other`` (channels_last_3d, the output's shape
        and dtype) and returned. No output is allocated: at ``layer1``'s 56² a fresh 51 MB output
        costs more page faults than the convolution's arithmetic (see docs/benchmarks.md)."""
        unary = "relu" if self.relu else None
        weight, args = self.packed(x.shape), self.packed.args
        return torch.ops.mkldnn._convolution_pointwise_.binary(
            other, x, weight, self.bias, *args, "add", None, unary, [], ""
        )


class FusedStem(nn.Module):
    """A folded stem: ``conv1`` (BatchNorm folded) with its ReLU fused, then the max-pool;
    ``(N, C, T, H, W)`` -> ``(N, O, T', H', W')``, channels_last_3d.

    - A kernel with no temporal extent ``(1, k, k)`` (stride 1 and no padding in T) runs as a 2D
      convolution over the ``(N·T, C, H, W)`` view of a channels_last_3d input (free: the same
      memory): oneDNN's 3D convolution has no fast kernel for 3 input channels, its 2D one has
      (bf16, ``f4d_r50``'s 3 -> 64 1×7×7 at 4 × 8 × 224²: 23.8 ms as 3D, 11.0 ms as 2D).
      Any other kernel or layout runs the 3D convolution.
    - The ResNet pool (3×3, stride 2, padding 1) of the ReLU's non-negative output runs as
      :func:`f4d.ops.pool.max_pool_3x3s2_nonnegative`; any other pool module runs as it is.
    """

    def __init__(self, conv: nn.Conv3d, pool: nn.Module) -> None:
        super().__init__()
        self.conv = FusedConv3d(conv, relu=True)
        self.frames: PackedWeight | None = None  # the 2D convolution's weight and arguments
        kt, stride_t, pad_t, dil_t = (
            conv.kernel_size[0], conv.stride[0], conv.padding[0], conv.dilation[0]
        )  # fmt: skip
        if (kt, stride_t, pad_t, dil_t, conv.groups) == (1, 1, 0, 1, 1):
            weight = conv.weight.detach()[:, :, 0].contiguous(memory_format=torch.channels_last)
            args = (list(conv.padding[1:]), list(conv.stride[1:]), list(conv.dilation[1:]))
            self.frames = PackedWeight(weight, *args, 1)
        self.pool = pool
        self.pool_nonnegative = _resnet_pool(pool)

    def forward(self, x: Tensor) -> Tensor:
        """``relu(conv1(x))`` pooled."""
        y = self._conv(x)
        return max_pool_3x3s2_nonnegative(y) if self.pool_nonnegative else self.pool(y)

    def _conv(self, x: Tensor) -> Tensor:
        if self.frames is None or not is_channels_last(x):
            return self.conv(x)
        n, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(n * t, c, h, w)  # (N·T, C, H, W), a view
        y = torch.ops.mkldnn._convolution_pointwise(
            frames, self.frames(frames.shape), self.conv.bias, *self.frames.args, "relu", [], ""
        )  # (N·T, O, H', W'), channels_last
        return y.view(n, t, *y.shape[1:]).transpose(1, 2)  # (N, O, T, H', W')


def _resnet_pool(pool: nn.Module) -> bool:
    """``pool`` is the ResNet stem's ``MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))``."""
    if not isinstance(pool, nn.MaxPool3d):
        return False
    triple = nn.modules.utils._triple
    return (
        (triple(pool.kernel_size), triple(pool.stride), triple(pool.padding))
        == ((1, 3, 3), (1, 2, 2), (0, 1, 1))
        and triple(pool.dilation) == (1, 1, 1) and not pool.ceil_mode
        and not pool.return_indices
    )  # fmt: skip


class FusedResidualBlock(nn.Module):
    """A folded ``Bottleneck3d`` / ``BasicBlock3d`` as fused convolutions: the inner ones carry
    their ReLU, the last one the shortcut add and the final ReLU; the same ``forward(x, rows)``.

    The last convolution adds into the shortcut's memory and returns it: the downsample's output,
    or, for an identity shortcut, **the block's input ``x``, which is overwritten**. Inside a
    forward the input of a block is dead once the block has run; call a fused block directly
    only with an input you no longer need (or a clone).
    """

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
        if shortcut.dtype == out.dtype and is_channels_last(shortcut):
            return self.last.add_into(out, shortcut)
        return self.last(out, shortcut)


class FusedResidual4d(nn.Module):
    """A folded V4D block (``Conv4d`` with an ``h = w = 1`` kernel, its BatchNorm folded, no
    attention, ReLU) as one oneDNN convolution with the ReLU fused, then ``x + scale · y``.

    The rows ``(B·U, C, T, H, W)`` in channels_last_3d are the ``(B, C, U, T, H·W)`` cube in
    channels_last_3d (a view), so the 4D kernel ``(u, t, 1, 1)`` is one conv3d ``(u, t, 1)``
    over it: no per-unit convolutions, no sums of them, no separate ReLU pass.
    """

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        op = block.op
        self.conv = FusedConv3d(
            relu=True, weight=op.weight.flatten(4, 5), bias=op.bias,
            padding=(*op.padding[:2], 0), stride=(*op.stride[:2], 1),
            dilation=(*op.dilation[:2], 1),
        )  # fmt: skip
        self.scale = block.scale.detach().view(1, -1, 1, 1, 1)
        self.block = block  # the plain path, for inputs not in channels_last_3d

    def forward(self, x: Tensor, units: int) -> Tensor:
        """``(B·U, C, T, H, W)`` with ``units = U`` -> the same shape."""
        if not is_channels_last(x):
            return self.block(x, units)
        h, w = x.shape[3:]
        cube = rows_to_units(x, units).flatten(4, 5)  # (B, C, U, T, H·W), a view
        y = units_to_rows(self.conv(cube).unflatten(4, (h, w)))  # relu(op(x)), rows
        return torch.addcmul(x, y, self.scale.to(y.dtype), out=y)  # y is ours


class FusedFactorized4d(nn.Module):
    """A folded ``Factorized4d`` with the paper's ``(u, 1, 1, 1)`` spatial kernel: its spatial
    convolution (BatchNorm folded into it) and ReLU as one oneDNN convolution over the
    ``(B, C, U, T·H, W)`` cube (a view of channels_last_3d rows), then the temporal one: with
    a ``(1, t, h, w)`` kernel (the paper's) a fused convolution over the rows, each weight
    packed for its input's shape (:class:`PackedWeight`; the temporal 768 -> 512 ``3×1×1`` of
    ``f4d_r50`` at 4 × 8 × 28²: 32.8 ms through ``conv3d``, 29.9-31.2 fused, best of 9)."""

    def __init__(self, op: nn.Module) -> None:
        super().__init__()
        spatial, temporal = op.spatial, op.temporal
        self.conv = FusedConv3d(
            relu=True, weight=spatial.weight.flatten(3, 4), bias=spatial.bias,
            padding=(spatial.padding[0], 0, spatial.padding[3]),
            stride=(spatial.stride[0], 1, spatial.stride[3]),
            dilation=(spatial.dilation[0], 1, spatial.dilation[3]),
        )  # fmt: skip
        self.temporal = None  # the temporal convolution over the rows, when it mixes no units
        if (temporal.kernel_size[0], temporal.stride[0], temporal.padding[0]) == (1, 1, 0):
            self.temporal = FusedConv3d(
                relu=False, weight=temporal.weight[:, :, 0], bias=temporal.bias,
                padding=temporal.padding[1:], stride=temporal.stride[1:],
                dilation=temporal.dilation[1:],
            )  # fmt: skip
        self.op = op  # the plain path

    def forward(self, x: Tensor, units: int | None = None) -> Tensor:
        """Rows ``(B·U, C, T, H, W)`` with ``units = U`` -> ``(B·U', O, T', H', W')``; any other
        call runs the plain ``Factorized4d``."""
        if units is None or not is_channels_last(x):
            return self.op(x, units)
        t, h = x.shape[2:4]
        cube = rows_to_units(x, units).flatten(3, 4)  # (B, C, U, T·H, W), a view
        y = units_to_rows(self.conv(cube).unflatten(3, (t, h)))  # relu(BN(spatial(x))), rows
        if self.temporal is not None and is_channels_last(y):
            return self.temporal(y)
        return self.op.temporal(y, units=y.shape[0] // (x.shape[0] // units))


def fuse_blocks(model: nn.Module) -> int:
    """Swap every fusable residual block of ``model`` (norms folded, ReLU activations) for a
    :class:`FusedResidualBlock`, and the stem (convolution, ReLU, max-pool) for a
    :class:`FusedStem`; in place.
    Returns how many blocks (stem included) were fused."""
    count = 0
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if _fusable_block(child):
                setattr(module, name, FusedResidualBlock(child))
                count += 1
            elif _fusable_4d_block(child):
                setattr(module, name, FusedResidual4d(child))
                count += 1
            elif _fusable_factorized(child):
                setattr(module, name, FusedFactorized4d(child))
                count += 1
        if isinstance(module, VideoResNet) and _folded(module.bn1) and _relu(module.act1):
            module.conv1 = FusedStem(module.conv1, module.maxpool)
            module.act1, module.maxpool = nn.Identity(), nn.Identity()
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


def _fusable_4d_block(module: nn.Module) -> bool:
    """A V4D block: ``Conv4d`` (norm folded into it) with an ``h = w = 1`` kernel mixing units,
    no stride or padding in H, W, no attention, ReLU."""
    if not isinstance(module, Residual4dBlock) or not isinstance(module.op, Conv4d):
        return False
    op = module.op
    # dropout is the identity in inference
    plain = not module.attention and module.attention_chain is None
    plain = plain and _folded(module.norm) and _relu(module.act)
    return plain and op.stride == (1, 1, 1, 1) and merges_space(op.weight, op.stride, op.padding)


def _fusable_factorized(module: nn.Module) -> bool:
    """A ``Factorized4d`` whose BatchNorm is folded, ReLU, a ``(u, 1, 1, 1)`` spatial kernel
    with no stride or padding in T and H."""
    if not isinstance(module, Factorized4d) or not _folded(module.norm):
        return False
    spatial = module.spatial
    return (
        spatial.kernel_size[1:3] == (1, 1) and spatial.padding[1:3] == (0, 0)
        and spatial.stride[1:3] == (1, 1) and isinstance(module.act, nn.ReLU)
    )  # fmt: skip


def _folded(norm: nn.Module) -> bool:
    return isinstance(norm, nn.Identity)


def _relu(act: nn.Module) -> bool:
    return isinstance(act, nn.ReLU)

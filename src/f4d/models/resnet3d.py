"""3D ResNets (18/34/50/101 and tiny) with optional 4D residual blocks and a video-level head.

One class, :class:`VideoResNet`, builds every model family of the zoo: the temporal kernel
pattern, the stem, frame folding (2D models), temporal shift (TSM) and the placement of 4D
blocks are all constructor arguments, so the architecture is data (the tables below).
Parameter names follow torchvision's 2D ResNet (``conv1``, ``bn1``, ``layer1.0.conv1``, ...,
``fc``) so 2D checkpoints map key for key; 4D blocks live apart in ``blocks4d``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any, NamedTuple

import torch
from torch import nn

from f4d.models.temporal_shift import TemporalShift
from f4d.nn import Residual4dBlock
from f4d.ops.fold import fold_batch_norm

NORM_LAYERS: dict[str, type[nn.Module]] = {
    "batchnorm": nn.BatchNorm3d,
    "syncbatchnorm": nn.SyncBatchNorm,
}
# ReLU and SiLU run in place: they always follow a BatchNorm, whose backward needs only its input
ACT_LAYERS: dict[str, Callable[[], nn.Module]] = {
    "relu": partial(nn.ReLU, inplace=True),
    "gelu": nn.GELU,
    "silu": partial(nn.SiLU, inplace=True),
}

# depth -> (block kind, residual blocks per stage conv2..conv5)
DEPTHS: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    10: ("basic", (1, 1, 1, 1)),
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
}

STAGES = ("conv2", "conv3", "conv4", "conv5")
PLACES = ("conv1", *STAGES)  # where 4D blocks may go; conv1 = after the stem


class TemporalPattern(NamedTuple):
    """Temporal kernel sizes: the stem's, and per stage conv2..conv5 a cycle of flags saying
    which residual blocks get a temporal kernel of 3 in their first convolution."""

    stem: int
    stages: tuple[tuple[int, ...], ...]


TEMPORAL_PATTERNS: dict[str, TemporalPattern] = {
    # 2D network as a 3D one: no temporal kernel anywhere
    "c2d": TemporalPattern(1, ((0,), (0,), (0,), (0,))),
    # I3D-style inflation: 5-frame stem, every other block inflated (all of conv2)
    "inflate": TemporalPattern(5, ((1,), (1, 0), (1, 0), (0, 1))),
    # slow-only: temporal kernels only in conv4 (res4) and conv5 (res5)
    "slow": TemporalPattern(1, ((0,), (0,), (1,), (1,))),
    # V4D (research-v4d model/i3res.py): 1x7x7 stem, res2-res3 per frame, the first 1x1 of
    # every res4/res5 bottleneck inflated to 3x1x1; the same kernels as "slow"
    "v4d": TemporalPattern(1, ((0,), (0,), (1,), (1,))),
}

STEMS = ("imagenet", "small")
SHIFT_SCOPES = ("video", "unit")

BLOCK4D_DEFAULTS: dict[str, Any] = {
    "op": "factorized",
    "kernel_size": [3, 3, 1, 1],
    "padding": [1, 1, 0, 0],
    "attention": ["ta", "ca", "sta"],
    "dropout": 0.0,
    "zero_init": True,
}


def _choose(table: Mapping[Any, Any], key: Any, what: str) -> Any:
    if key not in table:
        raise ValueError(f"unknown {what} {key!r}; valid: {sorted(table, key=str)}")
    return table[key]


def _conv(
    in_channels: int, out_channels: int, kernel: tuple[int, int, int], stride: int = 1
) -> nn.Conv3d:
    """A bias-free ``Conv3d`` with spatial ``stride`` only and 'same' padding."""
    padding = tuple(k // 2 for k in kernel)
    return nn.Conv3d(
        in_channels, out_channels, kernel, stride=(1, stride, stride), padding=padding, bias=False
    )


def _downsample(
    in_channels: int, out_channels: int, stride: int, norm_layer: type[nn.Module]
) -> nn.Sequential | None:
    if stride == 1 and in_channels == out_channels:
        return None
    conv = _conv(in_channels, out_channels, (1, 1, 1), stride)
    return nn.Sequential(conv, norm_layer(out_channels))


def conv_norm(conv: nn.Conv3d, norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``norm(conv(x))``; in eval mode one convolution with the BatchNorm folded into it."""
    folded = fold_batch_norm(conv.weight, conv.bias, norm)
    return norm(conv(x)) if folded is None else conv._conv_forward(x, *folded)


def _shortcut(downsample: nn.Sequential | None, x: torch.Tensor) -> torch.Tensor:
    return x if downsample is None else conv_norm(downsample[0], downsample[1], x)


class BasicBlock3d(nn.Module):
    """Two 3x3 convolutions (the first ``t×3×3``) with a shortcut; ``(N, C, T, H, W)``."""

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        width: int,
        *,
        stride: int = 1,
        temporal_kernel: int = 1,
        shift_div: int | None = None,
        norm_layer: type[nn.Module] = nn.BatchNorm3d,
        act_layer: Callable[[], nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        self.shift = TemporalShift(shift_div) if shift_div else None
        self.conv1 = _conv(in_channels, width, (temporal_kernel, 3, 3), stride)
        self.bn1 = norm_layer(width)
        self.act1 = act_layer()
        self.conv2 = _conv(width, width, (1, 3, 3))
        self.bn2 = norm_layer(width)
        self.downsample = _downsample(in_channels, width, stride, norm_layer)
        self.act2 = act_layer()

    def last_norm(self) -> nn.Module:
        return self.bn2

    def forward(self, x: torch.Tensor, rows: int) -> torch.Tensor:
        """``x`` ``(N, C, T, H, W)``; ``rows`` consecutive batch rows form one sequence."""
        shortcut = _shortcut(self.downsample, x)
        out = x if self.shift is None else self.shift(x, rows)
        out = self.act1(conv_norm(self.conv1, self.bn1, out))
        out = conv_norm(self.conv2, self.bn2, out)
        out += shortcut  # in place: BN's output is not needed by its backward
        return self.act2(out)


class Bottleneck3d(nn.Module):
    """1x1 (``t×1×1``) -> 1×3×3 (strided, as torchvision v1.5) -> 1x1 (x4), with a shortcut."""

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        width: int,
        *,
        stride: int = 1,
        temporal_kernel: int = 1,
        shift_div: int | None = None,
        norm_layer: type[nn.Module] = nn.BatchNorm3d,
        act_layer: Callable[[], nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        out_channels = width * self.expansion
        self.shift = TemporalShift(shift_div) if shift_div else None
        self.conv1 = _conv(in_channels, width, (temporal_kernel, 1, 1))
        self.bn1 = norm_layer(width)
        self.act1 = act_layer()
        self.conv2 = _conv(width, width, (1, 3, 3), stride)
        self.bn2 = norm_layer(width)
        self.act2 = act_layer()
        self.conv3 = _conv(width, out_channels, (1, 1, 1))
        self.bn3 = norm_layer(out_channels)
        self.downsample = _downsample(in_channels, out_channels, stride, norm_layer)
        self.act3 = act_layer()

    def last_norm(self) -> nn.Module:
        return self.bn3

    def forward(self, x: torch.Tensor, rows: int) -> torch.Tensor:
        """``x`` ``(N, C, T, H, W)``; ``rows`` consecutive batch rows form one sequence."""
        shortcut = _shortcut(self.downsample, x)
        out = x if self.shift is None else self.shift(x, rows)
        out = self.act1(conv_norm(self.conv1, self.bn1, out))
        out = self.act2(conv_norm(self.conv2, self.bn2, out))
        out = conv_norm(self.conv3, self.bn3, out)
        out += shortcut  # in place: BN's output is not needed by its backward
        return self.act3(out)


BLOCKS: dict[str, type[nn.Module]] = {"basic": BasicBlock3d, "bottleneck": Bottleneck3d}


def every_second(num_blocks: int) -> list[int]:
    """V4D's placement rule: after the 2nd, 4th, ... residual block (0-based 1, 3, ...)."""
    return list(range(1, num_blocks, 2)) or [num_blocks - 1]


def resolve_placement(
    block4d_at: Mapping[str, int | Sequence[int]] | None, repeats: Sequence[int]
) -> dict[str, list[int]]:
    """Normalise a 4D-block placement to ``{place: sorted 0-based block indices}``.

    A place is ``conv1`` (after the stem, index 0 only) or a stage ``conv2``..``conv5``; its
    value is either the indices of the residual blocks to insert after, or a count ``n``,
    spread evenly so the last one closes the stage (``n=2`` in 4 blocks -> ``[1, 3]``).
    """
    sizes = dict(zip(PLACES, (1, *repeats)))
    placement: dict[str, list[int]] = {}
    for place, where in (block4d_at or {}).items():
        size = _choose(sizes, place, "4D block place")
        if isinstance(where, int):
            if not 1 <= where <= size:
                raise ValueError(f"{place} has {size} block(s); cannot place {where} 4D blocks")
            where = [(k + 1) * size // where - 1 for k in range(where)]
        indices = sorted({int(i) for i in where})
        if len(indices) != len(where) or not all(0 <= i < size for i in indices):
            raise ValueError(
                f"4D block indices {list(where)} for {place} must be distinct and in [0, {size})"
            )
        if indices:
            placement[place] = indices
    return {place: placement[place] for place in PLACES if place in placement}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    return value


def _block4d_config(block4d: Mapping[str, Any] | None) -> dict[str, Any]:
    config = copy.deepcopy(BLOCK4D_DEFAULTS)
    for key, value in (block4d or {}).items():
        _choose(BLOCK4D_DEFAULTS, key, "4D block option")
        config[key] = value
    return _jsonable(config)


class VideoResNet(nn.Module):
    """A ResNet video classifier: ``(B, U, C, T, H, W)`` float -> logits ``(B, num_classes)``.

    Inside, U is merged into the batch as ``(B·U, C, T, H, W)`` (row ``b·U + u``); with
    ``fold_frames`` (the 2D models TSN/TSM) T is merged too, as ``(B·U·T, C, 1, H, W)``.
    4D blocks see ``U`` at run time, so a model trained with U=4 runs with U=10.
    The head averages over U, T, H and W (video-level consensus), then dropout and a linear.

    Keyword-only arguments (all JSON values; they are kept in ``model_args``):
        num_classes: classifier outputs (0: no classifier, ``forward`` returns features).
        depth: a key of :data:`DEPTHS`; ``layers`` overrides its blocks per stage.
        base_width: channels of the stem and of conv2 (64 for ResNets; 8 for tiny models).
        in_channels: input channels C.
        stem: ``"imagenet"`` (``t×7×7`` stride 2 + max-pool) or ``"small"`` (``t×3×3``
            stride 1, no pool) for 32x32 inputs.
        temporal: a key of :data:`TEMPORAL_PATTERNS`.
        block4d_at: 4D-block placement, see :func:`resolve_placement`; None for none.
        block4d: options of every 4D block (``f4d.nn.Residual4dBlock``) over
            :data:`BLOCK4D_DEFAULTS`.
        fold_frames: run the backbone per frame, ``(B·U·T, C, 1, H, W)`` (2D models).
        shift_div: TSM, shift ``C // shift_div`` channels each way in every residual branch.
        shift_scope: ``"video"`` shifts along the U·T frame sequence of a video, ``"unit"``
            along the T frames of each unit only.
        dropout: head dropout probability.
        norm, act: names in :data:`NORM_LAYERS` / :data:`ACT_LAYERS`.
        zero_init_residual: start each residual branch at zero (last norm weight 0).
    """

    def __init__(
        self,
        *,
        num_classes: int,
        depth: int = 50,
        layers: Sequence[int] | None = None,
        base_width: int = 64,
        in_channels: int = 3,
        stem: str = "imagenet",
        temporal: str = "inflate",
        block4d_at: Mapping[str, int | Sequence[int]] | None = None,
        block4d: Mapping[str, Any] | None = None,
        fold_frames: bool = False,
        shift_div: int | None = None,
        shift_scope: str = "video",
        dropout: float = 0.5,
        norm: str = "batchnorm",
        act: str = "relu",
        zero_init_residual: bool = True,
    ) -> None:
        super().__init__()
        kind, default_layers = _choose(DEPTHS, depth, "ResNet depth")
        layers = list(layers or default_layers)
        if len(layers) != 4 or min(layers) < 1:
            raise ValueError(f"layers must be 4 positive block counts (conv2..conv5), got {layers}")
        _choose(dict.fromkeys(STEMS), stem, "stem")
        _choose(dict.fromkeys(SHIFT_SCOPES), shift_scope, "shift_scope")
        placement = resolve_placement(block4d_at, layers)
        if block4d is not None and not placement:
            raise ValueError("block4d options were given but block4d_at places no 4D block")
        if fold_frames and placement:
            raise ValueError("fold_frames (2D model) cannot be combined with 4D blocks")
        self.model_name = "video_resnet"
        self.model_args = _jsonable(
            {
                "num_classes": num_classes,
                "depth": depth,
                "layers": layers,
                "base_width": base_width,
                "in_channels": in_channels,
                "stem": stem,
                "temporal": temporal,
                "block4d_at": placement or None,
                "block4d": _block4d_config(block4d) if placement else None,
                "fold_frames": fold_frames,
                "shift_div": shift_div,
                "shift_scope": shift_scope,
                "dropout": dropout,
                "norm": norm,
                "act": act,
                "zero_init_residual": zero_init_residual,
            }
        )
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.fold_frames = fold_frames
        self.shift_scope = shift_scope
        norm_layer = _choose(NORM_LAYERS, norm, "norm")
        act_layer = _choose(ACT_LAYERS, act, "act")
        pattern = _choose(TEMPORAL_PATTERNS, temporal, "temporal pattern")
        self._build_stem(stem, pattern.stem, base_width, norm_layer, act_layer)
        channels = base_width
        for index, (repeats, flags) in enumerate(zip(layers, pattern.stages)):
            stage = nn.ModuleList()
            for i in range(repeats):
                block = BLOCKS[kind](
                    channels,
                    base_width * 2**index,
                    stride=2 if index > 0 and i == 0 else 1,
                    temporal_kernel=3 if flags[i % len(flags)] else 1,
                    shift_div=shift_div,
                    norm_layer=norm_layer,
                    act_layer=act_layer,
                )
                channels = base_width * 2**index * block.expansion
                stage.append(block)
            self.add_module(f"layer{index + 1}", stage)
        self.num_features = channels
        self.blocks4d = self._build_blocks4d(placement, base_width, kind, norm_layer, act_layer)
        self.head_drop = nn.Dropout(dropout)
        self.fc: nn.Module = nn.Linear(channels, num_classes) if num_classes else nn.Identity()
        self._init_weights(zero_init_residual)
        # channels_last_3d (N, T, H, W, C in memory) is the fast layout for conv3d on CPU and GPU,
        # and the one in which a 4D block's unit axis is a view of the rows (f4d.ops.conv4d_rows);
        # conv1's weight makes the stem's output channels-last, and every layer after keeps it
        self.to(memory_format=torch.channels_last_3d)

    def _build_stem(
        self,
        stem: str,
        temporal_kernel: int,
        width: int,
        norm_layer: type[nn.Module],
        act_layer: Callable[[], nn.Module],
    ) -> None:
        spatial, stride = (7, 2) if stem == "imagenet" else (3, 1)
        self.conv1 = _conv(self.in_channels, width, (temporal_kernel, spatial, spatial), stride)
        self.bn1 = norm_layer(width)
        self.act1 = act_layer()
        self.maxpool = (
            nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
            if stem == "imagenet"
            else nn.Identity()
        )

    def _build_blocks4d(
        self,
        placement: Mapping[str, list[int]],
        base_width: int,
        kind: str,
        norm_layer: type[nn.Module],
        act_layer: Callable[[], nn.Module],
    ) -> nn.ModuleDict:
        config = self.model_args["block4d"]
        widths = {"conv1": base_width}
        widths.update({s: base_width * 2**i * BLOCKS[kind].expansion for i, s in enumerate(STAGES)})
        blocks = nn.ModuleDict()
        for place, indices in placement.items():
            for i in indices:
                blocks[f"{place}_{i}"] = Residual4dBlock(
                    widths[place],
                    op=config["op"],
                    kernel_size=tuple(config["kernel_size"]),
                    padding=tuple(config["padding"]),
                    attention=tuple(config["attention"]),
                    dropout=config["dropout"],
                    zero_init=config["zero_init"],
                    norm_layer=norm_layer,
                    act_layer=act_layer,
                )
        return blocks

    def _backbone_modules(self) -> Iterator[nn.Module]:
        """The stem, residual stages and classifier: what Kaiming init and 2D inflation touch."""
        for name in ("conv1", "bn1", *(f"layer{i}" for i in range(1, 5)), "fc"):
            yield from getattr(self, name).modules()

    def _init_weights(self, zero_init_residual: bool) -> None:
        for m in self._backbone_modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm3d, nn.SyncBatchNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)
            if zero_init_residual and isinstance(m, (BasicBlock3d, Bottleneck3d)):
                norm = m.last_norm()
                if getattr(norm, "weight", None) is not None:
                    nn.init.zeros_(norm.weight)

    def _after(self, place: str, index: int, x: torch.Tensor, units: int) -> torch.Tensor:
        key = f"{place}_{index}"
        return self.blocks4d[key](x, units) if key in self.blocks4d else x

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, U, C, T, H, W)`` -> feature map ``(B, U, C', T', H', W')``."""
        if x.ndim != 6 or x.shape[2] != self.in_channels:
            raise ValueError(
                f"expected a (B, U, C={self.in_channels}, T, H, W) batch, got {tuple(x.shape)}"
            )
        b, u, c, t, h, w = x.shape
        if self.fold_frames:
            x = x.transpose(2, 3).reshape(b * u * t, c, 1, h, w)  # (B·U·T, C, 1, H, W)
            rows = u * t if self.shift_scope == "video" else t
        else:
            x = x.reshape(b * u, c, t, h, w)  # (B·U, C, T, H, W), row b·U + u
            rows = u if self.shift_scope == "video" else 1
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))  # unfolded: benchmarks time each
        x = self._after("conv1", 0, x, u)
        for index, place in enumerate(STAGES):
            for i, block in enumerate(getattr(self, f"layer{index + 1}")):
                x = self._after(place, i, block(x, rows), u)
        _, c2, t2, h2, w2 = x.shape
        if self.fold_frames:
            return x.view(b, u, t, c2, h2, w2).transpose(2, 3)  # (B, U, C', T, H', W')
        return x.view(b, u, c2, t2, h2, w2)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """``(B, U, C', T', H', W')`` -> logits ``(B, K)`` (``(B, C')`` if ``pre_logits``)."""
        pooled = features.mean(dim=(1, 3, 4, 5))  # (B, C')
        pooled = self.head_drop(pooled)
        return pooled if pre_logits else self.fc(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, U, C, T, H, W)`` normalised float -> logits ``(B, num_classes)``."""
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier by a fresh one with ``num_classes`` outputs (0: none)."""
        self.num_classes = num_classes
        self.model_args["num_classes"] = num_classes
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()
        if num_classes:
            nn.init.normal_(self.fc.weight, std=0.01)
            nn.init.zeros_(self.fc.bias)

"""The registered models: TSN, TSM, I3D, slow-only, V4D and F4D on ResNets, and their variants.

Every builder is ``fn(num_classes, **overrides) -> VideoResNet``; ``overrides`` replace the
defaults below (any :class:`~f4d.models.resnet3d.VideoResNet` argument; ``block4d`` options
update the variant's). See ``docs/models.md`` for the configurations and parameter counts.
"""

from __future__ import annotations

from typing import Any

from f4d.models.registry import register_model
from f4d.models.resnet3d import DEPTHS, STAGES, VideoResNet, every_second

TSN = {"temporal": "c2d", "fold_frames": True}
TSM = {"temporal": "c2d", "fold_frames": True, "shift_div": 8, "shift_scope": "video"}
I3D = {"temporal": "inflate"}
SLOW = {"temporal": "slow"}
V4D_BLOCK = {"op": "full", "attention": []}
F4D_BLOCK = {"op": "factorized", "attention": ["ta", "ca", "sta"]}
# tiny CPU models: ResNet-10 basic blocks, widths 8/16/32/64, 3x3 stride-1 stem for 32x32
# frames, no temporal kernel in the backbone; tsn/v4d/f4d_tiny share every backbone key
TINY = {"depth": 10, "base_width": 8, "stem": "small", "temporal": "c2d", "dropout": 0.2}
TINY_4D_AT = {"conv4": [0]}  # one 4D block after the third residual stage (32 channels)

# Table 2 rows: where the 4D blocks go (V4D's rule inside each stage: after every 2nd block)
TABLE2_PLACES = {
    "conv1": ("conv1",),
    "conv2": ("conv2",),
    "conv3": ("conv3",),
    "conv4": ("conv4",),
    "conv5": ("conv5",),
    "conv2_3": ("conv2", "conv3"),
    "conv3_4": ("conv3", "conv4"),
    "conv2_5": ("conv2", "conv3", "conv4", "conv5"),
}
# Tables 4 and 5 rows: the attention inside the F4D blocks (TA+CA+STA is the plain f4d model)
ATTENTION_VARIANTS = {
    "attn_none": [],
    "ca": ["ca"],
    "sta": ["sta"],
    "ca_sta": ["ca", "sta"],
    "ta": ["ta"],
    "ta_ca": ["ta", "ca"],
    "se": ["se"],
    "cbam": ["cbam"],
    "stm": ["stm"],
    "tea": ["tea"],
}


def _build(num_classes: int, defaults: dict[str, Any], overrides: dict[str, Any]) -> VideoResNet:
    """Overrides replace defaults, except ``block4d``, whose options update the variant's."""
    args = {**defaults, **overrides}
    if overrides.get("block4d") is not None and defaults.get("block4d") is not None:
        args["block4d"] = {**defaults["block4d"], **overrides["block4d"]}
    return VideoResNet(num_classes=num_classes, **args)


def placement(depth: int, places: tuple[str, ...] = ("conv3",)) -> dict[str, list[int]]:
    """4D-block placement for ``places``: after the stem for conv1, else V4D's every 2nd block.

    For ResNet-50, conv3 gives ``[1, 3]``: after res3's 2nd and 4th bottleneck (V4D-R50).
    """
    repeats = dict(zip(STAGES, DEPTHS[depth][1]))
    return {p: [0] if p == "conv1" else every_second(repeats[p]) for p in places}


def v4d_config(depth: int) -> dict[str, Any]:
    """V4D: the V4D backbone with full 4D blocks (no attention) in conv3 (res3)."""
    return {"depth": depth, "temporal": "v4d", "block4d_at": placement(depth), "block4d": V4D_BLOCK}


def f4d_config(depth: int, **block: Any) -> dict[str, Any]:
    """F4D: V4D's backbone and placement with factorized blocks and TA+CA+STA (Table 1)."""
    config = {**v4d_config(depth), "block4d": {**F4D_BLOCK, **block}}
    return config


@register_model
def tsn_r50(num_classes: int, **overrides: Any) -> VideoResNet:
    """TSN: a 2D ResNet-50 applied per frame, average consensus over T and U."""
    return _build(num_classes, {"depth": 50, **TSN}, overrides)


@register_model
def tsm_r50(num_classes: int, **overrides: Any) -> VideoResNet:
    """TSM: TSN-R50 with 1/8 of the channels shifted each way along the U·T frames."""
    return _build(num_classes, {"depth": 50, **TSM}, overrides)


@register_model
def i3d_r50(num_classes: int, **overrides: Any) -> VideoResNet:
    """I3D-style inflated 3D ResNet-50 (5x7x7 stem, 3x1x1 in alternate bottlenecks)."""
    return _build(num_classes, {"depth": 50, **I3D}, overrides)


@register_model
def slow_r50(num_classes: int, **overrides: Any) -> VideoResNet:
    """Slow-only 3D ResNet-50: temporal kernels only in res4 and res5."""
    return _build(num_classes, {"depth": 50, **SLOW}, overrides)


@register_model
def v4d_r50(num_classes: int, **overrides: Any) -> VideoResNet:
    """V4D-R50 (Table 1): two full 4D blocks in res3, after its 2nd and 4th bottleneck."""
    return _build(num_classes, v4d_config(50), overrides)


@register_model
def f4d_r50(num_classes: int, **overrides: Any) -> VideoResNet:
    """F4D-R50 (Table 1): V4D-R50 with factorized 4D blocks and TA+CA+STA attention."""
    return _build(num_classes, f4d_config(50), overrides)


@register_model
def tsn_r18(num_classes: int, **overrides: Any) -> VideoResNet:
    """TSN on a 2D ResNet-18."""
    return _build(num_classes, {"depth": 18, **TSN}, overrides)


@register_model
def tsm_r18(num_classes: int, **overrides: Any) -> VideoResNet:
    """TSM on a 2D ResNet-18."""
    return _build(num_classes, {"depth": 18, **TSM}, overrides)


@register_model
def i3d_r18(num_classes: int, **overrides: Any) -> VideoResNet:
    """I3D-style inflated 3D ResNet-18."""
    return _build(num_classes, {"depth": 18, **I3D}, overrides)


@register_model
def slow_r18(num_classes: int, **overrides: Any) -> VideoResNet:
    """Slow-only 3D ResNet-18."""
    return _build(num_classes, {"depth": 18, **SLOW}, overrides)


@register_model
def v4d_r18(num_classes: int, **overrides: Any) -> VideoResNet:
    """V4D on ResNet-18: one full 4D block in res3 (after its 2nd basic block)."""
    return _build(num_classes, v4d_config(18), overrides)


@register_model
def f4d_r18(num_classes: int, **overrides: Any) -> VideoResNet:
    """F4D on ResNet-18: one F4D block (TA+CA+STA) in res3."""
    return _build(num_classes, f4d_config(18), overrides)


@register_model
def v4d_r101(num_classes: int, **overrides: Any) -> VideoResNet:
    """V4D on ResNet-101: two full 4D blocks in res3."""
    return _build(num_classes, v4d_config(101), overrides)


@register_model
def f4d_r101(num_classes: int, **overrides: Any) -> VideoResNet:
    """F4D on ResNet-101: two F4D blocks (TA+CA+STA) in res3."""
    return _build(num_classes, f4d_config(101), overrides)


@register_model
def tsn_tiny(num_classes: int, **overrides: Any) -> VideoResNet:
    """Tiny TSN for CPU: the tiny backbone per frame, averaged over T and U."""
    return _build(num_classes, {**TINY, "fold_frames": True}, overrides)


@register_model
def tsm_tiny(num_classes: int, **overrides: Any) -> VideoResNet:
    """Tiny TSM for CPU."""
    return _build(num_classes, {**TINY, **TSM}, overrides)


@register_model
def i3d_tiny(num_classes: int, **overrides: Any) -> VideoResNet:
    """Tiny I3D-style 3D ResNet for CPU (inflated kernels, so not key-compatible with tsn_tiny)."""
    return _build(num_classes, {**TINY, **I3D}, overrides)


@register_model
def slow_tiny(num_classes: int, **overrides: Any) -> VideoResNet:
    """Tiny slow-only 3D ResNet for CPU."""
    return _build(num_classes, {**TINY, **SLOW}, overrides)


@register_model
def v4d_tiny(num_classes: int, **overrides: Any) -> VideoResNet:
    """Tiny V4D: tsn_tiny's backbone plus one full 4D block (3,3,1,1) after conv4."""
    return _build(num_classes, {**TINY, "block4d_at": TINY_4D_AT, "block4d": V4D_BLOCK}, overrides)


@register_model
def f4d_tiny(num_classes: int, **overrides: Any) -> VideoResNet:
    """Tiny F4D: tsn_tiny's backbone plus one F4D block (TA+CA+STA) after conv4."""
    return _build(num_classes, {**TINY, "block4d_at": TINY_4D_AT, "block4d": F4D_BLOCK}, overrides)


def _register_variant(name: str, defaults: dict[str, Any], doc: str) -> None:
    def builder(num_classes: int, **overrides: Any) -> VideoResNet:
        return _build(num_classes, defaults, overrides)

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = doc
    register_model(name)(builder)


def _register_ablations() -> None:
    """``f4d_r{18,50}_<row>`` for every row of Tables 2, 4 and 5."""
    for depth in (18, 50):
        for row, places in TABLE2_PLACES.items():
            config = {**f4d_config(depth), "block4d_at": placement(depth, places)}
            doc = f"Table 2 row {row}: F4D-R{depth} with F4D blocks in {'+'.join(places)}."
            _register_variant(f"f4d_r{depth}_{row}", config, doc)
        for row, attention in ATTENTION_VARIANTS.items():
            config = f4d_config(depth, attention=attention)
            doc = f"Tables 4/5 row {row}: F4D-R{depth} with attention {attention or 'none'}."
            _register_variant(f"f4d_r{depth}_{row}", config, doc)


_register_ablations()

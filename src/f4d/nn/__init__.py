"""f4d.nn: F4D attention modules, STM/TEA baselines and the residual 4D block (paper 3.4-3.5)."""

from f4d.nn.attention import (
    CBAM3d,
    ChannelAttention,
    SpatioTemporalAttention,
    SqueezeExcitation3d,
    TemporalAttention,
)
from f4d.nn.block import FOUR_D_OPS, Residual4dBlock
from f4d.nn.motion import STMBlock, TEABlock
from f4d.nn.registry import ATTENTION_LAYERS, FOUR_D_ATTENTION, make_attention

__all__ = [
    "ATTENTION_LAYERS",
    "FOUR_D_ATTENTION",
    "FOUR_D_OPS",
    "CBAM3d",
    "ChannelAttention",
    "Residual4dBlock",
    "STMBlock",
    "SpatioTemporalAttention",
    "SqueezeExcitation3d",
    "TEABlock",
    "TemporalAttention",
    "make_attention",
]

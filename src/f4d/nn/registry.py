"""Attention names -> classes, and `make_attention(name, channels)`."""

from __future__ import annotations

from torch import nn

from f4d.nn.attention import (
    CBAM3d,
    ChannelAttention,
    SpatioTemporalAttention,
    SqueezeExcitation3d,
    TemporalAttention,
)
from f4d.nn.motion import STMBlock, TEABlock

__all__ = ["ATTENTION_LAYERS", "FOUR_D_ATTENTION", "make_attention"]

ATTENTION_LAYERS: dict[str, type[nn.Module]] = {
    "ta": TemporalAttention,
    "ca": ChannelAttention,
    "sta": SpatioTemporalAttention,
    "se": SqueezeExcitation3d,
    "cbam": CBAM3d,
    "stm": STMBlock,
    "tea": TEABlock,
}

# Names whose module works in 4D space, (B, C, U, T, H, W); all others take (N, C, T, H, W).
FOUR_D_ATTENTION = frozenset({"ta"})

# Modules that need no channel count (their maps pool over channels).
_CHANNEL_FREE = frozenset({"ta", "sta"})


def make_attention(name: str, channels: int) -> nn.Module:
    """Build the attention module called `name` for `channels` channels; unknown -> ValueError."""
    if name not in ATTENTION_LAYERS:
        raise ValueError(
            f"unknown attention {name!r}; valid names: {', '.join(sorted(ATTENTION_LAYERS))}"
        )
    cls = ATTENTION_LAYERS[name]
    return cls() if name in _CHANNEL_FREE else cls(channels)

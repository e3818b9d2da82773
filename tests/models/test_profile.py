"""profile_model: parameter and multiply-add counts against hand-worked numbers, speed."""

from __future__ import annotations

import torch
from torch import nn

from f4d.models import create_model, profile_model
from f4d.models.profile import count_macs, count_parameters


class OneConv(nn.Module):
    """(B, U, C, T, H, W) -> one 3x3x3 conv (stride 1, padding 1) -> mean -> linear."""

    in_channels = 3

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, 4, 3, padding=1, bias=False)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, u, c, t, h, w = x.shape
        y = self.conv(x.reshape(b * u, c, t, h, w)).mean(dim=(2, 3, 4))
        return self.fc(y.view(b, u, -1).mean(1))


def test_macs_of_a_hand_worked_model() -> None:
    macs = count_macs(OneConv(), frames=2, units=3, size=5)
    # conv: 3 units · 2·5·5 outputs · 4 channels · 3·3·3·3 taps; linear: 4·2
    assert macs == 3 * 2 * 5 * 5 * 4 * 81 + 8
    assert count_parameters(OneConv()) == 4 * 81 + 4 * 2 + 2


def test_macs_scale_with_units_and_frames() -> None:
    model = create_model("v4d_tiny", 4)  # no attention: all but the classifier scales
    one = count_macs(model, frames=2, units=2, size=32)
    # doubling T or U doubles every conv (the 4D conv included) but not the 64x4 classifier
    assert count_macs(model, frames=4, units=2, size=32) == 2 * one - 64 * 4
    assert count_macs(model, frames=2, units=4, size=32) == 2 * one - 64 * 4


def test_profile_model_measures_speed() -> None:
    model = create_model("tsn_tiny", 4)
    result = profile_model(model, frames=2, units=2, batch=2, size=32, warmup=1, iters=2)
    assert result.params == count_parameters(model) and result.macs > 0
    assert result.videos_per_s is not None and result.videos_per_s > 0
    assert result.model == "tsn_tiny" and result.device == "cpu"
    skipped = profile_model(model, frames=2, units=2, size=32, speed=False)
    assert skipped.videos_per_s is None and skipped.macs == result.macs

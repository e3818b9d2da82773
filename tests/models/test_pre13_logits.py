"""Checkpoints trained before the speed work (issue 13) give the same logits after it.

`data/pre13_logits.safetensors` holds, for three seeded models with every weight and BN
statistic perturbed (so the 4D blocks, their attention and scale all contribute), the state
dict, an input and the eval logits computed by f4d before issue 13 (main @ 4e39bbc: contiguous
layout, permute-based 4D block). The current code must reproduce them in its default
channels-last layout and in the contiguous one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from f4d.models import create_model

FIXTURE = load_file(Path(__file__).parent / "data" / "pre13_logits.safetensors")
MODELS = {"f4d_tiny": {}, "v4d_tiny": {}, "f4d_r50": {"base_width": 4}}


def _model(name: str) -> torch.nn.Module:
    model = create_model(name, num_classes=5, **MODELS[name])
    prefix = f"{name}/state/"
    state = {k[len(prefix) :]: v for k, v in FIXTURE.items() if k.startswith(prefix)}
    model.load_state_dict(state, strict=True)
    return model.eval()


@pytest.mark.parametrize("layout", [torch.channels_last_3d, torch.contiguous_format])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_old_checkpoint_gives_the_same_logits(name: str, layout: torch.memory_format) -> None:
    model = _model(name).to(memory_format=layout)
    with torch.no_grad():
        logits = model(FIXTURE[f"{name}/input"])
    expected = FIXTURE[f"{name}/logits"]
    assert expected.abs().max() > 0.1  # the fixture is not degenerate
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-5)


def test_models_are_channels_last_by_default() -> None:
    model = create_model("f4d_tiny", num_classes=5)
    conv_weights = [p for p in model.parameters() if p.dim() == 5 and p.shape[1] > 1]
    assert conv_weights
    assert all(p.is_contiguous(memory_format=torch.channels_last_3d) for p in conv_weights)

"""Registry, the named zoo, model_args round trips, Table 1 parameter counts, shared tiny keys."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from f4d.models import create_model, list_models, register_model
from f4d.models.profile import count_parameters

REQUIRED = [
    "tsn_r50", "tsm_r50", "i3d_r50", "slow_r50", "v4d_r50", "f4d_r50",
    "tsn_r18", "tsm_r18", "i3d_r18", "slow_r18", "v4d_r18", "f4d_r18",
    "f4d_tiny", "v4d_tiny", "tsn_tiny", "i3d_tiny",
]  # fmt: skip
TABLE2 = ["conv1", "conv2", "conv3", "conv4", "conv5", "conv2_3", "conv3_4", "conv2_5"]
TABLES45 = ["attn_none", "ca", "sta", "ca_sta", "ta", "ta_ca", "se", "cbam", "stm", "tea"]


def test_required_names_are_registered() -> None:
    names = set(list_models())
    for depth in ("r18", "r50"):
        assert {f"f4d_{depth}_{row}" for row in TABLE2 + TABLES45} <= names
    assert set(REQUIRED) <= names


def test_list_models_pattern() -> None:
    assert list_models("f4d_r50_conv*") == sorted(f"f4d_r50_{row}" for row in TABLE2)
    assert list_models("*_tiny") == [
        "f4d_tiny", "i3d_tiny", "slow_tiny", "tsm_tiny", "tsn_tiny", "v4d_tiny"
    ]  # fmt: skip
    assert list_models("nothing*") == []


def test_duplicate_registration_is_an_error() -> None:
    with pytest.raises(ValueError, match="'f4d_tiny' is already registered"):
        register_model("f4d_tiny")(lambda num_classes: nn.Identity())


def test_unknown_name_lists_close_matches() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'f4d_r05'; close matches: \['f4d_r50'"):
        create_model("f4d_r05", 10)


def test_every_registered_model_builds_with_its_name() -> None:
    with torch.device("meta"):
        for name in list_models():
            model = create_model(name, 11)
            assert model.model_name == name and model.num_classes == 11
            assert model.get_classifier().out_features == 11


def _shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("f4d_tiny", {}),
        ("v4d_tiny", {"block4d": {"attention": ["se"]}}),
        ("tsm_tiny", {"shift_div": 4, "dropout": 0.0}),
        ("f4d_r50_conv2_3", {}),
        ("tsn_r50", {"depth": 101}),
    ],
)
def test_model_args_round_trip_through_json(name: str, overrides: dict) -> None:
    with torch.device("meta"):
        model = create_model(name, 6, **overrides)
        args = json.loads(json.dumps(model.model_args))
        rebuilt = create_model(model.model_name, **args)
    assert args["num_classes"] == 6
    if name == "v4d_tiny":  # block4d options update the variant's: still the full 4D op
        assert args["block4d"]["op"] == "full" and args["block4d"]["attention"] == ["se"]
    assert rebuilt.model_args == model.model_args
    assert _shapes(rebuilt) == _shapes(model)
    assert str(rebuilt) == str(model)


def test_table1_parameter_counts_within_3_percent() -> None:
    with torch.device("meta"):
        v4d, f4d = create_model("v4d_r50", 174), create_model("f4d_r50", 174)
    assert abs(count_parameters(v4d) / 36.2e6 - 1) < 0.03
    assert abs(count_parameters(f4d) / 36.8e6 - 1) < 0.03
    # the V4D-R50 of research-v4d: two full (3,3,1,1) 4D convs at 512 channels in res3
    assert sorted(v4d.blocks4d) == ["conv3_1", "conv3_3"]
    assert v4d.blocks4d["conv3_1"].op.weight.numel() == 512 * 512 * 3 * 3


def test_tiny_models_share_the_backbone() -> None:
    tsn, v4d, f4d = (create_model(n, 4) for n in ("tsn_tiny", "v4d_tiny", "f4d_tiny"))
    base = _shapes(tsn)
    for model in (v4d, f4d):
        shapes = _shapes(model)
        assert {k: shapes[k] for k in base} == base
        assert all(k.startswith("blocks4d.conv4_0.") for k in set(shapes) - set(base))
        result = model.load_state_dict(tsn.state_dict(), strict=False)
        assert result.unexpected_keys == []
        assert result.missing_keys and all(k.startswith("blocks4d.") for k in result.missing_keys)
    assert 50_000 <= count_parameters(f4d) <= 150_000

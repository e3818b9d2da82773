"""VideoResNet: shapes per family, gradients, run-time U, temporal patterns, placement, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from f4d.models import DEPTHS, create_model, resolve_placement
from f4d.models.resnet3d import VideoResNet, every_second
from f4d.models.temporal_shift import temporal_shift

TINY = ("tsn_tiny", "tsm_tiny", "i3d_tiny", "slow_tiny", "v4d_tiny", "f4d_tiny")
R18 = ("tsn_r18", "tsm_r18", "i3d_r18", "slow_r18", "v4d_r18", "f4d_r18")


def _no_zero_init(name: str) -> dict:
    """Overrides that start every residual branch and 4D block away from zero."""
    overrides = {"zero_init_residual": False}
    if name.startswith(("v4d", "f4d")):
        overrides["block4d"] = {"zero_init": False}
    return overrides


@pytest.mark.parametrize("name", TINY)
def test_tiny_models_shapes(name: str) -> None:
    model = create_model(name, 5).eval()
    x = torch.randn(2, 3, 3, 4, 32, 32)
    features = model.forward_features(x)
    # small stem keeps 32x32, three stride-2 stages -> 4x4; no temporal stride; 8·8 channels
    assert features.shape == (2, 3, 64, 4, 4, 4)
    assert model.forward_head(features).shape == (2, 5)
    assert model(x).shape == (2, 5)


@pytest.mark.parametrize("name", R18)
def test_r18_models_shapes(name: str) -> None:
    model = create_model(name, 7, base_width=8).eval()
    x = torch.randn(1, 2, 3, 4, 64, 64)
    # ImageNet stem (stride 2 + pool) then strides 1, 2, 2, 2 -> 64 / 32 = 2
    assert model.forward_features(x).shape == (1, 2, 64, 4, 2, 2)
    assert model(x).shape == (1, 7)


def test_bottleneck_model_shapes_and_channels() -> None:
    model = create_model("f4d_r50", 3, base_width=4).eval()
    x = torch.randn(1, 2, 3, 2, 64, 64)
    assert model.forward_features(x).shape == (1, 2, 4 * 8 * 4, 2, 2, 2)
    assert model.blocks4d["conv3_1"].channels == 4 * 2 * 4
    assert model(x).shape == (1, 3)


@pytest.mark.parametrize("name", TINY)
def test_every_parameter_gets_a_gradient(name: str) -> None:
    model = create_model(name, 4, **_no_zero_init(name)).train()
    model(torch.randn(2, 2, 3, 4, 32, 32)).logsumexp(dim=1).sum().backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert no_grad == []


def test_units_at_test_differ_from_training() -> None:
    model = create_model("f4d_tiny", 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = nn.functional.cross_entropy(model(torch.randn(2, 4, 3, 4, 32, 32)), torch.tensor([0, 3]))
    loss.backward()
    optimizer.step()
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(3, 10, 3, 4, 32, 32)).shape == (3, 4)
        assert model.forward_features(torch.randn(1, 1, 3, 4, 32, 32)).shape[1] == 1


def test_4d_blocks_see_unit_order_and_tsn_does_not() -> None:
    x = torch.randn(2, 4, 3, 4, 32, 32)
    reversed_units = x.flip(1)
    for name, order_matters in (("tsn_tiny", False), ("f4d_tiny", True), ("v4d_tiny", True)):
        model = create_model(name, 4, **_no_zero_init(name)).eval()
        with torch.no_grad():
            same = torch.allclose(model(x), model(reversed_units), atol=1e-5)
        assert same != order_matters, name


def test_zero_initialised_4d_blocks_leave_the_backbone_output() -> None:
    tsn, f4d = create_model("tsn_tiny", 4).eval(), create_model("f4d_tiny", 4).eval()
    f4d.load_state_dict(tsn.state_dict(), strict=False)
    x = torch.randn(2, 3, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(f4d(x), tsn(x), atol=1e-5, rtol=1e-4)


def test_frame_folding_is_exact_for_c2d() -> None:
    folded = create_model("tsn_tiny", 4, zero_init_residual=False).eval()
    unfolded = create_model("tsn_tiny", 4, zero_init_residual=False, fold_frames=False).eval()
    unfolded.load_state_dict(folded.state_dict())
    x = torch.randn(2, 3, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(folded.forward_features(x), unfolded.forward_features(x))


def test_temporal_shift_hand_worked() -> None:
    # 2 videos of rows=2 units, T=2 -> sequences of 4 steps; C=4, fold_div=4 -> 1 channel each way
    x = torch.arange(2 * 2 * 4 * 2, dtype=torch.float32).view(4, 4, 2, 1, 1)
    out = temporal_shift(x, rows=2, fold_div=4)
    seq0 = x[:2].transpose(0, 1).reshape(4, 4)  # (C, steps) of video 0: rows then T
    got0 = out[:2].transpose(0, 1).reshape(4, 4)
    assert got0[0].tolist() == [*seq0[0, 1:].tolist(), 0.0]  # back: step s sees s + 1
    assert got0[1].tolist() == [0.0, *seq0[1, :-1].tolist()]  # forward: s sees s - 1
    assert torch.equal(got0[2:], seq0[2:])
    # video 1 never receives video 0's steps
    assert out[2, 1, 0].item() == 0.0
    with pytest.raises(ValueError, match="sequences of 3 rows"):
        temporal_shift(x, rows=3)


def test_temporal_shift_keeps_the_memory_layout_and_its_numbers() -> None:
    """A channels-last input gives a channels-last output (the next conv needs no conversion)
    with the same values and gradients as the contiguous one."""
    torch.manual_seed(0)
    x = torch.randn(6, 16, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    x_cl = x.detach().to(memory_format=torch.channels_last_3d).requires_grad_(True)
    out, out_cl = temporal_shift(x, rows=3), temporal_shift(x_cl, rows=3)
    assert out.is_contiguous() and out_cl.is_contiguous(memory_format=torch.channels_last_3d)
    assert torch.equal(out, out_cl)
    grad = torch.randn_like(out)
    assert torch.equal(
        torch.autograd.grad(out, x, grad)[0], torch.autograd.grad(out_cl, x_cl, grad)[0]
    )


def test_tsm_shift_scope_changes_the_output() -> None:
    x = torch.randn(1, 3, 3, 2, 32, 32)
    video = create_model("tsm_tiny", 4, zero_init_residual=False).eval()
    unit = create_model("tsm_tiny", 4, zero_init_residual=False, shift_scope="unit").eval()
    unit.load_state_dict(video.state_dict())
    with torch.no_grad():
        assert not torch.allclose(video(x), unit(x))


def _temporal_kernels(model: VideoResNet) -> dict[str, list[int]]:
    return {
        f"layer{i}": [b.conv1.weight.shape[2] for b in getattr(model, f"layer{i}")]
        for i in range(1, 5)
    }


def test_temporal_patterns_r50() -> None:
    with torch.device("meta"):
        models = {n: create_model(n, 10) for n in ("i3d_r50", "slow_r50", "v4d_r50", "tsn_r50")}
    assert models["i3d_r50"].conv1.weight.shape == (64, 3, 5, 7, 7)
    assert _temporal_kernels(models["i3d_r50"]) == {
        "layer1": [3, 3, 3],
        "layer2": [3, 1, 3, 1],
        "layer3": [3, 1, 3, 1, 3, 1],
        "layer4": [1, 3, 1],
    }
    v4d = {"layer1": [1] * 3, "layer2": [1] * 4, "layer3": [3] * 6, "layer4": [3] * 3}
    assert _temporal_kernels(models["v4d_r50"]) == v4d
    assert _temporal_kernels(models["slow_r50"]) == v4d
    assert models["v4d_r50"].conv1.weight.shape == (64, 3, 1, 7, 7)
    assert models["v4d_r50"].layer3[0].conv1.weight.shape == (256, 512, 3, 1, 1)
    assert models["v4d_r50"].layer3[0].conv2.weight.shape == (256, 256, 1, 3, 3)
    assert all(k == 1 for ks in _temporal_kernels(models["tsn_r50"]).values() for k in ks)


def test_no_temporal_striding_anywhere() -> None:
    model = create_model("i3d_r18", 2, base_width=8).eval()
    assert model.forward_features(torch.randn(1, 1, 3, 8, 64, 64)).shape[3] == 8


def test_resnet_depth_table() -> None:
    with torch.device("meta"):
        for depth, (_, repeats) in DEPTHS.items():
            model = VideoResNet(num_classes=2, depth=depth, temporal="c2d")
            assert [len(getattr(model, f"layer{i}")) for i in range(1, 5)] == list(repeats)
        resnet50 = VideoResNet(num_classes=1000, temporal="c2d")
    # torchvision's 2D ResNet-50 has 25,557,032 parameters with 1000 classes
    assert sum(p.numel() for p in resnet50.parameters()) == 25_557_032


def test_placement_rules() -> None:
    repeats = (3, 4, 6, 3)
    assert resolve_placement({"conv3": 2, "conv4": 3, "conv1": 1}, repeats) == {
        "conv1": [0],
        "conv3": [1, 3],
        "conv4": [1, 3, 5],
    }
    assert resolve_placement({"conv5": [2, 0]}, repeats) == {"conv5": [0, 2]}
    assert every_second(4) == [1, 3] and every_second(3) == [1] and every_second(1) == [0]
    with pytest.raises(ValueError, match="unknown 4D block place 'conv6'"):
        resolve_placement({"conv6": 1}, repeats)
    with pytest.raises(ValueError, match="cannot place 5"):
        resolve_placement({"conv2": 5}, repeats)
    with pytest.raises(ValueError, match=r"in \[0, 4\)"):
        resolve_placement({"conv3": [4]}, repeats)


def test_4d_blocks_are_placed_by_key() -> None:
    with torch.device("meta"):
        model = create_model("f4d_r50_conv2_5", 174)
    assert sorted(model.blocks4d) == [
        "conv2_1",
        "conv3_1",
        "conv3_3",
        "conv4_1",
        "conv4_3",
        "conv4_5",
        "conv5_1",
    ]
    assert model.blocks4d["conv5_1"].channels == 2048


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"depth": 20}, "unknown ResNet depth 20"),
        ({"temporal": "fast"}, "unknown temporal pattern 'fast'.*'c2d'"),
        ({"stem": "big"}, "unknown stem 'big'"),
        ({"norm": "layernorm"}, "unknown norm 'layernorm'.*batchnorm"),
        ({"act": "tanh"}, "unknown act 'tanh'"),
        ({"layers": [1, 1, 1]}, "4 positive block counts"),
        ({"block4d": {"kernel": 3}}, "unknown 4D block option 'kernel'"),
        ({"block4d_at": {"conv2": 1}}, "cannot be combined with 4D blocks"),
    ],
)
def test_bad_arguments(overrides: dict, match: str) -> None:
    name = "f4d_tiny" if "block4d" in overrides else "tsn_tiny"
    with pytest.raises(ValueError, match=match):
        create_model(name, 4, **overrides)


def test_block4d_options_without_placement_is_an_error() -> None:
    with pytest.raises(ValueError, match="places no 4D block"):
        create_model("i3d_tiny", 4, block4d={"op": "full"})


def test_wrong_input_layout_is_an_error() -> None:
    model = create_model("tsn_tiny", 4)
    with pytest.raises(ValueError, match=r"\(B, U, C=3, T, H, W\).*\(2, 3, 4, 32, 32\)"):
        model(torch.randn(2, 3, 4, 32, 32))


def test_reset_classifier() -> None:
    model = create_model("f4d_tiny", 4).eval()
    x = torch.randn(2, 2, 3, 2, 32, 32)
    model.reset_classifier(9)
    assert model(x).shape == (2, 9)
    assert model.num_classes == 9 and model.model_args["num_classes"] == 9
    assert model.get_classifier().out_features == 9
    model.reset_classifier(0)
    assert model(x).shape == (2, 64)

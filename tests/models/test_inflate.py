"""inflate_from_2d with a randomly initialised torchvision-layout ResNet-18 state dict."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from f4d.models import create_model, inflate_from_2d

WIDTH = 8  # base width of the small ResNet-18 used here


def _bn(state: dict, key: str, channels: int) -> None:
    state[f"{key}.weight"] = torch.rand(channels) + 0.5
    state[f"{key}.bias"] = torch.randn(channels)
    state[f"{key}.running_mean"] = torch.randn(channels)
    state[f"{key}.running_var"] = torch.rand(channels) + 0.5
    state[f"{key}.num_batches_tracked"] = torch.tensor(100)


def resnet18_2d_state(width: int = WIDTH, num_classes: int = 1000) -> dict[str, torch.Tensor]:
    """torchvision's ResNet-18 key layout, written out by hand, random values."""
    state = {"conv1.weight": torch.randn(width, 3, 7, 7)}
    _bn(state, "bn1", width)
    in_c = width
    for stage in range(4):
        out_c = width * 2**stage
        for block in range(2):
            key = f"layer{stage + 1}.{block}"
            state[f"{key}.conv1.weight"] = torch.randn(out_c, in_c, 3, 3)
            _bn(state, f"{key}.bn1", out_c)
            state[f"{key}.conv2.weight"] = torch.randn(out_c, out_c, 3, 3)
            _bn(state, f"{key}.bn2", out_c)
            if in_c != out_c:
                state[f"{key}.downsample.0.weight"] = torch.randn(out_c, in_c, 1, 1)
                _bn(state, f"{key}.downsample.1", out_c)
            in_c = out_c
    state["fc.weight"] = torch.randn(num_classes, in_c)
    state["fc.bias"] = torch.randn(num_classes)
    return state


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "resnet18.pth"
    torch.save(resnet18_2d_state(), path)
    return path


def test_inflates_convs_and_copies_norms(checkpoint: Path) -> None:
    state2d = torch.load(checkpoint, weights_only=True)
    model = create_model("f4d_r18", 5, base_width=WIDTH, temporal="inflate")
    blocks4d_before = {k: v.clone() for k, v in model.blocks4d.state_dict().items()}
    fc_before = model.fc.weight.clone()
    report = inflate_from_2d(model, checkpoint)
    stem = model.conv1.weight  # (8, 3, 5, 7, 7): repeated 5 times, divided by 5
    torch.testing.assert_close(stem, state2d["conv1.weight"].unsqueeze(2).expand_as(stem) / 5)
    torch.testing.assert_close(stem.sum(dim=2), state2d["conv1.weight"])
    inflated = model.layer1[0].conv1.weight
    assert inflated.shape == (WIDTH, WIDTH, 3, 3, 3)
    torch.testing.assert_close(inflated[:, :, 1] * 3, state2d["layer1.0.conv1.weight"])
    flat = model.layer2[0].conv2.weight  # temporal kernel 1: copied as is
    torch.testing.assert_close(flat[:, :, 0], state2d["layer2.0.conv2.weight"])
    torch.testing.assert_close(model.layer4[1].bn2.running_var, state2d["layer4.1.bn2.running_var"])
    torch.testing.assert_close(model.bn1.weight, state2d["bn1.weight"])
    # the 4D block and the classifier are left alone and reported
    for key, value in model.blocks4d.state_dict().items():
        assert torch.equal(value, blocks4d_before[key])
    assert torch.equal(model.fc.weight, fc_before)
    assert report.ignored == ["fc.bias", "fc.weight"]
    assert set(report.untouched) == {
        k for k in model.state_dict() if k.startswith(("blocks4d.", "fc."))
    }
    assert len(report.loaded) == len(state2d) - 2


def test_inflated_c2d_model_runs(checkpoint: Path) -> None:
    model = create_model("tsn_r18", 3, base_width=WIDTH)
    report = inflate_from_2d(model, checkpoint)
    assert report.untouched == ["fc.weight", "fc.bias"]
    assert model.eval()(torch.randn(1, 2, 3, 2, 64, 64)).shape == (1, 3)


def test_missing_key_is_named(tmp_path: Path) -> None:
    state = resnet18_2d_state()
    del state["layer2.0.downsample.0.weight"]
    torch.save(state, tmp_path / "bad.pth")
    model = create_model("i3d_r18", 3, base_width=WIDTH)
    with pytest.raises(KeyError, match=r"no 'layer2.0.downsample.0.weight' \(model shape"):
        inflate_from_2d(model, tmp_path / "bad.pth")


def test_shape_mismatch_names_key_and_shapes(tmp_path: Path) -> None:
    torch.save(resnet18_2d_state(width=16), tmp_path / "wide.pth")
    model = create_model("i3d_r18", 3, base_width=WIDTH)
    with pytest.raises(
        ValueError, match=r"'conv1.weight' has shape \(16, 3, 7, 7\).*\(8, 3, 5, 7, 7\)"
    ):
        inflate_from_2d(model, tmp_path / "wide.pth")


def test_unexpected_key_and_missing_file(tmp_path: Path) -> None:
    state = resnet18_2d_state()
    state["layer5.0.conv1.weight"] = torch.randn(1)
    torch.save(state, tmp_path / "extra.pth")
    model = create_model("i3d_r18", 3, base_width=WIDTH)
    with pytest.raises(KeyError, match=r"keys the model lacks: \['layer5\.0\.conv1\.weight'\]"):
        inflate_from_2d(model, tmp_path / "extra.pth")
    with pytest.raises(FileNotFoundError, match=r"nope\.pth"):
        inflate_from_2d(model, tmp_path / "nope.pth")

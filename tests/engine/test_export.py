"""f4d.engine.export: ONNX in onnxruntime and TorchScript reproduce the PyTorch model."""

from __future__ import annotations

import pytest
import torch

from f4d.engine.export import (
    example_input,
    export_model,
    run_onnx,
    run_torchscript,
    verify_export,
)
from f4d.models import create_model

SHAPE = {"units": 4, "frames": 4, "size": 32}


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    net = create_model("f4d_tiny", 7).eval()
    with torch.no_grad():  # non-trivial BN statistics, so folding mistakes would show
        for module in net.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
    return net


def _expected(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x)


def test_onnx_in_onnxruntime_matches_pytorch_at_another_batch(model, tmp_path) -> None:
    result = export_model(model, tmp_path / "tiny.onnx", format="onnx", **SHAPE)
    assert result.exporter == "dynamo" and result.path.is_file()
    for batch in (2, 5):  # 2 = the export example's batch; 5 needs the dynamic batch axis
        x = example_input(batch=batch, **SHAPE)
        got = run_onnx(result.path, x)
        assert got.shape == (batch, 7)
        assert torch.allclose(got, _expected(model, x), atol=1e-4, rtol=0)


def test_static_batch_onnx_refuses_another_batch(model, tmp_path) -> None:
    path = tmp_path / "static.onnx"
    result = export_model(model, path, format="onnx", exporter="legacy", dynamic_batch=False,
                          **SHAPE)  # fmt: skip
    assert result.exporter == "legacy"
    assert verify_export(model, result) < 1e-4  # static: checked at the export batch
    with pytest.raises(Exception, match=r"(?i)dimension|shape"):
        run_onnx(path, example_input(batch=3, **SHAPE))


def test_torchscript_round_trip_within_1e5(model, tmp_path) -> None:
    result = export_model(model, tmp_path / "tiny.pt", format="torchscript", **SHAPE)
    x = example_input(batch=3, **SHAPE)
    got = run_torchscript(result.path, x)
    assert (got - _expected(model, x)).abs().max() <= 1e-5


def test_unknown_format_and_exporter_are_named(model, tmp_path) -> None:
    with pytest.raises(ValueError, match=r"'tflite'.*onnx, torchscript"):
        export_model(model, tmp_path / "m", format="tflite")
    with pytest.raises(ValueError, match="'tvm'"):
        export_model(model, tmp_path / "m", exporter="tvm")
    with pytest.raises(ValueError, match="frames must be >= 1"):
        example_input(units=4, frames=0, size=32)

"""`f4d export`: from a checkpoint (shape taken from its saved config) and from --model."""

from __future__ import annotations

import torch

from f4d.cli.main import main
from f4d.engine.checkpoint import save_checkpoint
from f4d.engine.export import example_input, run_torchscript
from f4d.models import create_model


def test_export_checkpoint_uses_saved_shape_and_weights(tmp_path, capsys) -> None:
    torch.manual_seed(0)
    model = create_model("tsn_tiny", 3).eval()
    config = {"data": {"units": 3, "frames": 2, "size": 16}}
    weights = save_checkpoint(
        tmp_path / "ckpt", model=model, optimizer=None, scheduler=None, scaler=None, epoch=1,
        step=10, best_metric=None, config=config, classes=["a", "b", "c"], tag="best",
    )  # fmt: skip
    out = tmp_path / "tsn.pt"
    assert main(["export", str(weights), "--format", "torchscript", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "(2, 3, 3, 2, 16, 16)" in text and "max |exported - PyTorch| = 0.00e+00" in text
    x = example_input(batch=2, units=3, frames=2, size=16)
    with torch.no_grad():
        assert torch.equal(run_torchscript(out, x), model(x))


def test_export_untrained_model_to_onnx(tmp_path, capsys) -> None:
    out = tmp_path / "tiny.onnx"
    args = ["export", "--model", "tsn_tiny", "--num-classes", "4", "--out", str(out),
            "--exporter", "legacy", "--units", "2", "--frames", "2", "--size", "16"]  # fmt: skip
    assert main(args) == 0
    assert out.is_file() and "onnx via legacy" in capsys.readouterr().out


def test_export_needs_exactly_one_source(tmp_path, capsys) -> None:
    assert main(["export", "--out", str(tmp_path / "x.onnx")]) == 2
    assert "f4d export: error: give either a CHECKPOINT or --model" in capsys.readouterr().err
    assert main(["export", "--model", "f4d_tiny", "--out", str(tmp_path / "x.onnx")]) == 2
    assert "--model needs --num-classes" in capsys.readouterr().err


def test_export_without_the_extra_names_the_pip_command(tmp_path, capsys, monkeypatch) -> None:
    """Issue 27 item 8: not "No module named 'onnxscript'" but `pip install 'f4d[export]'`."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "onnxscript" else real(name, *a),
    )
    out = tmp_path / "tiny.onnx"
    args = ["export", "--model", "tsn_tiny", "--num-classes", "4", "--out", str(out)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "not installed: onnxscript" in err and "pip install 'f4d[export]'" in err
    assert "Traceback" not in err and not out.exists()
    torchscript = [*args[:-2], "--out", str(tmp_path / "tiny.pt"), "--format", "torchscript"]
    assert main([*torchscript, "--units", "2", "--frames", "2", "--size", "16"]) == 0


def test_onnx_export_logs_no_torchvision_notes(tmp_path, capsys, caplog) -> None:
    """Issue 27 item 8: torch's four "torchvision is not installed" warnings are dropped."""
    import logging

    out = tmp_path / "tiny.onnx"
    args = ["export", "--model", "tsn_tiny", "--num-classes", "4", "--out", str(out),
            "--exporter", "dynamo", "--units", "2", "--frames", "2", "--size", "16",
            "--no-verify"]  # fmt: skip
    with caplog.at_level(logging.WARNING):
        assert main(args) == 0
    printed = caplog.text + "".join(capsys.readouterr())
    assert "onnx via dynamo" in printed and "torchvision" not in printed

"""A file that is not a usable checkpoint is named for what it is: missing, empty, a pickle,
truncated, written by another tool, or holding weights of another model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from f4d.engine import checkpoint as ckpt
from f4d.errors import InputError
from f4d.models import create_model


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The weights file of a tsn_tiny checkpoint with 3 classes."""
    folder = tmp_path_factory.mktemp("ckpt")
    model = create_model("tsn_tiny", 3)
    return ckpt.save_checkpoint(
        folder, model=model, optimizer=None, scheduler=None, scaler=None, epoch=1, step=1,
        best_metric=None, config={}, classes=["a", "b", "c"], tag="last",
    )  # fmt: skip


def _refused(path: Path) -> str:
    with pytest.raises(ckpt.CheckpointError) as info:
        ckpt.load_for_inference(path)
    assert isinstance(info.value, InputError) and info.value.hint
    return str(info.value)


def test_missing(tmp_path: Path) -> None:
    message = _refused(tmp_path / "runs" / "nope")
    assert message.startswith(f"no checkpoint at {tmp_path / 'runs' / 'nope'}")


def test_pickle_is_named_a_pickle_not_missing(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2)}, path)
    message = _refused(path)
    assert str(path) in message and "pickled PyTorch file" in message
    assert "no checkpoint" not in message
    renamed = tmp_path / "model.safetensors"  # a pickle under the right suffix
    renamed.write_bytes(path.read_bytes())
    assert "pickled PyTorch file" in _refused(renamed)


def test_empty_file(tmp_path: Path) -> None:
    for name in ("empty.safetensors", "empty.ckpt"):
        (tmp_path / name).touch()
        message = _refused(tmp_path / name)
        assert str(tmp_path / name) in message and "empty (0 bytes)" in message


def test_truncated_file(saved: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(saved.read_bytes()[:-100])
    message = _refused(cut)
    assert str(cut) in message and "truncated or damaged" in message


def test_safetensors_of_another_tool(tmp_path: Path) -> None:
    other = tmp_path / "resnet.safetensors"
    save_file({"fc.weight": torch.zeros(2, 2)}, str(other))
    message = _refused(other)
    assert str(other) in message and "not an f4d checkpoint" in message


def test_weights_of_another_model_under_this_meta(saved: Path, tmp_path: Path) -> None:
    meta = ckpt.load_meta(saved)
    swapped = tmp_path / "swapped.safetensors"
    weights = {k: v.contiguous() for k, v in create_model("f4d_tiny", 3).state_dict().items()}
    save_file(weights, str(swapped), metadata={"f4d_meta": json.dumps(meta)})
    message = _refused(swapped)
    assert str(swapped) in message and "do not fit model 'tsn_tiny'" in message


def test_unknown_model_name_in_meta(saved: Path, tmp_path: Path) -> None:
    meta = ckpt.load_meta(saved) | {"model_name": "f9d_future"}
    future = tmp_path / "future.safetensors"
    save_file(ckpt.load_weights(saved), str(future), metadata={"f4d_meta": json.dumps(meta)})
    message = _refused(future)
    assert "'f9d_future'" in message and "cannot build" in message

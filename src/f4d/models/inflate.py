"""Initialise a 3D video ResNet from a 2D ResNet state dict in torchvision's key layout."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

# keys the 2D checkpoint never sets: the 4D blocks and the (dataset-specific) classifier
OWN_PREFIXES = ("blocks4d.", "fc.")


@dataclass(frozen=True)
class InflateReport:
    """What :func:`inflate_from_2d` did: keys it set, model keys it left alone, 2D keys unused."""

    loaded: list[str]
    untouched: list[str]
    ignored: list[str]


def _load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"2D checkpoint {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} is not a flat state dict of tensors (key -> tensor)")
    return state


def inflate_tensor(key: str, value2d: torch.Tensor, shape3d: torch.Size) -> torch.Tensor:
    """A 2D tensor for model ``key`` made ``shape3d``: a conv weight ``(O, I, kh, kw)`` is repeated
    over a temporal kernel ``t`` and divided by ``t`` -> ``(O, I, t, kh, kw)``; others must match.
    """
    if len(shape3d) == 5 and value2d.ndim == 4:
        out_c, in_c, t, kh, kw = shape3d
        if tuple(value2d.shape) != (out_c, in_c, kh, kw):
            raise ValueError(
                f"2D weight {key!r} has shape {tuple(value2d.shape)}; the 3D model needs "
                f"{tuple(shape3d)}, i.e. a 2D kernel of {(out_c, in_c, kh, kw)}"
            )
        return value2d.unsqueeze(2).repeat(1, 1, t, 1, 1) / t
    if value2d.shape != shape3d:
        raise ValueError(
            f"2D tensor {key!r} has shape {tuple(value2d.shape)}, the model needs {tuple(shape3d)}"
        )
    return value2d


def inflate_from_2d(model: nn.Module, state_dict_path: str | Path) -> InflateReport:
    """Copy a 2D ResNet checkpoint (torchvision keys ``conv1.weight``, ``bn1.*``,
    ``layer1.0.conv1.weight``, ..., ``fc.*``) into a :class:`~f4d.models.VideoResNet`.

    Convolutions are inflated over their temporal kernel (repeated, divided by t), norm layers
    copied. The 4D blocks and the classifier keep their initialisation and are reported as
    ``untouched``; the 2D ``fc.*`` is reported as ``ignored``. A model key missing from the
    checkpoint, a checkpoint key the model lacks, or a shape mismatch raises with the key.
    """
    path = Path(state_dict_path)
    state2d = _load_state_dict(path)
    target = model.state_dict()
    loaded: dict[str, torch.Tensor] = {}
    untouched: list[str] = []
    for key, value in target.items():
        if key.startswith(OWN_PREFIXES):
            untouched.append(key)
        elif key in state2d:
            loaded[key] = inflate_tensor(key, state2d[key], value.shape).to(value.dtype)
        elif key.endswith("num_batches_tracked"):
            untouched.append(key)  # older checkpoints do not store the counter
        else:
            raise KeyError(
                f"2D checkpoint {path} has no {key!r} (model shape {tuple(value.shape)}); "
                "is it a torchvision ResNet of the same depth and width?"
            )
    unexpected = sorted(k for k in state2d if k not in target and not k.startswith("fc."))
    if unexpected:
        raise KeyError(f"2D checkpoint {path} has keys the model lacks: {unexpected[:10]}")
    model.load_state_dict(loaded, strict=False)
    ignored = sorted(k for k in state2d if k not in loaded)
    return InflateReport(loaded=sorted(loaded), untouched=untouched, ignored=ignored)

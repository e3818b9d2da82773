"""A plain model registry: name -> builder function, duplicate names are an error."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from typing import Any

from torch import nn

ModelBuilder = Callable[..., nn.Module]

_MODELS: dict[str, ModelBuilder] = {}


def register_model(fn_or_name: ModelBuilder | str) -> Any:
    """Register a builder ``fn(num_classes, **overrides) -> nn.Module`` under its name.

    Use as ``@register_model`` (the function's ``__name__``) or ``register_model("name")(fn)``.
    Registering a name twice raises ``ValueError``.
    """
    if isinstance(fn_or_name, str):
        return lambda fn: _add(fn_or_name, fn)
    return _add(fn_or_name.__name__, fn_or_name)


def _add(name: str, fn: ModelBuilder) -> ModelBuilder:
    if name in _MODELS:
        raise ValueError(f"model {name!r} is already registered")
    _MODELS[name] = fn
    return fn


def list_models(pattern: str | None = None) -> list[str]:
    """Sorted registered model names, optionally filtered by an fnmatch ``pattern``."""
    names = sorted(_MODELS)
    if pattern is None:
        return names
    return [name for name in names if fnmatch.fnmatchcase(name, pattern)]


def is_model(name: str) -> bool:
    """Whether ``name`` is a registered model."""
    return name in _MODELS


def create_model(name: str, num_classes: int, **overrides: Any) -> nn.Module:
    """Build the registered model ``name`` with ``num_classes`` outputs.

    ``overrides`` replace the variant's default constructor arguments, so
    ``create_model(m.model_name, **m.model_args)`` rebuilds the architecture of ``m``.
    The returned module carries ``model_name``.
    """
    if name not in _MODELS:
        close = difflib.get_close_matches(name, _MODELS, n=5, cutoff=0.5)
        hint = f"; close matches: {close}" if close else ""
        raise ValueError(
            f"unknown model {name!r}{hint}; see f4d.models.list_models() "
            f"for the {len(_MODELS)} registered names"
        )
    model = _MODELS[name](num_classes, **overrides)
    model.model_name = name
    return model

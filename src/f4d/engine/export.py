"""Export a video model to ONNX or TorchScript for deployment.

The exported graph takes one normalised float batch `(B, U, 3, T, H, W)` named ``video`` and
returns logits `(B, K)` named ``logits``. With ``dynamic_batch`` the batch axis B is symbolic, so
the file accepts any batch size; U, T, H and W are fixed at export time.

ONNX goes through ``torch.onnx.export``. The default ``exporter="auto"`` tries the dynamo-based
exporter (needs ``onnxscript``) and falls back to the TorchScript-based one (``dynamo=False``)
if the former fails; :func:`export_model` records which one was used in its result.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from f4d.errors import RunError

FORMATS = ("onnx", "torchscript")
EXPORTERS = ("auto", "dynamo", "legacy")
INPUT_NAME, OUTPUT_NAME = "video", "logits"
# The packages of the `export` extra: ONNX export (onnx, onnxscript) and its check (onnxruntime).
ONNX_PACKAGES = ("onnx", "onnxscript", "onnxruntime")
EXTRA_HINT = "pip install 'f4d[export]'"
# torch's ONNX exporter logs one warning per torchvision op it cannot register; f4d uses none.
_TORCHVISION_NOTE = "torchvision is not installed"
_REGISTRATION_LOGGER = "torch.onnx._internal.exporter._registration"


class ExportError(RunError, RuntimeError):
    """Exporting failed; the message names the format, the exporter and the cause."""


def require_onnx_packages(packages: tuple[str, ...] = ONNX_PACKAGES) -> None:
    """Raise :class:`ExportError` naming ``pip install 'f4d[export]'`` when any of ``packages``
    is not installed (before any work, instead of a bare ``No module named ...``)."""
    missing = [name for name in packages if importlib.util.find_spec(name) is None]
    if missing:
        raise ExportError(
            f"ONNX export needs {', '.join(packages)}; not installed: {', '.join(missing)}",
            hint=f"{EXTRA_HINT} (or --format torchscript, which needs nothing more)",
        )


@contextmanager
def _without_torchvision_notes() -> Iterator[None]:
    """Drop torch's "torchvision is not installed. Skipping torchvision::..." log lines for
    the duration of an export (the logger is left as it was)."""
    logger = logging.getLogger(_REGISTRATION_LOGGER)

    def keep(record: logging.LogRecord) -> bool:
        return _TORCHVISION_NOTE not in record.getMessage()

    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_model` wrote: the file, its format, how, and the example input shape."""

    path: Path
    format: str
    exporter: str
    input_shape: tuple[int, ...]
    dynamic_batch: bool


def example_input(
    *, units: int, frames: int, size: int, batch: int = 1, channels: int = 3
) -> Tensor:
    """A seeded random example batch `(batch, units, channels, frames, size, size)`."""
    for name, value in {"units": units, "frames": frames, "size": size, "batch": batch}.items():
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    generator = torch.Generator().manual_seed(0)
    return torch.randn(batch, units, channels, frames, size, size, generator=generator)


def export_model(
    model: nn.Module,
    out: str | Path,
    *,
    format: str = "onnx",
    units: int = 4,
    frames: int = 8,
    size: int = 224,
    opset: int = 18,
    dynamic_batch: bool = True,
    exporter: str = "auto",
) -> ExportResult:
    """Export ``model`` (put in eval mode, on CPU) to ``out`` as ONNX or TorchScript.

    The example input is `(2, units, C, frames, size, size)` (batch 2 so that no size-1
    batch axis gets specialised). ``opset`` and ``exporter`` only matter for ONNX.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; valid: {', '.join(FORMATS)}")
    if exporter not in EXPORTERS:
        raise ValueError(f"unknown ONNX exporter {exporter!r}; valid: {', '.join(EXPORTERS)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    channels = int(getattr(model, "in_channels", 3))
    x = example_input(units=units, frames=frames, size=size, batch=2, channels=channels)
    if format == "torchscript":
        _export_torchscript(model, x, out)
        used = "trace"
    else:
        require_onnx_packages(("onnx", "onnxscript"))
        with _without_torchvision_notes():
            used = _export_onnx(
                model, x, out, opset=opset, dynamic=dynamic_batch, exporter=exporter
            )
    return ExportResult(out, format, used, tuple(x.shape), dynamic_batch)


def _export_torchscript(model: nn.Module, x: Tensor, out: Path) -> None:
    """Trace (shapes flow through `aten::size`, so the batch stays free) and save."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, (x,), check_trace=False)
        buffer = io.BytesIO()  # written by Python, so a refused path is an OSError naming it
        torch.jit.save(traced, buffer)
    out.write_bytes(buffer.getvalue())


def _export_onnx(
    model: nn.Module, x: Tensor, out: Path, *, opset: int, dynamic: bool, exporter: str
) -> str:
    order = {"auto": ("dynamo", "legacy"), "dynamo": ("dynamo",), "legacy": ("legacy",)}
    errors = []
    for name in order[exporter]:
        try:
            _onnx_with(name, model, x, out, opset=opset, dynamic=dynamic)
        except Exception as err:  # the exporters raise many unrelated types
            errors.append(f"{name}: {type(err).__name__}: {str(err)[:300]}")
            continue
        return name
    raise ExportError(f"ONNX export of {out} failed with every exporter tried: {errors}")


def _onnx_with(
    exporter: str, model: nn.Module, x: Tensor, out: Path, *, opset: int, dynamic: bool
) -> None:
    common = {"input_names": [INPUT_NAME], "output_names": [OUTPUT_NAME], "opset_version": opset}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            shapes = {"x": {0: torch.export.Dim("batch", min=1)}} if dynamic else None
            torch.onnx.export(
                model, (x,), str(out), dynamo=True, external_data=False,
                dynamic_shapes=shapes, verbose=False, **common,
            )  # fmt: skip
        else:
            axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic else None
            torch.onnx.export(model, (x,), str(out), dynamo=False, dynamic_axes=axes, **common)


def run_onnx(path: str | Path, x: Tensor) -> Tensor:
    """Run an exported ONNX file in onnxruntime (CPU) on `x` `(B, U, C, T, H, W)` -> `(B, K)`."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    (logits,) = session.run(None, {name: x.detach().cpu().numpy()})
    return torch.from_numpy(logits)


def run_torchscript(path: str | Path, x: Tensor) -> Tensor:
    """Run a saved TorchScript file on `x` `(B, U, C, T, H, W)` -> `(B, K)`."""
    module = torch.jit.load(str(path), map_location="cpu")
    with torch.no_grad():
        return module(x)


def verify_export(model: nn.Module, result: ExportResult, *, batch: int = 3) -> float:
    """Max |exported - PyTorch| on a fresh input whose batch differs from the export example
    when the batch is dynamic (so that property is checked too). A file that onnxruntime or
    TorchScript cannot run is an :class:`ExportError` naming it."""
    _, units, channels, frames, size, _ = result.input_shape
    batch = batch if result.dynamic_batch else result.input_shape[0]
    x = example_input(units=units, frames=frames, size=size, batch=batch, channels=channels) * 0.5
    with torch.no_grad():
        expected = model.cpu().eval()(x)
    runner = run_onnx if result.format == "onnx" else run_torchscript
    try:
        got = runner(result.path, x)
    except Exception as err:  # onnxruntime and torch.jit raise their own types
        first = (str(err).strip().splitlines() or [""])[0][:300]
        raise ExportError(
            f"{result.path} was written ({result.format} via {result.exporter}) but does not "
            f"run: {type(err).__name__}: {first}",
            hint="try another --opset (default 18) or --exporter; --no-verify skips this check",
        ) from err
    return float((got.double() - expected.double()).abs().max())

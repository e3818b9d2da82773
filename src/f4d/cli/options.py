"""argparse ``type=`` functions: options are checked where they are parsed.

A value out of range, a path that must exist but does not, or an output folder that cannot be
written is refused by argparse with ``f4d CMD: error: argument --opt: <why>`` and exit code 2,
before any work starts, so a nonsense number never reaches a kernel. Each function raises
``argparse.ArgumentTypeError`` whose message names the value and what is allowed.

Upper bounds are generous limits of what can make sense (e.g. 4096 frames per unit), there to
refuse a mistyped number before it becomes a terabyte allocation.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "MAX_BATCH",
    "MAX_COUNT",
    "MAX_FRAMES",
    "MAX_SIZE",
    "MAX_WORKERS",
    "PRECISION_CHOICES",
    "add_precision_option",
    "config_file",
    "device_name",
    "existing_dir",
    "existing_file",
    "existing_path",
    "int_in",
    "model_name",
    "new_or_writable_dir",
    "positive_float",
    "probability",
    "video_input",
    "writable_file",
]

MAX_FRAMES = 4096  # frames, units, stride, temporal sizes
MAX_SIZE = 4096  # pixels (crop / frame side)
MAX_BATCH = 65536  # videos per batch
MAX_WORKERS = 1024  # processes / threads
MAX_COUNT = 10**8  # videos, classes, repeats
# f4d.models.precision.PRECISIONS (not imported: `f4d --help` stays free of torch)
PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")


def add_precision_option(parser: argparse.ArgumentParser, *, default: str | None = "auto") -> None:
    """``--precision auto|fp32|bf16|fp16``, the same word as ``run.amp`` (docs/training.md)."""
    parser.add_argument(
        "--precision",
        choices=PRECISION_CHOICES,
        default=default,
        help="numeric precision: auto (bf16 on CUDA and on CPUs with Intel AMX, else fp32; "
        "fp32 where the checkpoint's precision check failed), fp32, bf16, fp16 (CUDA only)"
        + ("" if default else "; default: the config's run.amp"),
    )


def int_in(low: int, high: int | None = None, *, even: bool = False) -> Callable[[str], int]:
    """An integer ``low <= n <= high`` (``high=None``: no upper bound); ``even``: n % 2 == 0."""

    def parse(text: str) -> int:
        allowed = f">= {low}" if high is None else f"in {low}..{high}"
        allowed += " and even" if even else ""
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an integer {allowed}, got {text!r}"
            ) from None
        if value < low or (high is not None and value > high) or (even and value % 2):
            raise argparse.ArgumentTypeError(f"expected an integer {allowed}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def positive_float(text: str) -> float:
    """A finite number > 0 (seconds, megabytes, ...)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def probability(text: str) -> float:
    """A number ``0 <= p <= 1`` (a probability threshold)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in 0..1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a number in 0..1, got {text!r}")
    return value


def existing_path(text: str) -> Path:
    """A file or folder that exists."""
    path = Path(text)
    if not text or not path.exists():
        raise argparse.ArgumentTypeError(f"no such file or folder: {text!r}")
    return path


def existing_file(text: str) -> Path:
    """A regular file that exists and is not empty."""
    path = existing_path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text} is a folder, expected a file")
    if path.stat().st_size == 0:
        raise argparse.ArgumentTypeError(f"{text} is empty (0 bytes)")
    return path


def config_file(text: str) -> Path:
    """A YAML config: a file that exists (an empty one means all defaults)."""
    path = existing_path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text} is a folder, expected a YAML config file")
    return path


def existing_dir(text: str) -> Path:
    """A folder that exists."""
    path = existing_path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, expected a folder")
    return path


def new_or_writable_dir(text: str) -> Path:
    """An output folder: one that exists and is writable, or one that can be created."""
    if not text:
        raise argparse.ArgumentTypeError("expected a folder, got an empty path")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, expected a folder to write into")
    _check_writable(path, text)
    return path


def writable_file(text: str) -> Path:
    """An output file: not a folder, in a folder that exists writable or can be created."""
    if not text:
        raise argparse.ArgumentTypeError("expected a file name, got an empty path")
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder, expected a file to write")
    if path.exists() and not os.access(path, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text}: permission denied")
    _check_writable(path.parent, text)
    return path


def _check_writable(folder: Path, text: str) -> None:
    """Refuse ``folder`` unless it, or its nearest existing ancestor, is a writable folder."""
    existing = folder.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text}: {existing} is a file, not a folder")
    try:  # a real write (root passes os.access checks on read-only or virtual file systems)
        os.rmdir(tempfile.mkdtemp(prefix=".f4d-write-test-", dir=existing))
    except OSError as err:
        reason = err.strerror or str(err)
        raise argparse.ArgumentTypeError(f"cannot write {text}: {existing}: {reason}") from None


def model_name(text: str) -> str:
    """A registered model name (close matches are suggested)."""
    import difflib

    from f4d.models import list_models

    names = list_models()
    if text in names:
        return text
    close = difflib.get_close_matches(text, names, n=4, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise argparse.ArgumentTypeError(
        f"unknown model {text!r}{hint} ({len(names)} registered; see docs/models.md)"
    )


def device_name(text: str) -> str:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N``, the CUDA ones only where that GPU exists."""
    import re

    match = re.fullmatch(r"auto|cpu|cuda(?::(\d+))?", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda or cuda:N, got {text!r}")
    if text.startswith("cuda"):
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count <= int(match.group(1) or 0):
            raise argparse.ArgumentTypeError(
                f"{text}: this machine has {count} CUDA device(s); use cpu or auto"
            )
    return text


def video_input(text: str) -> str:
    """A video to predict that exists: a file, or a frame folder; a folder of videos (or a
    dataset folder) is refused with what it holds and what to give instead (an unreadable file
    is reported when it is read)."""
    from f4d.data.media import not_a_frame_folder

    existing_path(text)
    if Path(text).is_dir():
        problem = not_a_frame_folder(text)
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
    return text

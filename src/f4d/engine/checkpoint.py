"""Self-contained checkpoints: safetensors weights + ``weights_only`` state + a meta json.

A checkpoint with tag ``last`` in ``dir`` is three files::

    dir/last.safetensors   model weights of the unwrapped model; the meta json in its header
    dir/last.state.pt      optimizer / scheduler / scaler / RNG states, epoch, step, best metric,
                           resolved config -- plain tensors and containers, read with
                           ``torch.load(weights_only=True)`` so no pickled code ever runs
    dir/last.json          meta: model_name, model_args, num_classes, classes, epoch, step, ...

Each save gets a fresh ``save_id`` (stored in the meta of all three files) and is written, with
fsync, into its own folder ``dir/.saves/last@<save_id>/``; nothing there is visible yet. ONE
rename then commits the whole set: the symlink ``dir/.saves/last`` is atomically repointed to
the new folder. The three names above are fixed relative symlinks through that pointer
(``last.safetensors -> .saves/last/last.safetensors``), so they always show the files of one
save -- a crash at any point leaves the previous save or the new one, never a mix. Folders no
pointer names (older saves, saves a crash left uncommitted) are deleted by the next save.
Readers check that weights and state carry the same ``save_id`` and refuse a mismatch (e.g.
files copied together by hand); :func:`latest_complete_checkpoint` picks the newest checkpoint
of a folder whose files agree. The layout needs a file system with symlinks (POSIX).
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file as load_safetensors
from safetensors.torch import save as safetensors_bytes
from torch import nn

from f4d.errors import InputError

__all__ = [
    "CheckpointError",
    "InitReport",
    "amend_meta",
    "capture_rng_state",
    "check_compatible",
    "checkpoint_paths",
    "init_from_checkpoint",
    "latest_complete_checkpoint",
    "load_for_inference",
    "load_meta",
    "load_training_state",
    "load_weights",
    "prune_checkpoints",
    "resolve_checkpoint",
    "restore_rng_state",
    "save_checkpoint",
    "unwrap_model",
    "verify_checkpoint",
]

WEIGHTS_SUFFIX = ".safetensors"
STATE_SUFFIX = ".state.pt"
META_SUFFIX = ".json"
_META_HEADER_KEY = "f4d_meta"
SAVES_DIR = ".saves"  # holds <tag>@<save_id>/ folders and the <tag> -> folder pointers
_PERIODIC_TAG = re.compile(r"^(epoch|step)_\d+$")
_SUFFIXES = (WEIGHTS_SUFFIX, STATE_SUFFIX, META_SUFFIX)


class CheckpointError(InputError, RuntimeError):
    """A checkpoint is missing, unreadable, or belongs to a different model / class count."""


# ------------------------------------------------------------------------------------ writing


def save_checkpoint(
    dir: str | Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    scheduler: Any | None,
    scaler: Any | None,
    epoch: int,
    step: int,
    best_metric: float | None,
    config: Mapping[str, Any] | None,
    classes: list[str],
    tag: str,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write checkpoint ``tag`` into ``dir`` atomically; return the path of its weights file.

    ``epoch`` is the number of completed epochs and ``step`` the number of optimizer steps.
    All three files are written under a new ``save_id`` and committed by one rename (see the
    module docstring). Refuses (``CheckpointError``) to write weights that hold NaN or infinity.
    Assumes one writer per folder (rank 0).
    """
    if not tag or "/" in tag or "@" in tag or tag.startswith("."):
        raise CheckpointError(f"invalid checkpoint tag {tag!r} (no '/', '@' or leading '.')")
    dir = Path(dir)
    net = unwrap_model(model)
    weights = _weights_for_saving(net, tag)
    extra = {**dict(extra or {}), "save_id": uuid.uuid4().hex}
    meta = _build_meta(
        net, classes=classes, epoch=epoch, step=step, best_metric=best_metric, extra=extra
    )
    state = {
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
        "rng": capture_rng_state(),
        "epoch": int(epoch),
        "step": int(step),
        "best_metric": None if best_metric is None else float(best_metric),
        "config": json.loads(json.dumps(dict(config or {}))),
        "meta": meta,
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    _commit(dir, tag, _files(weights, buffer.getvalue(), meta), meta["save_id"])
    return dir / f"{tag}{WEIGHTS_SUFFIX}"


def amend_meta(path: str | Path, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Add ``fields`` to the meta of the checkpoint at ``path`` (a tag of an f4d checkpoint
    folder, e.g. ``runs/x/checkpoints/best``); returns the new meta.

    Written as a new save, committed like :func:`save_checkpoint` (same weights and training
    state, a fresh ``save_id`` in all three files), so a crash leaves the old meta or the new.
    """
    weights_path = resolve_checkpoint(path)
    tag = weights_path.name[: -len(WEIGHTS_SUFFIX)]
    state = load_training_state(weights_path)
    meta = {**load_meta(weights_path), **dict(fields), "save_id": uuid.uuid4().hex}
    state["meta"] = meta
    buffer = io.BytesIO()
    torch.save(state, buffer)
    files = _files(load_weights(weights_path), buffer.getvalue(), meta)
    _commit(weights_path.parent, tag, files, meta["save_id"])
    return meta


def _files(weights: dict[str, torch.Tensor], state: bytes, meta: dict) -> dict[str, bytes]:
    return {
        WEIGHTS_SUFFIX: safetensors_bytes(weights, metadata={_META_HEADER_KEY: json.dumps(meta)}),
        STATE_SUFFIX: state,
        META_SUFFIX: json.dumps(meta, indent=2).encode(),
    }


def _commit(dir: Path, tag: str, files: Mapping[str, bytes], save_id: str) -> None:
    """Write ``files`` into a new save folder of ``dir`` and point ``tag`` at it (one rename)."""
    dir.mkdir(parents=True, exist_ok=True)
    saves = dir / SAVES_DIR
    saves.mkdir(exist_ok=True)
    _adopt_plain_files(dir, tag)
    folder = saves / f"{tag}@{save_id}"
    try:
        _write_save_folder(folder, tag, files)
        _replace_symlink(saves / tag, folder.name)  # THE commit point
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    _fsync_dir(saves)
    for suffix in _SUFFIXES:
        _replace_symlink(dir / f"{tag}{suffix}", f"{SAVES_DIR}/{tag}/{tag}{suffix}")
    _fsync_dir(dir)
    _remove_unreferenced_saves(saves)


def prune_checkpoints(dir: str | Path, keep_last: int) -> list[str]:
    """Delete all but the newest ``keep_last`` periodic (``epoch_N`` / ``step_N``) checkpoints.

    ``last`` and ``best`` are never touched. Returns the removed tags.
    """
    dir = Path(dir)
    tags = sorted(
        (p.name[: -len(WEIGHTS_SUFFIX)] for p in dir.glob(f"*{WEIGHTS_SUFFIX}") if p.exists()),
        key=lambda t: (dir / f"{t}{WEIGHTS_SUFFIX}").stat().st_mtime_ns,
    )
    periodic = [t for t in tags if _PERIODIC_TAG.match(t)]
    removed = periodic[: max(0, len(periodic) - keep_last)]
    for tag in removed:
        for path in checkpoint_paths(dir / tag).values():
            path.unlink(missing_ok=True)
        (dir / SAVES_DIR / tag).unlink(missing_ok=True)
    if removed:
        _remove_unreferenced_saves(dir / SAVES_DIR)
    return removed


def _weights_for_saving(net: nn.Module, tag: str) -> dict[str, torch.Tensor]:
    """Plain, contiguous CPU copies of the state dict (safetensors refuses shared storage)."""
    weights = {k: v.detach().to("cpu").contiguous().clone() for k, v in net.state_dict().items()}
    bad = [k for k, v in weights.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(
            f"refusing to write checkpoint '{tag}': non-finite values in {len(bad)} tensors "
            f"(first: {bad[0]})"
        )
    return weights


def _build_meta(
    net: nn.Module,
    *,
    classes: list[str],
    epoch: int,
    step: int,
    best_metric: float | None,
    extra: Mapping[str, Any] | None,
) -> dict[str, Any]:
    meta = {
        "format": "f4d-checkpoint-1",
        "model_name": getattr(net, "model_name", type(net).__name__),
        "model_args": dict(getattr(net, "model_args", {})),
        "num_classes": int(getattr(net, "num_classes", len(classes))),
        "classes": list(classes),
        "epoch": int(epoch),
        "step": int(step),
        "best_metric": best_metric,
        "torch": str(torch.__version__),
    }
    meta.update(dict(extra or {}))
    return meta


def _write_save_folder(folder: Path, tag: str, files: Mapping[str, bytes]) -> None:
    """Create ``folder`` and write ``<tag><suffix>`` for each of ``files``, all fsynced."""
    folder.mkdir()
    for suffix, data in files.items():
        with open(folder / f"{tag}{suffix}", "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    _fsync_dir(folder)


def _adopt_plain_files(dir: Path, tag: str) -> None:
    """Put a checkpoint of the older layout (three plain files) behind a pointer first.

    Its files are hard-linked (or copied) into a save folder that the pointer then names, so
    each plain file is replaced by a link to the same bytes and no crash shows two saves.
    """
    plain = [dir / f"{tag}{s}" for s in _SUFFIXES if (dir / f"{tag}{s}").is_file()]
    if not any(not path.is_symlink() for path in plain):
        return
    folder = dir / SAVES_DIR / f"{tag}@adopted-{uuid.uuid4().hex}"
    folder.mkdir()
    for path in plain:
        try:
            os.link(path, folder / path.name)
        except OSError:  # file systems without hard links
            shutil.copy2(path, folder / path.name)
    _fsync_dir(folder)
    _replace_symlink(dir / SAVES_DIR / tag, folder.name)
    for suffix in _SUFFIXES:
        _replace_symlink(dir / f"{tag}{suffix}", f"{SAVES_DIR}/{tag}/{tag}{suffix}")


def _replace_symlink(link: Path, target: str) -> None:
    """Atomically make ``link`` a symlink to ``target`` (one ``os.replace``); no-op if it is."""
    if link.is_symlink() and os.readlink(link) == target:
        return
    tmp = link.with_name(f".{link.name}.{uuid.uuid4().hex[:8]}.tmp")
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _remove_unreferenced_saves(saves: Path) -> None:
    """Delete save folders no ``<tag>`` pointer names and temp links a crash left behind."""
    if not saves.is_dir():
        return
    entries = list(saves.iterdir())
    live = {os.readlink(p) for p in entries if p.is_symlink() and not p.name.startswith(".")}
    for path in entries:
        if path.is_symlink() and path.name.startswith(".") and path.name.endswith(".tmp"):
            path.unlink(missing_ok=True)
        elif path.is_dir() and not path.is_symlink() and "@" in path.name and path.name not in live:
            shutil.rmtree(path, ignore_errors=True)
    for path in saves.parent.glob(".*.tmp"):
        if path.is_symlink():
            path.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------------ reading


def checkpoint_paths(stem: str | Path) -> dict[str, Path]:
    """The three files of the checkpoint whose path without suffix is ``stem``."""
    stem = Path(stem)
    return {
        "weights": stem.with_name(stem.name + WEIGHTS_SUFFIX),
        "state": stem.with_name(stem.name + STATE_SUFFIX),
        "meta": stem.with_name(stem.name + META_SUFFIX),
    }


def resolve_checkpoint(path: str | Path) -> Path:
    """Return the ``.safetensors`` file meant by ``path``.

    Accepts the weights file itself, its stem (``runs/x/checkpoints/last``), the ``.state.pt`` or
    ``.json`` companion, a checkpoint folder or a run folder (``best`` preferred over ``last``).
    """
    given = path = Path(path)
    if path.name.endswith(WEIGHTS_SUFFIX) and path.is_file():
        return path
    for suffix in (STATE_SUFFIX, META_SUFFIX):
        if path.name.endswith(suffix):
            path = path.with_name(path.name[: -len(suffix)])
    candidates = [checkpoint_paths(path)["weights"]]
    if path.is_dir():
        for folder in (path, path / "checkpoints"):
            candidates += [folder / f"best{WEIGHTS_SUFFIX}", folder / f"last{WEIGHTS_SUFFIX}"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    if given.is_file():  # a file, but none of the checkpoint's: say what it is instead
        raise CheckpointError(f"{given} is not an f4d checkpoint: {_what_file(given)}", hint=_HINT)
    raise CheckpointError(
        f"no checkpoint at {path} (looked for: {', '.join(str(c) for c in candidates)})",
        hint=_HINT,
    )


_HINT = "give an f4d run's .safetensors file, its stem (runs/x/checkpoints/best) or the run folder"


def _what_file(path: Path) -> str:
    """What ``path`` holds, judged from its first bytes: empty, a pickle, or something else."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
    if size == 0:
        return "the file is empty (0 bytes)"
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        return (
            "it is a pickled PyTorch file (torch.save), which f4d never loads because "
            "unpickling can run code; f4d checkpoints are safetensors files"
        )
    return f"expected a safetensors file ({WEIGHTS_SUFFIX}), got {size} bytes of something else"


def _unreadable(weights: Path, err: Exception) -> CheckpointError:
    """The error for a weights file safetensors cannot open: empty, a pickle, or torn."""
    if weights.stat().st_size == 0 or _what_file(weights).startswith("it is a pickled"):
        return CheckpointError(f"checkpoint {weights}: {_what_file(weights)}", hint=_HINT)
    return CheckpointError(
        f"checkpoint {weights} is truncated or damaged (safetensors: {err})",
        hint="a copy cut short or a disk error; use another save (last, best, epoch_N)",
    )


def load_meta(path: str | Path) -> dict[str, Any]:
    """Read the meta dict from the safetensors header of the checkpoint at ``path``."""
    weights = resolve_checkpoint(path)
    try:
        with safe_open(str(weights), framework="pt") as handle:
            header = handle.metadata() or {}
    except Exception as err:
        raise _unreadable(weights, err) from err
    if _META_HEADER_KEY not in header:
        raise CheckpointError(
            f"{weights} is a safetensors file but not an f4d checkpoint (no '{_META_HEADER_KEY}' "
            "in its header: written by another tool?)",
            hint=_HINT,
        )
    try:
        return json.loads(header[_META_HEADER_KEY])
    except ValueError as err:
        raise CheckpointError(f"checkpoint {weights}: damaged meta header ({err})") from err


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Load the weight tensors of the checkpoint at ``path`` (no code is executed)."""
    weights = resolve_checkpoint(path)
    try:
        return load_safetensors(str(weights), device="cpu")
    except Exception as err:
        raise _unreadable(weights, err) from err


def load_training_state(path: str | Path) -> dict[str, Any]:
    """Load ``<tag>.state.pt`` next to the checkpoint at ``path`` with ``weights_only=True``.

    Raises ``CheckpointError`` when the state belongs to another save than the weights (their
    ``save_id`` differs), so weights and optimizer state of two saves are never combined.
    """
    weights = resolve_checkpoint(path)
    state_path = weights.with_name(weights.name[: -len(WEIGHTS_SUFFIX)] + STATE_SUFFIX)
    if not state_path.is_file():
        raise CheckpointError(f"training state {state_path} is missing; cannot resume from it")
    try:
        state = torch.load(state_path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"cannot read training state {state_path}: {err}") from err
    mine = (state.get("meta") or {}).get("save_id") if isinstance(state, dict) else None
    theirs = load_meta(weights).get("save_id")
    if mine != theirs:
        raise CheckpointError(
            f"torn checkpoint: {state_path} is from save {mine} but {weights} from save "
            f"{theirs}; refusing to combine two saves"
        )
    return state


def verify_checkpoint(path: str | Path) -> dict[str, Any]:
    """Return the meta of the checkpoint at ``path`` if all three files are from one save.

    Reads the weights header, ``<tag>.json`` and ``<tag>.state.pt`` (``weights_only=True``);
    raises ``CheckpointError`` naming the file when one is missing, unreadable or from another
    save (different ``save_id`` or step).
    """
    weights = resolve_checkpoint(path)
    meta = load_meta(weights)
    state = load_training_state(weights)
    files = checkpoint_paths(weights.with_name(weights.name[: -len(WEIGHTS_SUFFIX)]))
    json_path = files["meta"]
    try:
        on_disk = json.loads(json_path.read_text())
    except (OSError, ValueError) as err:
        raise CheckpointError(f"cannot read checkpoint meta {json_path}: {err}") from err
    for source, other in ((json_path, on_disk), (files["state"], state["meta"])):
        if (other.get("save_id"), other.get("step")) != (meta.get("save_id"), meta["step"]):
            raise CheckpointError(
                f"torn checkpoint: {source} (save {other.get('save_id')}, step "
                f"{other.get('step')}) does not match {weights} (save {meta.get('save_id')}, "
                f"step {meta['step']})"
            )
    return meta


def latest_complete_checkpoint(dir: str | Path, *, log: Any = None) -> Path | None:
    """The weights file of the newest complete checkpoint in ``dir`` (``None`` if there is none).

    Candidates are all tags (``last``, ``best``, ``epoch_N``, ``step_N``), newest step first,
    ``last`` first among equal steps; one whose files fail :func:`verify_checkpoint` is skipped
    (``log(message)`` says why), so a damaged ``last`` falls back to the previous good save.
    """
    found = []
    for weights in Path(dir).glob(f"*{WEIGHTS_SUFFIX}"):
        try:
            step = int(load_meta(weights)["step"])
        except (CheckpointError, KeyError, ValueError) as err:
            _say(log, f"skipping checkpoint {weights}: {err}")
            continue
        found.append((step, weights.name == f"last{WEIGHTS_SUFFIX}", weights))
    for _, _, weights in sorted(found, key=lambda f: (f[0], f[1], f[2].name), reverse=True):
        try:
            verify_checkpoint(weights)
        except CheckpointError as err:
            _say(log, f"skipping checkpoint {weights}: {err}")
            continue
        return weights
    return None


def _say(log: Any, message: str) -> None:
    if log is not None:
        log(message)


def load_for_inference(
    path: str | Path, *, device: str | torch.device = "cpu"
) -> tuple[nn.Module, list[str], dict[str, Any]]:
    """Rebuild the model stored at ``path`` and load its weights.

    Returns ``(model in eval mode on device, classes, meta)``.
    """
    from f4d.models import create_model

    meta = load_meta(path)
    source = resolve_checkpoint(path)
    args = dict(meta.get("model_args", {}))
    args.setdefault("num_classes", meta.get("num_classes"))
    try:
        model = create_model(meta.get("model_name"), **args)
    except (ValueError, TypeError) as err:  # unknown to this f4d version, or bad arguments
        raise CheckpointError(
            f"checkpoint {source} holds model {meta.get('model_name')!r} with args {args}, which "
            f"this f4d {_f4d_version()} cannot build: {err}",
            hint="load it with the f4d version that wrote it (meta 'torch' and files say which)",
        ) from err
    check_compatible(model, meta, source=str(source))
    weights = load_weights(path)
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as err:  # missing / unexpected keys, other shapes
        first = str(err).strip().splitlines()[0]
        raise CheckpointError(
            f"checkpoint {source}: its weights do not fit model '{meta.get('model_name')}' "
            f"({first})",
            hint="the files were edited or mixed with another model's; use a save as f4d wrote it",
        ) from err
    return model.to(device).eval(), list(meta.get("classes", [])), meta


def _f4d_version() -> str:
    from f4d import __version__

    return __version__


def check_compatible(model: nn.Module, meta: Mapping[str, Any], *, source: str) -> None:
    """Raise ``CheckpointError`` unless ``model`` has the checkpoint's architecture and K."""
    net = unwrap_model(model)
    mine = (getattr(net, "model_name", type(net).__name__), int(getattr(net, "num_classes", -1)))
    theirs = (meta.get("model_name"), int(meta.get("num_classes", -1)))
    if mine[0] != theirs[0]:
        raise CheckpointError(
            f"checkpoint {source} holds model '{theirs[0]}' but the run builds '{mine[0]}'"
        )
    if mine[1] != theirs[1]:
        raise CheckpointError(
            f"checkpoint {source} has {theirs[1]} classes but the run's '{mine[0]}' has {mine[1]}"
        )
    my_args = _comparable_args(getattr(net, "model_args", {}))
    their_args = _comparable_args(meta.get("model_args", {}))
    if my_args != their_args:
        raise CheckpointError(
            f"checkpoint {source} was built with model args {their_args} but the run uses "
            f"{my_args} (same name '{mine[0]}', different architecture)"
        )


def _comparable_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """Model args that change the architecture (dropout and class count do not)."""
    ignored = {"num_classes", "dropout", "drop_rate", "drop_path_rate"}
    return {k: v for k, v in json.loads(json.dumps(dict(args))).items() if k not in ignored}


# ------------------------------------------------------------------------------ init_from


@dataclass
class InitReport:
    """What :func:`init_from_checkpoint` did, key by key."""

    loaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # in both, shape differs or classifier reset
    missing: list[str] = field(default_factory=list)  # in the model, not in the checkpoint
    unexpected: list[str] = field(default_factory=list)  # in the checkpoint, not in the model


def init_from_checkpoint(
    model: nn.Module,
    path: str | Path,
    *,
    reset_classifier: bool = False,
    exclude: Sequence[str] = (),
    print_report: bool = True,
) -> InitReport:
    """Initialise ``model`` from another run's weights (other dataset, possibly other variant).

    Tensors are copied where name and shape match. The classifier keeps its fresh
    initialisation when its shape differs (another class count) or ``reset_classifier`` is set;
    keys starting with one of the ``exclude`` prefixes are skipped too.
    Raises ``CheckpointError`` when no tensor matches at all.
    """
    net = unwrap_model(model)
    source = load_weights(path)
    target = net.state_dict()
    head = _classifier_keys(net) if reset_classifier else set()
    report = InitReport(
        missing=sorted(set(target) - set(source)),
        unexpected=sorted(set(source) - set(target)),
    )
    to_load = {}
    for key in sorted(set(target) & set(source)):
        excluded = any(key.startswith(prefix) for prefix in exclude)
        if excluded or key in head or source[key].shape != target[key].shape:
            report.skipped.append(key)
        else:
            to_load[key] = source[key]
            report.loaded.append(key)
    if not to_load:
        raise CheckpointError(f"init_from {path}: no tensor matches the model by name and shape")
    net.load_state_dict(to_load, strict=False)
    if print_report:
        print_init_report(report, str(path))
    return report


def _classifier_keys(net: nn.Module) -> set[str]:
    get = getattr(net, "get_classifier", None)
    if get is None:
        return set()
    head = get()
    for name, module in net.named_modules():
        if module is head:
            return {f"{name}.{k}" if name else k for k in head.state_dict()}
    return set()


def print_init_report(report: InitReport, source: str, *, max_names: int = 12) -> None:
    """Print counts and (the first) names of loaded / skipped / missing / unexpected keys."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"init_from {source}")
    table.add_column("keys")
    table.add_column("count", justify="right")
    table.add_column("names")
    for label in ("loaded", "skipped", "missing", "unexpected"):
        names = getattr(report, label)
        shown = ", ".join(names[:max_names]) + (" ..." if len(names) > max_names else "")
        table.add_row(label, str(len(names)), shown)
    Console().print(table)


# ------------------------------------------------------------------------------ utilities


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain model under DDP (``.module``) and ``torch.compile`` (``._orig_mod``) wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def capture_rng_state() -> dict[str, Any]:
    """RNG states of python, numpy and torch (CPU and CUDA) as weights_only-safe containers."""
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state(legacy=True)
    state = {
        "python": [version, list(internal), gauss],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])

"""Run folders: what a training run leaves in ``run.out_dir`` and the policy that protects it.

A folder *holds a run* when it has a checkpoint, a logged epoch (``metrics.jsonl``) or a
``train_summary.json``. A new run (``run.resume`` unset) never writes into such a folder: it
stops with :class:`RunExistsError` naming ``--resume``, a fresh folder and ``--overwrite``
(``train(cfg, overwrite=True)``), which first removes the old run's files -- only the files a
run writes (:data:`RUN_FILES`), never anything else in the folder.

``run.resume`` picks how a run continues (docs/training.md, "Resume"):

- ``latest`` (``f4d train --resume``): the newest complete checkpoint in
  ``<out_dir>/checkpoints``; none there (a mistyped folder, a run that never saved) is an
  :class:`InputError`, never a silent fresh start;
- ``auto``: the same when there is one, else a new run (the same command relaunched by a job
  scheduler or torchrun's elastic agent);
- a path: that checkpoint.
"""

from __future__ import annotations

import difflib
import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from f4d.errors import InputError, OptionError

__all__ = [
    "RESUME_AUTO",
    "RESUME_LATEST",
    "RUN_FILES",
    "ExistingRun",
    "RunExistsError",
    "changed_keys",
    "existing_run",
    "free_folder",
    "missing_checkpoint_error",
    "remove_run",
    "run_exists_error",
]

RESUME_AUTO = "auto"
RESUME_LATEST = "latest"
CHECKPOINT_DIR = "checkpoints"
METRICS_FILE = "metrics.jsonl"
STEPS_FILE = "steps.jsonl"
SUMMARY_FILE = "train_summary.json"
# Everything a training run (and `f4d test` of it) writes into its folder; --overwrite
# removes these and nothing else.
RUN_FILES = (CHECKPOINT_DIR, METRICS_FILE, STEPS_FILE, SUMMARY_FILE, "config.yaml",
             "classes.json", "tb", "plots", "test", "confusion.npy")  # fmt: skip
_OLD_TEST_FILES = ("test_multi_*", "test_single_*")  # results of `f4d test` before issue 27


class RunExistsError(OptionError):
    """``run.out_dir`` already holds a run and this is a new run (exit 2: nothing ran)."""


@dataclass(frozen=True)
class ExistingRun:
    """What a run folder holds: epochs logged, whether it finished, its checkpoint tags."""

    folder: Path
    epochs_logged: int
    finished: bool
    checkpoints: tuple[str, ...]

    def describe(self) -> str:
        """``"a finished run (3 epochs logged; checkpoints best, last)"``."""
        state = "a finished run" if self.finished else "an unfinished run"
        tags = ", ".join(self.checkpoints) or "none"
        plural = "" if self.epochs_logged == 1 else "s"
        return f"{state} ({self.epochs_logged} epoch{plural} logged; checkpoints: {tags})"


def existing_run(folder: str | Path) -> ExistingRun | None:
    """The run ``folder`` holds, or ``None`` when it holds none (absent, empty, or leftovers
    of a start that saved nothing)."""
    folder = Path(folder)
    ckpt_dir = folder / CHECKPOINT_DIR
    tags = sorted(p.name[: -len(".safetensors")] for p in ckpt_dir.glob("*.safetensors"))
    epochs = _count_lines(folder / METRICS_FILE)
    finished = (folder / SUMMARY_FILE).is_file()
    if not (tags or epochs or finished):
        return None
    return ExistingRun(folder, epochs, finished, tuple(tags))


def _count_lines(path: Path) -> int:
    try:
        return sum(1 for line in path.read_text().splitlines() if line.strip())
    except (FileNotFoundError, NotADirectoryError):
        return 0


def free_folder(folder: str | Path) -> Path:
    """The first of ``folder-1``, ``folder-2``, ... that does not exist (a fresh run folder)."""
    folder = Path(folder)
    n = 1
    while folder.with_name(f"{folder.name}-{n}").exists():
        n += 1
    return folder.with_name(f"{folder.name}-{n}")


def run_exists_error(run: ExistingRun) -> RunExistsError:
    """The refusal of a new run in ``run.folder`` (which holds ``run``)."""
    return RunExistsError(
        f"run.out_dir={run.folder} already holds {run.describe()}; a new run does not overwrite it",
        hint=f"continue it with --resume (run.resume=latest), train into a fresh folder with "
        f"run.out_dir={free_folder(run.folder)}, or replace it with --overwrite "
        "(train(cfg, overwrite=True))",
    )


def remove_run(folder: str | Path, *, log: Callable[[str], None] | None = None) -> list[str]:
    """Delete the files of :data:`RUN_FILES` (and old ``test_*`` results) in ``folder``;
    return their names. Other files in the folder stay."""
    folder = Path(folder)
    found = [folder / name for name in RUN_FILES if (folder / name).exists()]
    found += [p for pattern in _OLD_TEST_FILES for p in sorted(folder.glob(pattern))]
    for path in found:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    if log is not None and found:
        log(f"--overwrite: removed the old run's {', '.join(p.name for p in found)} in {folder}")
    return [p.name for p in found]


def missing_checkpoint_error(folder: str | Path) -> InputError:
    """``run.resume=latest`` found no complete checkpoint in ``folder`` (the run folder)."""
    folder = Path(folder)
    if not folder.is_dir():
        what = "does not exist"
        near = _similar_folders(folder)
        if near:
            what += f" (did you mean {' or '.join(near)}?)"
    elif not (folder / CHECKPOINT_DIR).is_dir():
        what = "holds no checkpoints/ folder"
    else:
        what = f"holds no complete checkpoint in {folder / CHECKPOINT_DIR}"
    return InputError(
        f"--resume (run.resume=latest): nothing to resume: run folder {folder} {what}",
        hint="give the run's folder as run.out_dir=..., or drop --resume to start a new run",
    )


def _similar_folders(folder: Path) -> list[str]:
    parent = folder.parent if folder.parent.is_dir() else None
    if parent is None:
        return []
    names = [p.name for p in parent.iterdir() if p.is_dir()]
    return [str(parent / n) for n in difflib.get_close_matches(folder.name, names, n=2)]


def changed_keys(
    saved: Mapping[str, Any], current: Mapping[str, Any], *, ignore: tuple[str, ...] = ()
) -> dict[str, tuple[Any, Any]]:
    """Dotted keys whose values differ between two resolved configs: ``{key: (saved, now)}``."""
    old, new = _flatten(saved), _flatten(current)
    return {
        key: (old.get(key), new.get(key))
        for key in sorted(old.keys() | new.keys())
        if key not in ignore and _json(old.get(key)) != _json(new.get(key))
    }


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)

"""Which split of a dataset to read: the one resolver behind training, testing and data check.

:func:`resolve_split` turns the split asked for (``train``, ``val``/``validation``, ``test``,
any name) into the split a format reads: ``val`` becomes the format's held-out split
(UCF101's and HMDB51's ``test`` lists, Something-Something's ``validation``, a folder
dataset's ``val/`` or else ``test/``), and a split that a folder or csv dataset does not hold
is an error naming the splits it does hold. :func:`index_from_config` reads the split a data
config (``format``, ``root``, ``train_list``, ``val_list``, ...) describes, for
:mod:`f4d.engine.loaders` and :mod:`f4d.data.check` alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from f4d.data.formats.core import DEFAULT_FORMAT, DatasetIndex
from f4d.data.formats.registry import DatasetFormat, get_format, load_index
from f4d.data.media import VALIDATION_NAMES
from f4d.errors import ConfigError, OptionError


class SplitNotFoundError(OptionError, FileNotFoundError):
    """The dataset holds no such split; the message names the splits it holds."""


@dataclass(frozen=True)
class SplitChoice:
    """The split asked for (``requested``) and the format's split read for it (``name``).

    ``note`` is empty when they are the same thing, else one line for the user, e.g.
    ``"validation uses test/ (data/mine has no val/)"``.
    """

    requested: str
    name: str
    note: str = ""


def resolve_split(
    fmt: DatasetFormat | str, root: Path, split: str, *, listed: bool = False
) -> SplitChoice:
    """The split of ``fmt`` at ``root`` that serves ``split``.

    ``listed``: the list file was given explicitly, so what the dataset folder holds does not
    matter. Raises :class:`SplitNotFoundError` when a folder or csv dataset holds splits but
    not this one (nor, for validation, any held-out split).
    """
    entry = get_format(fmt) if isinstance(fmt, str) else fmt
    validation = split in VALIDATION_NAMES
    wanted = (split, *entry.validation) if validation else (split,)
    present = None if listed or entry.find_splits is None else entry.find_splits(Path(root))
    if not present:  # a format with fixed split names, or a dataset without split folders
        known = [n for n in wanted if n in entry.splits] or [split]
        return _choice(entry, root, split, known[0], present)
    found = [n for n in wanted if n in present]
    if not found:
        raise SplitNotFoundError(_missing(entry, Path(root), split, present))
    return _choice(entry, root, split, found[0], present)


def _choice(
    entry: DatasetFormat, root: Path, split: str, name: str, present: tuple[str, ...] | None
) -> SplitChoice:
    if name == split or (split in VALIDATION_NAMES and name in VALIDATION_NAMES):
        return SplitChoice(split, name)
    if present:
        note = f"validation uses {entry.show(name)} ({root} has no {entry.show(split)})"
    else:
        note = f"validation uses the {name} split ({entry.name} has no {split} split)"
    return SplitChoice(split, name, note)


def _missing(entry: DatasetFormat, root: Path, split: str, present: tuple[str, ...]) -> str:
    shown = ", ".join(entry.show(n) for n in present)
    held_out = [n for n in entry.validation if n in present]
    uses = f"validation uses {entry.show(held_out[0])}" if held_out else "none is held out"
    what = "no validation split" if split in VALIDATION_NAMES else f"no split {split!r}"
    return f"{what} in {root}: its splits are {shown} ({uses})"


# --------------------------------------------------------------------------- data configs
def index_from_config(data: Mapping[str, Any], split: str = "train") -> DatasetIndex:
    """Parse the ``split`` (``train``, ``val``, ``test``, ...) a data config describes.

    ``data`` is a mapping (a dict, or an OmegaConf ``data`` section) with ``format`` (default
    ``csv``) and ``root``, and optionally ``train_list`` / ``val_list`` (the split's list file;
    ``train_list`` serves ``train``, ``val_list`` every other split), ``annotations`` (a
    folder of list files), ``classes``, ``train_unit_labels`` / ``val_unit_labels``, and
    ``split`` (the fold, 1-3). Paths are relative to ``root`` unless absolute. The index's
    ``split`` says which split was read (e.g. a folder dataset's ``test/`` for ``val``).
    """
    entry = get_format(data.get("format") or DEFAULT_FORMAT)
    root = Path(data["root"])
    train = split == "train"
    list_key = "train_list" if train else "val_list"
    list_file = _under(root, data.get(list_key))
    for key in (list_key, "annotations"):
        if data.get(key) and not {"list_file", "annotations"} & entry.options:
            raise ConfigError(
                f"data.{key}={data.get(key)!r}: format {entry.name!r} reads no list files "
                f"(its splits are {entry.show('<split>')} under data.root); remove the key"
            )
    options = {
        "class_file": _under(root, data.get("classes")),
        "units_file": _under(root, data.get("train_unit_labels" if train else "val_unit_labels")),
    }
    return load_index(
        entry.name, root, split=split, fold=int(data.get("split") or 1),
        annotations=list_file or _under(root, data.get("annotations")),
        **{k: v for k, v in options.items() if k in entry.options},
    )  # fmt: skip


def _under(root: Path, name: str | None) -> Path | None:
    if not name:
        return None
    path = Path(name)
    return path if path.is_absolute() else root / path

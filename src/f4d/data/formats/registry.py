"""The dataset formats by name: what each loads, which splits it has, which options it takes.

A format module registers its loader with :func:`register_format`; :func:`load_index` and the
split resolver (:mod:`f4d.data.formats.splits`) read only the :class:`DatasetFormat` entry,
never a format's name, so adding a dataset is adding one module (imported by
``f4d/data/formats/__init__.py``, or by your own code before :func:`load_index` is called).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from f4d.data.formats.core import DatasetIndex
from f4d.errors import OptionError

LOADER_OPTIONS = ("fold", "annotations", "list_file", "class_file", "units_file")
Loader = Callable[..., DatasetIndex]


@dataclass(frozen=True)
class DatasetFormat:
    """One registered format.

    ``load(root, *, split, check_files, allow_outside_root, **options)`` parses one split;
    ``options`` names which of :data:`LOADER_OPTIONS` it also takes (``fold``: 1-3;
    ``annotations``: a folder of list files; ``list_file``: a split's list file given
    directly). ``splits`` are the format's own split names and ``validation`` the ones a
    validation split may be, first present wins. ``find_splits(root)``, for formats whose
    splits are whatever the dataset holds (``train/`` folders, ``test.csv``), returns the split
    names present under ``root`` (empty for a dataset without splits), and ``split_pattern``
    shows a split name as the user sees it on disk (``"{}/"``: ``test/``).
    """

    name: str
    load: Loader
    splits: tuple[str, ...]
    validation: tuple[str, ...]
    options: frozenset[str] = frozenset()
    find_splits: Callable[[Path], tuple[str, ...]] | None = None
    split_pattern: str = "{}"

    def show(self, split: str) -> str:
        """``split`` as it appears in the dataset (``test/``, ``test.csv``)."""
        return self.split_pattern.format(split)


FORMATS: dict[str, DatasetFormat] = {}


def register_format(
    name: str,
    *,
    splits: tuple[str, ...],
    validation: tuple[str, ...],
    options: tuple[str, ...] = (),
    find_splits: Callable[[Path], tuple[str, ...]] | None = None,
    split_pattern: str = "{}",
) -> Callable[[Loader], Loader]:
    """Decorator: register ``load`` as format ``name`` (a second ``name`` is an error)."""
    unknown = sorted(set(options) - set(LOADER_OPTIONS))
    if unknown:
        raise ValueError(f"format {name!r}: unknown options {unknown}; valid: {LOADER_OPTIONS}")
    if not set(validation) <= set(splits):
        raise ValueError(f"format {name!r}: validation {validation} not among splits {splits}")

    def add(load: Loader) -> Loader:
        if name in FORMATS:
            raise ValueError(f"dataset format {name!r} is already registered")
        FORMATS[name] = DatasetFormat(
            name, load, tuple(splits), tuple(validation), frozenset(options), find_splits,
            split_pattern,
        )  # fmt: skip
        return load

    return add


def get_format(name: str) -> DatasetFormat:
    """The format registered as ``name``; an unknown name lists the valid ones."""
    if name not in FORMATS:
        raise OptionError(f"unknown dataset format {name!r}; valid: {', '.join(FORMATS)}")
    return FORMATS[name]


def load_index(
    fmt: str,
    root: Path,
    *,
    split: str = "train",
    fold: int = 1,
    annotations: Path | None = None,
    class_file: Path | None = None,
    units_file: Path | None = None,
    check_files: bool = False,
    allow_outside_root: bool = False,
) -> DatasetIndex:
    """Parse one split of a dataset given its format name (a key of :data:`FORMATS`).

    ``split`` goes through :func:`~f4d.data.formats.splits.resolve_split` (``val`` finds the
    split validation uses, e.g. ``test/``; the index's ``split`` says which). ``csv``:
    ``root`` is a csv file, or a folder holding ``<split>.csv``. ``folder``: ``root`` (or
    ``root/<split>`` if it exists) has one sub-folder per class. ``fold`` (1-3) is only used
    by formats with folds (``ucf101``, ``hmdb51``). ``annotations`` overrides where list files
    are found: a folder, or the split's list file itself (formats taking ``list_file``; for
    the others a file stands for its folder). ``class_file`` / ``units_file``: a class list
    and per-unit labels, for the formats that take them.
    """
    from f4d.data.formats.splits import resolve_split

    entry = get_format(fmt)
    kwargs: dict = {"check_files": check_files, "allow_outside_root": allow_outside_root}
    if "fold" in entry.options:
        kwargs["fold"] = fold
    kwargs.update(_annotation_kwargs(entry, annotations))
    for key, value in (("class_file", class_file), ("units_file", units_file)):
        if value is not None:
            if key not in entry.options:
                raise OptionError(f"format {entry.name!r} takes no {key}")
            kwargs[key] = Path(value)
    choice = resolve_split(entry, Path(root), split, listed=annotations is not None)
    index = entry.load(Path(root), split=choice.name, **kwargs)
    return replace(index, split=choice)


def _annotation_kwargs(entry: DatasetFormat, annotations: Path | None) -> dict:
    """``annotations`` (a folder, or a list file) as the loader's keyword arguments."""
    takes_folder = "annotations" in entry.options
    if annotations is None:
        return {"annotations": None} if takes_folder else {}
    path = Path(annotations)
    if path.is_file() and "list_file" in entry.options:
        return {"list_file": path, **({"annotations": path.parent} if takes_folder else {})}
    if not takes_folder:
        raise OptionError(f"format {entry.name!r} takes no separate annotations folder")
    return {"annotations": path.parent if path.is_file() else path}

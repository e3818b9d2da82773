"""Folder datasets: ``root/<class>/<video file or frame folder>``, optionally per split
(``root/train/<class>/...``, ``root/test/<class>/...``)."""

from __future__ import annotations

from pathlib import Path

from f4d.data.formats.core import (
    AnnotationError,
    Collector,
    DatasetIndex,
    class_list,
    read_class_file,
)
from f4d.data.formats.registry import register_format
from f4d.data.media import (
    SPLIT_NAMES,
    VALIDATION_NAMES,
    describe_folder,
    is_frame_folder,
    is_video_file,
    split_folders,
)


def load_folder(
    root: Path,
    *,
    class_file: Path | None = None,
    check_files: bool = False,
    allow_outside_root: bool = False,
) -> DatasetIndex:
    """One sub-folder per class: ``root/<class>/<video file or frame folder>``.

    Classes are the order of ``class_file`` (default ``root/classes.txt`` if present; then
    every sub-folder must be listed, and listed classes may lack a folder), else the sorted
    sub-folder names. Hidden entries are ignored. A ``root`` that holds videos itself (one
    class folder), frame images (one video) or split folders (``train/``, ``test/``) is an
    error saying so.
    """
    root = Path(root)
    if not root.is_dir():
        raise AnnotationError(f"dataset folder not found: {root}")
    _check_layout(root)
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    class_file = class_list(class_file, (root,))
    classes = read_class_file(class_file) if class_file is not None else tuple(folders)
    unknown = sorted(set(folders) - set(classes))
    if unknown:
        raise AnnotationError(f"{class_file}: class folders not listed: {unknown}")
    out = Collector(root=root, classes=classes, allow_outside_root=allow_outside_root)
    for label, name in enumerate(classes):
        for entry in _videos(root / name):
            out.add(entry.relative_to(root), label, file=root / name, line=None)
    if not out.records:
        raise AnnotationError(f"no videos found under {root} (classes: {list(classes)[:5]})")
    return out.build(source=str(root), check_files=check_files)


def _check_layout(root: Path) -> None:
    """Refuse a class folder or a split dataset given where class folders are expected."""
    found = describe_folder(root)
    if found.kind == "videos":
        raise AnnotationError(
            f"{root} looks like one class folder: it holds {found.count('video')} directly "
            f"({found.shown()}); give its parent ({root.parent}) as the dataset root, which "
            "holds one sub-folder per class"
        )
    if found.kind == "frames":
        raise AnnotationError(
            f"{root} looks like one video's frame folder: it holds {found.count('image')} "
            f"directly ({found.shown()}); give the dataset root, which holds one sub-folder per "
            "class (each holding videos or frame folders)"
        )
    if found.kind == "splits":
        shown = ", ".join(f"{name}/" for name in found.names)
        raise AnnotationError(
            f"{root} holds split folders ({shown}), not class folders; name the split "
            "(--split / data.val_list) or give one split folder as the root"
        )


def _videos(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [
        e for e in sorted(folder.iterdir())
        if not e.name.startswith(".") and (is_video_file(e) or is_frame_folder(e))
    ]  # fmt: skip


@register_format(
    "folder", splits=SPLIT_NAMES, validation=(*VALIDATION_NAMES, "test"),
    options=("class_file",), find_splits=split_folders, split_pattern="{}/",
)  # fmt: skip
def load_folder_split(root: Path, *, split: str = "train", **kwargs) -> DatasetIndex:
    """``root/<split>/<class>/...`` (classes from ``root/classes.txt`` if present, so every
    split gets the same labels) or ``root/<class>/...``."""
    root = Path(root)
    if (root / split).is_dir():
        if (root / "classes.txt").is_file() and not (root / split / "classes.txt").is_file():
            kwargs.setdefault("class_file", root / "classes.txt")
        root = root / split
    return load_folder(root, **kwargs)

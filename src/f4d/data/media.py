"""What kind of file or folder a path is: video file suffixes, frame-image suffixes, folders.

The one place that says which suffixes make a video file and which make a frame image, for the
dataset formats (:mod:`f4d.data.formats`) and the frame-folder reader alike, and
:func:`describe_folder`, which tells a frame folder from a folder of videos, a class folder, a
dataset of class folders and one split into ``train/``, ``val/``, ``test/`` folders, so that a
folder given in the wrong place gets a message saying what it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

VIDEO_EXTENSIONS = (".mp4", ".avi", ".webm", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".ogv")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")  # frames of a frame folder
VALIDATION_NAMES = ("val", "validation", "valid", "validate")  # words for the held-out split
SPLIT_NAMES = ("train", *VALIDATION_NAMES, "test")  # split folders of a dataset

FOLDER_KINDS = ("frames", "videos", "classes", "splits", "empty", "other")
_SHOWN = 3


@dataclass(frozen=True)
class FolderKind:
    """What a folder holds (see :func:`describe_folder`).

    ``kind`` is one of :data:`FOLDER_KINDS`: ``frames`` (images: a frame folder), ``videos``
    (video files directly: one class folder, or a folder of inputs), ``classes`` (sub-folders
    that hold videos or frame folders), ``splits`` (split folders such as ``train/`` and
    ``test/``), ``empty`` or ``other``. ``names`` lists the entries that decided it (sorted).
    """

    path: Path
    kind: str
    names: tuple[str, ...]

    def count(self, noun: str) -> str:
        """``"1 video"``, ``"2 videos"``: how many ``names`` there are."""
        return f"{len(self.names)} {noun}{'' if len(self.names) == 1 else 's'}"

    def shown(self) -> str:
        """The first few ``names``, e.g. ``"a.mp4, b.mp4, ... (5 in all)"``."""
        more = f", ... ({len(self.names)} in all)" if len(self.names) > _SHOWN else ""
        return ", ".join(self.names[:_SHOWN]) + more


def is_video_file(path: Path) -> bool:
    """A file whose suffix is one of :data:`VIDEO_EXTENSIONS` (any case)."""
    return path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS


def is_frame_image(path: Path) -> bool:
    """A file whose suffix is one of :data:`IMAGE_SUFFIXES` (any case)."""
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def is_frame_folder(path: Path) -> bool:
    """A folder holding at least one frame image."""
    return path.is_dir() and any(is_frame_image(p) for p in path.iterdir())


def describe_folder(path: str | Path) -> FolderKind:
    """Classify the folder ``path`` by its visible (not hidden) entries.

    Frame images win (a frame folder), then video files (a folder of videos), then split
    folders (``train/``, ``test/``, ... that themselves hold sub-folders), then sub-folders
    holding videos or frame folders (a dataset of class folders).

    Raises:
        NotADirectoryError: ``path`` is not a folder.
    """
    path = Path(path)
    if not path.is_dir():
        raise NotADirectoryError(f"not a folder: {path}")
    entries = sorted((p for p in path.iterdir() if not p.name.startswith(".")), key=_name)
    for kind, test in (("frames", is_frame_image), ("videos", is_video_file)):
        names = tuple(p.name for p in entries if test(p))
        if names:
            return FolderKind(path, kind, names)
    splits = split_folders(path)
    if splits:
        return FolderKind(path, "splits", splits)
    classes = tuple(p.name for p in entries if p.is_dir() and _holds_media(p))
    if classes:
        return FolderKind(path, "classes", classes)
    return FolderKind(path, "empty" if not entries else "other", tuple(p.name for p in entries))


def _name(path: Path) -> str:
    return path.name


def split_folders(path: str | Path) -> tuple[str, ...]:
    """The split folders of the dataset folder ``path``, in :data:`SPLIT_NAMES` order.

    A split folder has a split's name (``train``, ``val``, ``test``, ...) and holds class
    folders; a class that happens to be called ``test`` (holding videos) is not one.
    """
    path = Path(path)
    return tuple(
        name for name in SPLIT_NAMES
        if (path / name).is_dir() and describe_folder(path / name).kind == "classes"
    )  # fmt: skip


def _holds_media(path: Path) -> bool:
    return any(is_video_file(p) or is_frame_folder(p) for p in path.iterdir())


def not_a_frame_folder(path: str | Path) -> str | None:
    """Why the folder ``path`` is not a frame folder when it is something else known, or None.

    For a folder of videos: ``"is a folder of 2 videos (a.mp4, b.mp4), not a frame folder;
    give the video files themselves (e.g. DIR/a.mp4)"``; for a dataset (class or split
    folders) a similar line. None for a frame folder, an empty folder or anything else.
    """
    found = describe_folder(path)
    if found.kind == "videos":
        example = Path(path) / found.names[0]
        return (
            f"{path} is a folder of {found.count('video')} ({found.shown()}), not a frame "
            f"folder of images; give the video files themselves (e.g. {example})"
        )
    if found.kind in ("classes", "splits"):
        what = "class" if found.kind == "classes" else "split"
        return (
            f"{path} is a dataset folder ({what} folders: {found.shown()}), not a frame folder "
            "of images; give video files or frame folders, or use `f4d data check` on a dataset"
        )
    return None

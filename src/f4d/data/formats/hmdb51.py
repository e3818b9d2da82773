"""HMDB51: the 51 per-class ``<class>_test_split<fold>.txt`` files (3 folds).

Videos live at ``root/<class>/<video>.avi``. HMDB51 has no validation split: the test rows of
the fold serve as one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from f4d.data.formats.core import (
    AnnotationFileNotFound,
    Collector,
    DatasetIndex,
    annotation_dirs,
    check_fold,
    check_split,
    fail,
    read_class_file,
    read_lines,
)
from f4d.data.formats.registry import register_format

SPLITS = ("train", "test")
_SPLIT_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<fold>[123])\.txt$")
_FLAGS = {"train": "1", "test": "2"}


@register_format(
    "hmdb51", splits=SPLITS, validation=("test",), options=("fold", "annotations", "class_file")
)
def load_hmdb51(
    root: Path,
    *,
    split: str = "train",
    fold: int = 1,
    annotations: Path | None = None,
    class_file: Path | None = None,
    check_files: bool = False,
    allow_outside_root: bool = False,
) -> DatasetIndex:
    """HMDB51 from the 51 per-class ``<class>_test_split<fold>.txt`` files.

    Each row is ``<video>.avi <flag>`` with flag 1 = train, 2 = test, 0 = unused (skipped).
    Classes are the file-name prefixes sorted by name (the MMAction2 label map order), or the
    order of ``class_file`` (e.g. TSN's ``class_list.txt``, which must name exactly the same
    classes). Videos live at ``root/<class>/<video>.avi``.
    """
    split = check_split(split, SPLITS, "hmdb51")
    check_fold(fold)
    dirs = annotation_dirs(root, annotations, ("testTrainMulti_7030_splits", "splits"))
    files = _split_files(dirs, fold)
    classes = tuple(sorted(files))
    if class_file is not None:
        classes = read_class_file(class_file)
        if sorted(classes) != sorted(files):
            diff = sorted(set(classes) ^ set(files))
            raise fail(Path(class_file), None, f"classes differ from the split files: {diff}")
    out = Collector(root=root, classes=classes, allow_outside_root=allow_outside_root)
    for label, name in enumerate(classes):
        for number, video in _rows(files[name], _FLAGS[split]):
            out.add(f"{name}/{video}", label, file=files[name], line=number)
    return out.build(source=f"{files[classes[0]].parent} fold {fold}", check_files=check_files)


def _rows(path: Path, wanted: str) -> list[tuple[int, str]]:
    """``(line, video)`` of the rows of one class file whose flag is ``wanted``."""
    rows = []
    for number, line in read_lines(path):
        parts = line.split()
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise fail(path, number, f"expected '<video>.avi <0|1|2>', got {line!r}")
        if parts[1] == wanted:
            rows.append((number, parts[0]))
    return rows


def _split_files(dirs: Sequence[Path], fold: int) -> dict[str, Path]:
    for folder in dirs:
        found = {}
        if folder.is_dir():
            for path in folder.iterdir():
                match = _SPLIT_FILE.match(path.name)
                if match and int(match["fold"]) == fold:
                    found[match["cls"]] = path
        if found:
            return found
    tried = ", ".join(str(d) for d in dirs)
    raise AnnotationFileNotFound(f"no HMDB51 '*_test_split{fold}.txt' files in: {tried}")

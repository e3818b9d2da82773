"""UCF101: ``classInd.txt`` + ``trainlist0N.txt`` / ``testlist0N.txt`` (3 folds).

Videos live at ``root/<Class>/v_<Class>_gXX_cYY.avi``. UCF101 has no validation split: the
official test list of the fold serves as one.
"""

from __future__ import annotations

from pathlib import Path

from f4d.data.formats.core import (
    Collector,
    DatasetIndex,
    Labels,
    annotation_dirs,
    check_fold,
    check_split,
    fail,
    find_file,
    read_lines,
)
from f4d.data.formats.registry import register_format

SPLITS = ("train", "test")


@register_format("ucf101", splits=SPLITS, validation=("test",), options=("fold", "annotations"))
def load_ucf101(
    root: Path,
    *,
    split: str = "train",
    fold: int = 1,
    annotations: Path | None = None,
    check_files: bool = False,
    allow_outside_root: bool = False,
) -> DatasetIndex:
    """UCF101 from ``classInd.txt`` + ``trainlist0N.txt`` / ``testlist0N.txt``.

    Videos live at ``root/<Class>/v_<Class>_gXX_cYY.avi``. Train rows are ``Class/v_x.avi K``
    with ``K`` the 1-based ``classInd`` index (it must agree with the folder); test rows are
    ``Class/v_x.avi`` and take the label from the folder. CRLF line ends are accepted.
    """
    split = check_split(split, SPLITS, "ucf101")
    check_fold(fold)
    dirs = annotation_dirs(root, annotations, ("ucfTrainTestlist",))
    classes = _read_class_ind(find_file(dirs, ("classInd.txt",), "UCF101 classInd.txt"))
    list_file = find_file(dirs, (f"{split}list0{fold}.txt",), f"UCF101 {split}list0{fold}.txt")
    labels = Labels(classes)
    out = Collector(root=root, classes=classes, allow_outside_root=allow_outside_root)
    for number, line in read_lines(list_file):
        rel, label = _row(line, split, labels, list_file, number)
        out.add(rel, label, file=list_file, line=number)
    return out.build(source=str(list_file), check_files=check_files)


def _read_class_ind(path: Path) -> tuple[str, ...]:
    classes: list[str] = []
    for number, line in read_lines(path):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise fail(path, number, f"expected '<index> <ClassName>', got {line!r}")
        if int(parts[0]) != len(classes) + 1:
            raise fail(
                path, number, f"class index {parts[0]} out of order, expected {len(classes) + 1}"
            )
        classes.append(parts[1])
    if not classes:
        raise fail(path, None, "no classes in file")
    return tuple(classes)


def _row(line: str, split: str, labels: Labels, file: Path, number: int) -> tuple[str, int]:
    """``(relative path, label)`` of one list row; the train label must match the folder."""
    parts = line.split()
    expected = 2 if split == "train" else 1
    if len(parts) != expected:
        form = "'Class/v_x.avi K'" if split == "train" else "'Class/v_x.avi'"
        raise fail(file, number, f"expected {form}, got {line!r}")
    rel = parts[0]
    folder = rel.split("/")[0] if "/" in rel else ""
    unknown = f"unknown class folder {folder!r} in {rel!r}"
    label = labels.lookup(folder, file=file, line=number, unknown=unknown)
    if split == "train":
        classes = labels.classes
        if not parts[1].isdigit() or not 1 <= int(parts[1]) <= len(classes):
            raise fail(file, number, f"label {parts[1]!r} is not in 1..{len(classes)}")
        if int(parts[1]) - 1 != label:
            raise fail(
                file,
                number,
                f"label {parts[1]} ({classes[int(parts[1]) - 1]}) disagrees with folder {folder!r}",
            )
    return rel, label

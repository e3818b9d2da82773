"""The format registry: adding a dataset is adding one module (here: a toy format in a test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from f4d.data.formats import (
    FORMATS,
    Collector,
    DatasetIndex,
    Labels,
    annotation_dirs,
    check_split,
    class_list,
    fail,
    find_file,
    load_index,
    read_class_file,
    read_lines,
    register_format,
)
from f4d.errors import OptionError


@pytest.fixture
def toy_format():
    """A format the library does not know: ``<split>.lst`` rows ``<video> <class name>``."""

    @register_format("toy", splits=("train", "dev"), validation=("dev",), options=("annotations",))
    def load_toy(
        root: Path, *, split: str, annotations: Path | None = None, **kwargs
    ) -> DatasetIndex:
        split = check_split(split, ("train", "dev"), "toy")
        dirs = annotation_dirs(root, annotations, ("lists",))
        list_file = find_file(dirs, (f"{split}.lst",), f"toy {split}.lst")
        labels = Labels(read_class_file(class_list(None, dirs)))
        out = Collector(root=root, classes=labels.classes,
                        allow_outside_root=kwargs["allow_outside_root"])  # fmt: skip
        for number, line in read_lines(list_file):
            video, _, name = line.partition(" ")
            if not name:
                raise fail(list_file, number, f"expected '<video> <class>', got {line!r}")
            label = labels.lookup(name, file=list_file, line=number, unknown=f"no class {name!r}")
            out.add(video, label, file=list_file, line=number)
        return out.build(source=str(list_file), check_files=kwargs["check_files"])

    yield load_toy
    del FORMATS["toy"]


def test_a_registered_format_loads_through_load_index(toy_format, tmp_path):
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "classes.txt").write_text("jump\nrun\n")
    (tmp_path / "lists" / "dev.lst").write_text("a.mp4 run\n\nb.mp4 jump\n")
    index = load_index("toy", tmp_path, split="val")  # val -> the format's held-out "dev"
    assert [(r.path, r.label) for r in index.records] == [
        (tmp_path / "a.mp4", 1), (tmp_path / "b.mp4", 0),
    ]  # fmt: skip
    assert (index.classes, index.split.name, index.split.note) == (
        ("jump", "run"),
        "dev",
        "validation uses the dev split (toy has no val split)",
    )


def test_a_registered_format_gets_the_shared_errors(toy_format, tmp_path):
    (tmp_path / "classes.txt").write_text("jump\n")
    (tmp_path / "train.lst").write_text("a.mp4 jump\na.mp4 jump\n")
    with pytest.raises(ValueError, match=r"train.lst:2: duplicate video 'a.mp4' \(first at "):
        load_index("toy", tmp_path)
    (tmp_path / "train.lst").write_text("a.mp4 swim\n")
    with pytest.raises(ValueError, match=r"train.lst:1: no class 'swim'"):
        load_index("toy", tmp_path)
    with pytest.raises(OptionError, match="format 'toy' takes no class_file"):
        load_index("toy", tmp_path, class_file=tmp_path / "classes.txt")


def test_registering_a_name_twice_is_an_error(toy_format):
    with pytest.raises(ValueError, match="'toy' is already registered"):
        register_format("toy", splits=("train",), validation=())(toy_format)


def test_a_registration_is_checked(toy_format):
    with pytest.raises(ValueError, match=r"unknown options \['folds'\]"):
        register_format("other", splits=("train",), validation=(), options=("folds",))
    with pytest.raises(ValueError, match=r"validation \('val',\) not among splits"):
        register_format("other", splits=("train",), validation=("val",))


def test_load_index_names_no_format():
    """The dispatch reads registry entries only: no format name appears in its source."""
    import inspect

    from f4d.data.formats import registry, splits

    code = inspect.getsource(registry) + inspect.getsource(splits)
    named = [name for name in FORMATS if f'"{name}"' in code or f"'{name}'" in code]
    assert named == []


def test_a_module_added_to_the_package_registers_itself(tmp_path, monkeypatch):
    """Adding a dataset is adding one file: a module beside the built-in ones is imported with
    the package (here from an extra folder on the package's path) and its format is known."""
    import sys

    from f4d.data import formats

    (tmp_path / "zz_toy_format.py").write_text(
        "from f4d.data.formats.registry import register_format\n\n\n"
        "@register_format('zz_toy', splits=('train',), validation=())\n"
        "def load(root, *, split, **kwargs):\n"
        "    raise NotImplementedError\n"
    )
    monkeypatch.setattr(formats, "__path__", [*formats.__path__, str(tmp_path)])
    try:
        formats._import_format_modules()
        assert list(FORMATS)[-1] == "zz_toy"
        assert list(FORMATS)[:3] == ["csv", "folder", "ucf101"]  # built-ins keep their order
    finally:
        FORMATS.pop("zz_toy", None)
        sys.modules.pop("f4d.data.formats.zz_toy_format", None)

"""Dataset formats: one module per format on a shared core, found by name in a registry.

``load_index(format, root, split=...)`` parses one split of any registered format into a
:class:`DatasetIndex`; ``index_from_config(data, split)`` does it for a data config (the one
split resolver of training, testing and ``f4d data check``). Formats: ``csv``
(:mod:`.csvlist`), ``folder`` (:mod:`.folder`), ``ucf101``, ``hmdb51``, ``sthv1`` / ``sthv2``
(:mod:`.something`), ``k400`` (:mod:`.kinetics`). Adding a dataset is adding one module to this
package that decorates its loader with :func:`register_format` (see ``docs/datasets.md``):
every module here other than the shared ones (:data:`SHARED_MODULES`) is imported, so its
formats register, the built-in ones first in the order above (the order formats are listed in).
"""

import importlib
import pkgutil

# isort: off
from f4d.data.formats import csvlist, folder, ucf101, hmdb51, something, kinetics  # noqa: F401  (built-in formats, in listing order)

# isort: on
from f4d.data.formats.core import (
    CLASS_FILE,
    AnnotationError,
    AnnotationFileNotFound,
    Collector,
    DatasetIndex,
    Labels,
    VideoRecord,
    annotation_dirs,
    check_fold,
    check_split,
    class_list,
    fail,
    find_file,
    read_class_file,
    read_lines,
    read_text,
    require_files,
)
from f4d.data.formats.csvlist import load_csv
from f4d.data.formats.folder import load_folder
from f4d.data.formats.hmdb51 import load_hmdb51
from f4d.data.formats.kinetics import load_k400
from f4d.data.formats.registry import (
    FORMATS,
    DatasetFormat,
    get_format,
    load_index,
    register_format,
)
from f4d.data.formats.something import json_array_lines, load_sthv1, load_sthv2
from f4d.data.formats.splits import (
    SplitChoice,
    SplitNotFoundError,
    index_from_config,
    resolve_split,
)
from f4d.data.formats.ucf101 import load_ucf101

__all__ = [
    "CLASS_FILE",
    "FORMATS",
    "AnnotationError",
    "AnnotationFileNotFound",
    "Collector",
    "DatasetFormat",
    "DatasetIndex",
    "Labels",
    "SplitChoice",
    "SplitNotFoundError",
    "VideoRecord",
    "annotation_dirs",
    "check_fold",
    "check_split",
    "class_list",
    "fail",
    "find_file",
    "get_format",
    "index_from_config",
    "json_array_lines",
    "load_csv",
    "load_folder",
    "load_hmdb51",
    "load_index",
    "load_k400",
    "load_sthv1",
    "load_sthv2",
    "load_ucf101",
    "read_class_file",
    "read_lines",
    "read_text",
    "register_format",
    "require_files",
    "resolve_split",
]

SHARED_MODULES = ("core", "registry", "splits")  # the skeleton; every other module is a format
BUILTIN_FORMAT_MODULES = ("csvlist", "folder", "ucf101", "hmdb51", "something", "kinetics")  # above


def _format_modules() -> list[str]:
    """The format modules of this package: the built-in ones in order, then any others."""
    found = {m.name for m in pkgutil.iter_modules(__path__)} - set(SHARED_MODULES)
    return [*BUILTIN_FORMAT_MODULES, *sorted(found - set(BUILTIN_FORMAT_MODULES))]


def _import_format_modules() -> None:
    """Import every format module (the built-in ones are already imported above), so that a
    module added to this package registers its formats."""
    for name in _format_modules():
        importlib.import_module(f"{__name__}.{name}")


_import_format_modules()

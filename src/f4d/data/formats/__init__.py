"""Dataset formats: one module per format on a shared core, found by name in a registry.

``load_index(format, root, split=...)`` parses one split of any registered format into a
:class:`DatasetIndex`; ``index_from_config(data, split)`` does it for a data config (the one
split resolver of training, testing and ``f4d data check``). Formats: ``csv``
(:mod:`.csvlist`), ``folder`` (:mod:`.folder`), ``ucf101``, ``hmdb51``, ``sthv1`` / ``sthv2``
(:mod:`.something`), ``k400`` (:mod:`.kinetics`). Adding a dataset is adding one module that
decorates its loader with :func:`register_format` (see ``docs/datasets.md``).
"""

from f4d.data.formats import csvlist, folder, ucf101, hmdb51, something, kinetics  # noqa: F401, I001  (registration order = listing order)
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

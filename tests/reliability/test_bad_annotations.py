"""Broken annotation files of every format: an AnnotationError naming file and line, never worse.

Valid-but-odd files (blank lines, BOM, CRLF, trailing spaces) must parse to the right number of
records; paths that climb out of the dataset root are refused unless ``allow_outside_root``.
Each parse runs in a worker thread with a time limit, so a parser that loops fails the test
instead of hanging the suite.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

import pytest

from f4d.data.formats import AnnotationError, DatasetIndex, load_index
from tests.reliability import generators

pytestmark = pytest.mark.xdist_group("reliability_annotations")  # module fixtures run once
TIME_LIMIT_S = 10.0


def _load(item: generators.BadInput, *, allow_outside_root: bool = False) -> DatasetIndex:
    root = Path(item.extra["root"])
    kwargs = {"allow_outside_root": allow_outside_root}
    if item.fmt == "csv":
        return load_index("csv", item.path, **kwargs)
    if item.fmt in ("sthv1", "sthv2", "k400"):
        return load_index(item.fmt, root, annotations=item.path, **kwargs)
    return load_index(item.fmt, root, **kwargs)


def _judge(item: generators.BadInput, pool: ThreadPoolExecutor) -> tuple[str, str]:
    """``(outcome, detail)``: ``ok:parsed`` / ``ok:error`` or ``FAIL:<why>``."""
    future = pool.submit(_load, item)
    try:
        index = future.result(timeout=TIME_LIMIT_S)
    except FutureTimeout:
        return "FAIL:hang", f"no answer in {TIME_LIMIT_S} s"
    except AnnotationError as err:
        return _judge_error(item, str(err))
    except Exception as err:
        return "FAIL:wrong_error_type", f"{type(err).__name__}: {err}"
    if item.expect == "error":
        return "FAIL:accepted", f"parsed {len(index)} records: {index.records[:2]}"
    labels_ok = all(0 <= r.label < index.num_classes for r in index.records)
    if len(index) != item.extra["rows"] or not labels_ok:
        return "FAIL:wrong_records", f"{len(index)} records, expected {item.extra['rows']}"
    return "ok:parsed", f"{len(index)} records, {index.num_classes} classes"


def _judge_error(item: generators.BadInput, message: str) -> tuple[str, str]:
    if item.expect == "decode":
        return "FAIL:rejected_valid", message
    bad_file = item.extra.get("bad_file", item.path.name)
    if bad_file not in message:
        return "FAIL:error_without_name", message
    line = item.extra["bad_line"]
    if line is not None and f"{bad_file}:{line}" not in message:
        return "FAIL:wrong_line", f"expected line {line}: {message}"
    return "ok:error", message


@pytest.fixture(scope="module")
def judged(tmp_path_factory, reliability_log):
    inputs = generators.annotation_inputs(tmp_path_factory.mktemp("annotations"))
    with ThreadPoolExecutor(max_workers=1) as pool:
        verdicts = {item.name: (item, *_judge(item, pool)) for item in inputs}
    for name, (item, outcome, detail) in verdicts.items():
        reliability_log.add(
            "annotation file", name, outcome, expect=item.expect, detail=f"{item.note}: {detail}"
        )
    return verdicts


def test_every_format_has_cases(judged):
    formats = {item.fmt for item, _, _ in judged.values()}
    assert formats == {"csv", "sthv1", "sthv2", "k400", "ucf101", "hmdb51"}
    assert len(judged) >= 45


@pytest.mark.parametrize("fmt", ["csv", "sthv1", "sthv2", "k400", "ucf101", "hmdb51"])
def test_bad_annotations_give_clear_errors_and_odd_ones_parse(judged, fmt):
    failures = [
        f"{name}: {outcome} ({item.note}) {detail}"
        for name, (item, outcome, detail) in judged.items()
        if item.fmt == fmt and outcome.startswith("FAIL")
    ]
    assert failures == []


def test_escaping_paths_are_accepted_only_when_allowed(judged, reliability_log):
    escapes = [item for item, _, _ in judged.values() if item.extra["escape"]]
    assert len(escapes) >= 5
    for item in escapes:
        index = _load(item, allow_outside_root=True)
        outside = [
            r.path
            for r in index.records
            if Path(item.extra["root"]).resolve() not in r.path.resolve().parents
        ]
        assert outside, f"{item.name}: allow_outside_root=True should keep the outside path"
        reliability_log.add(
            "annotation escape",
            item.name,
            "ok:allowed_when_opted_in",
            expect="decode",
            detail=str(outside[0]),
        )


def test_unreadable_annotation_path_is_an_annotation_error(tmp_path):
    with pytest.raises(AnnotationError, match=r"missing\.csv"):
        load_index("csv", tmp_path / "missing.csv")

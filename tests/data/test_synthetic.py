"""The synthetic long-range-order dataset: class design, determinism, files, decoded motion."""

from __future__ import annotations

import csv
import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from f4d.cli.main import main
from f4d.data.formats import load_csv
from f4d.data.sampling import section_bounds
from f4d.data.synthetic import DIRECTIONS, PRIMITIVES, class_name, class_orders, generate
from f4d.data.video import probe, read_frames

TINY = {"num_train": 24, "num_test": 12, "size": 32, "frames": 48, "units": 4}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """24 + 12 videos written by two worker processes."""
    return generate(tmp_path_factory.mktemp("synth") / "a", seed=3, workers=2, **TINY)


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def test_default_classes_are_the_even_orders_of_four_primitives():
    orders = class_orders()
    assert len(orders) == 12
    assert len(set(orders)) == 12
    assert all(sorted(o) == [0, 1, 2, 3] for o in orders)  # the same multiset in every class
    inversions = [sum(a > b for a, b in itertools.combinations(o, 2)) for o in orders]
    assert all(n % 2 == 0 for n in inversions)
    for slot in range(4):  # each primitive sits in each slot in exactly 3 classes
        assert Counter(o[slot] for o in orders) == {0: 3, 1: 3, 2: 3, 3: 3}
    distances = [sum(x != y for x, y in zip(a, b)) for a, b in itertools.combinations(orders, 2)]
    assert min(distances) == 3
    assert class_name(orders[0]) == "right-left-down-up"
    assert len(class_orders(4, 24)) == 24


def test_class_orders_rejects_impossible_requests():
    with pytest.raises(ValueError, match=r"num_classes=25 must be in 1\.\.24"):
        class_orders(4, 25)
    with pytest.raises(ValueError, match="units=1"):
        class_orders(1, 1)


def test_files_labels_and_units_are_consistent(tiny):
    names = (tiny / "classes.txt").read_text().splitlines()
    assert names == [class_name(o) for o in class_orders()]
    assert (tiny / "primitives.txt").read_text().splitlines() == list(PRIMITIVES)
    for split, count in (("train", 24), ("test", 12)):
        rows = _rows(tiny / f"{split}.csv")
        units = _rows(tiny / f"{split}_units.csv")
        assert rows[0] == ["path", "label"]
        assert units[0] == ["path", "e0", "e1", "e2", "e3"]
        assert len(rows) == len(units) == count + 1
        assert Counter(label for _, label in rows[1:]) == dict.fromkeys(names, count // 12)
        for (path, label), (unit_path, *events) in zip(rows[1:], units[1:]):
            assert unit_path == path
            assert "-".join(PRIMITIVES[int(e)] for e in events) == label
            assert (tiny / path).is_file()


def test_every_slot_is_balanced_over_the_training_set(tiny):
    events = np.array([row[1:] for row in _rows(tiny / "train_units.csv")[1:]], dtype=int)
    for slot in range(4):  # 2 videos per class x 3 classes per (slot, primitive)
        assert np.bincount(events[:, slot], minlength=4).tolist() == [6, 6, 6, 6]


def test_annotation_loader_reads_the_dataset(tiny):
    index = load_csv(tiny / "train.csv", check_files=True)
    assert len(index.records) == 24
    assert list(index.classes) == [class_name(o) for o in class_orders()]
    for record in index.records:
        assert tuple(record.unit_labels) == class_orders()[record.label]


def test_same_seed_gives_identical_files_whatever_the_workers(tiny, tmp_path):
    again = generate(tmp_path / "b", seed=3, workers=1, **TINY)
    for name in ("train.csv", "test.csv", "train_units.csv", "test_units.csv", "classes.txt"):
        assert (again / name).read_bytes() == (tiny / name).read_bytes()
    for path, _ in _rows(tiny / "train.csv")[1:] + _rows(tiny / "test.csv")[1:]:
        assert (again / path).read_bytes() == (tiny / path).read_bytes()


def test_another_seed_gives_other_videos(tiny, tmp_path):
    other = generate(tmp_path / "c", seed=4, workers=1, **{**TINY, "num_train": 2, "num_test": 0})
    first = "videos/train/000000.mp4"
    assert (other / first).read_bytes() != (tiny / first).read_bytes()


def _centroids(frames: np.ndarray) -> np.ndarray:
    """Centre ``(F, 2)`` (x, y) of the pixels that differ from the border colour."""
    border = np.concatenate([frames[:, 0], frames[:, -1], frames[:, :, 0], frames[:, :, -1]], 1)
    background = np.median(border, axis=1)  # (F, 3)
    diff = np.abs(frames.astype(float) - background[:, None, None, :]).sum(-1)  # (F, H, W)
    mask = diff > 90
    ys, xs = np.mgrid[: frames.shape[1], : frames.shape[2]]
    count = mask.sum((1, 2))
    assert count.min() > 0, "the square vanished"
    return np.stack([(mask * xs).sum((1, 2)) / count, (mask * ys).sum((1, 2)) / count], 1)


def test_decoded_motion_in_each_section_follows_the_annotation(tiny):
    bounds = section_bounds(48, 4)
    units = _rows(tiny / "test_units.csv")[1:] + _rows(tiny / "train_units.csv")[1:7]
    for path, *events in units:
        assert probe(tiny / path).num_frames == 48
        centres = _centroids(read_frames(tiny / path, np.arange(48)))
        for u, event in enumerate(events):
            move = centres[bounds[u + 1] - 1] - centres[bounds[u]]
            assert np.argmax(DIRECTIONS @ move) == int(event), (path, u, move)
            assert np.linalg.norm(move) > 5


def test_all_events_of_a_video_share_one_place(tiny):
    bounds = section_bounds(48, 4)
    for path, *_ in _rows(tiny / "test_units.csv")[1:]:
        centres = _centroids(read_frames(tiny / path, np.arange(48)))
        mids = np.stack([centres[bounds[u] : bounds[u + 1]].mean(0) for u in range(4)])
        spread = mids.max(0) - mids.min(0)  # (2,) x and y
        assert spread.max() <= 4.5  # two jitters of +-2 px apart at most, plus coding error


def test_folder_format_puts_each_class_in_its_folder(tmp_path):
    root = generate(tmp_path / "f", num_train=3, num_test=0, fmt="folder", workers=1, num_classes=3)
    for path, label in _rows(root / "train.csv")[1:]:
        assert Path(path).parts[:2] == ("train", label)
        assert (root / path).is_file()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fmt": "json"}, "fmt='json'"),
        ({"size": 31}, "size=31"),
        ({"frames": 7}, "frames=7"),
        ({"num_classes": 13, "units": 3}, "num_classes=13"),
        ({"num_train": 0, "num_test": 0}, "num_train=0"),
    ],
)
def test_bad_arguments_raise(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate(tmp_path, workers=1, **kwargs)


def test_cli_writes_a_dataset_and_rejects_bad_sizes(tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["synth", str(out), "--num-train", "2", "--num-test", "1", "--workers", "1", "--quiet"]
    assert main(argv) == 0
    assert len(_rows(out / "train.csv")) == 3
    with pytest.raises(SystemExit) as exit_info:
        main(["synth", str(out), "--size", "33", "--quiet"])
    assert exit_info.value.code == 2
    assert "argument --size: expected an integer in 16..4096 and even, got 33" in (
        capsys.readouterr().err
    )

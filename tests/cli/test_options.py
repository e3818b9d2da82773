"""f4d.cli.options: argparse types refuse bad values with a message naming value and range."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from f4d.cli import options


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (options.int_in(1, 8), "0", "expected an integer in 1..8, got 0"),
        (options.int_in(1, 8), "9", "expected an integer in 1..8, got 9"),
        (options.int_in(1), "-3", "expected an integer >= 1, got -3"),
        (options.int_in(16, 64, even=True), "17", "in 16..64 and even, got 17"),
        (options.int_in(0, 4), "2.5", "got '2.5'"),
        (options.positive_float, "0", "expected a finite number > 0, got '0'"),
        (options.positive_float, "inf", "got 'inf'"),
        (options.positive_float, "nan", "got 'nan'"),
        (options.probability, "1.01", "expected a number in 0..1, got '1.01'"),
        (options.probability, "-0.1", "expected a number in 0..1, got '-0.1'"),
        (options.probability, "nan", "expected a number in 0..1, got 'nan'"),
        (options.probability, "half", "expected a number in 0..1, got 'half'"),
        (options.device_name, "gpu", "expected auto, cpu, cuda or cuda:N, got 'gpu'"),
        (options.device_name, "cuda:99", "cuda:99: this machine has"),
        (options.model_name, "f4d_r5", "unknown model 'f4d_r5'; did you mean"),
    ],
)
def test_bad_values_are_refused_by_name(parse, text, message) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message.replace(".", r"\.")):
        parse(text)


def test_good_values_pass() -> None:
    assert options.int_in(16, 64, even=True)("32") == 32
    assert options.positive_float("0.5") == 0.5
    assert [options.probability(t) for t in ("0", "0.25", "1")] == [0.0, 0.25, 1.0]
    assert options.device_name("cpu") == "cpu" and options.model_name("f4d_tiny") == "f4d_tiny"


def test_paths(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    (tmp_path / "empty").touch()
    assert options.existing_file(str(tmp_path / "f")) == tmp_path / "f"
    assert options.new_or_writable_dir(str(tmp_path / "new" / "deeper")) == tmp_path / "new/deeper"
    assert not (tmp_path / "new").exists()  # checking writes nothing that stays
    assert options.writable_file(str(tmp_path / "out.json")) == tmp_path / "out.json"
    for parse, text, message in [
        (options.existing_path, "nope", "no such file or folder: 'nope'"),
        (options.existing_file, str(tmp_path), "is a folder, expected a file"),
        (options.existing_file, str(tmp_path / "empty"), "is empty (0 bytes)"),
        (options.existing_dir, str(tmp_path / "f"), "is a file, expected a folder"),
        (options.new_or_writable_dir, str(tmp_path / "f"), "is a file, expected a folder"),
        (options.new_or_writable_dir, str(tmp_path / "f" / "x"), "f is a file, not a folder"),
        (options.new_or_writable_dir, "/proc/f4d-test/x", "cannot write /proc/f4d-test/x"),
        (options.writable_file, str(tmp_path), "is a folder, expected a file"),
        (options.writable_file, "", "empty path"),
    ]:
        if text.startswith("/proc") and not Path("/proc").is_dir():
            continue  # a file system that refuses writes even to root (Linux)
        with pytest.raises(argparse.ArgumentTypeError) as info:
            parse(text)
        assert message in str(info.value)

"""f4d.cli.guard: every failure becomes one line and the documented exit code of its kind."""

from __future__ import annotations

import errno
import pickle

import pytest
import torch

from f4d.cli.guard import call_command, describe_error
from f4d.data.dataset import ShortVideoError, TooManyBadVideos
from f4d.data.formats import AnnotationError
from f4d.data.video import VideoDecodeError
from f4d.engine.checkpoint import CheckpointError
from f4d.engine.config import ConfigError
from f4d.engine.export import ExportError
from f4d.engine.train import NonFiniteLossError, TrainingError
from f4d.errors import (
    EXIT_BUG,
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OUTPUT,
    EXIT_USAGE,
    F4DError,
    OptionError,
    OutputError,
)


@pytest.mark.parametrize(
    ("error", "builtin", "code"),
    [
        (CheckpointError("x"), RuntimeError, EXIT_INPUT),
        (AnnotationError("x"), ValueError, EXIT_INPUT),
        (VideoDecodeError("a.mp4", "no video stream"), ValueError, EXIT_INPUT),
        (ShortVideoError("x"), ValueError, EXIT_INPUT),
        (TooManyBadVideos("x"), RuntimeError, EXIT_INPUT),
        (ConfigError("x"), ValueError, EXIT_CONFIG),
        (ExportError("x"), RuntimeError, EXIT_FAILED),
        (TrainingError("x"), RuntimeError, EXIT_FAILED),
        (NonFiniteLossError("x"), RuntimeError, EXIT_FAILED),
        (OptionError("x"), ValueError, EXIT_USAGE),
        (OutputError("x"), F4DError, EXIT_OUTPUT),
    ],
)
def test_every_error_class_has_one_base_its_old_base_and_its_code(error, builtin, code) -> None:
    assert isinstance(error, F4DError) and isinstance(error, builtin)
    assert describe_error(error)[1] == code


def test_errors_survive_pickling_whatever_their_init_takes() -> None:
    # multiprocessing pickles a worker's exception back to the parent
    error = VideoDecodeError("clip.mp4", "no video stream")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is VideoDecodeError and str(again) == str(error)
    assert again.path == "clip.mp4" and again.reason == "no video stream"
    hinted = pickle.loads(pickle.dumps(CheckpointError("bad", hint="use another")))
    assert hinted.hint == "use another" and describe_error(hinted)[0] == "error: bad -- use another"


def _fail(error: BaseException):
    def call() -> int:
        raise error

    return call


def test_user_error_is_one_line_with_label_and_hint(capsys) -> None:
    code = call_command(_fail(ConfigError("run.yaml: unknown key 'optim.lrr'")), prog="f4d train")
    err = capsys.readouterr().err
    assert code == EXIT_CONFIG
    assert err == "f4d train: config error: run.yaml: unknown key 'optim.lrr'\n"


@pytest.mark.parametrize(
    ("error", "code", "line"),
    [
        (FileNotFoundError(errno.ENOENT, "No such file or directory", "a/b.json"), EXIT_INPUT,
         "error: No such file or directory: a/b.json"),
        (FileNotFoundError("metrics file not found: m.jsonl"), EXIT_INPUT,
         "error: metrics file not found: m.jsonl"),
        (PermissionError(errno.EACCES, "Permission denied", "/out"), EXIT_OUTPUT,
         "error: Permission denied: /out"),
        (OSError(errno.ENOSPC, "No space left on device", "/out/x"), EXIT_OUTPUT,
         "error: No space left on device: /out/x"),
    ],
)  # fmt: skip
def test_file_system_errors_name_the_path(error, code, line) -> None:
    assert describe_error(error) == (line, code)


def test_a_bug_says_so_and_where_to_report_without_a_traceback(capsys, monkeypatch) -> None:
    monkeypatch.delenv("F4D_DEBUG", raising=False)
    code = call_command(_fail(ZeroDivisionError("division by zero")), prog="f4d profile")
    err = capsys.readouterr().err
    assert code == EXIT_BUG and "Traceback" not in err
    first, second = err.splitlines()
    assert first == "f4d profile: internal error: ZeroDivisionError: division by zero"
    assert "bug in f4d" in second and "report it" in second and "--debug" in second


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_prints_the_traceback(capsys, monkeypatch, how) -> None:
    monkeypatch.setenv("F4D_DEBUG", "1" if how == "env" else "0")
    code = call_command(_fail(ConfigError("bad key")), prog="f4d train", debug=how == "flag")
    err = capsys.readouterr().err
    assert code == EXIT_CONFIG and "Traceback (most recent call last)" in err
    assert err.rstrip().endswith("f4d train: config error: bad key")


def test_interrupt_and_system_exit(capsys) -> None:
    assert call_command(_fail(KeyboardInterrupt()), prog="f4d train") == EXIT_INTERRUPTED
    assert capsys.readouterr().err == "f4d train: interrupted\n"
    with pytest.raises(SystemExit):
        call_command(_fail(SystemExit(3)), prog="f4d")


class _BadVideos(torch.utils.data.Dataset):
    def __init__(self, error: Exception) -> None:
        self.error = error

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int):
        raise self.error


@pytest.mark.parametrize(
    ("error", "line", "code"),
    [
        (VideoDecodeError("clip.mp4", "no video stream"),
         "error: cannot decode video clip.mp4: no video stream", EXIT_INPUT),
        (AnnotationError("train.csv:3: unknown label"),
         "annotation error: train.csv:3: unknown label", EXIT_INPUT),
        (KeyError("frames"), "internal error: KeyError: 'frames'", EXIT_BUG),
    ],
)  # fmt: skip
def test_error_in_a_dataloader_worker_is_the_original_line(error, line, code) -> None:
    loader = torch.utils.data.DataLoader(_BadVideos(error), num_workers=1)
    with pytest.raises(Exception) as info:  # torch re-raises as the original type, or not
        next(iter(loader))
    assert "Original Traceback" in str(info.value)  # what torch hands over
    assert describe_error(info.value) == (f"{line} (in DataLoader worker process 0)", code)


def test_out_of_memory_is_a_failed_run_with_what_to_lower() -> None:
    oom = RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate "
                       "memory: you tried to allocate 4398046511104 bytes")  # fmt: skip
    line, code = describe_error(oom)
    assert code == EXIT_FAILED and line.startswith("out of memory: ") and "--batch" in line
    assert describe_error(MemoryError())[1] == EXIT_FAILED

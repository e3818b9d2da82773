"""The one error path of the ``f4d`` command: every failure becomes one plain line and an exit code.

:func:`call_command` runs a command and turns

- an :class:`f4d.errors.F4DError` (bad option, config, input file, unwritable output, failed
  run) into ``<prog>: <label>: <message> -- <hint>`` and the error's ``exit_code``;
- an ``OSError`` (the file system refused: no such file, permission denied, disk full) into
  ``<prog>: error: <reason>: <path>``, exit 4 for a missing file and 5 otherwise;
- running out of memory into ``out of memory`` and exit 1;
- an error re-raised from a DataLoader worker into the original error's line (no traceback);
- Ctrl-C into ``interrupted`` and exit 130;
- anything else, a bug in f4d, into a short message saying where to report it, exit 70.

``--debug`` or ``F4D_DEBUG=1`` prints the traceback as well. The exit codes are listed in
:mod:`f4d.errors` and the README.
"""

from __future__ import annotations

import errno
import importlib
import os
import re
import sys
import traceback
from collections.abc import Callable

from f4d.errors import (
    EXIT_BUG,
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OUTPUT,
    F4DError,
)

__all__ = ["DEBUG_ENV", "call_command", "debug_from_env", "describe_error"]

DEBUG_ENV = "F4D_DEBUG"
REPORT_TO = "the f4d issue tracker"
_MAX_BUG_MESSAGE = 300
OOM_HINT = " -- lower --batch, --size, --frames or --units (optim.batch_size, data.size in configs)"


def debug_from_env() -> bool:
    """Whether ``F4D_DEBUG`` asks for tracebacks (set and not 0/false/no/empty)."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def call_command(call: Callable[[], int | None], *, prog: str, debug: bool = False) -> int:
    """Run ``call`` and return its exit code, or report its failure on stderr and return that
    failure's code (see the module docstring). ``SystemExit`` passes through untouched."""
    debug = debug or debug_from_env()
    try:
        return int(call() or 0)
    except KeyboardInterrupt:
        _print_traceback(debug)
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # the one place that catches everything
        _print_traceback(debug)
        line, code = describe_error(err)
        print(f"{prog}: {line}", file=sys.stderr)
        if code == EXIT_BUG:
            print(_bug_note(prog, debug), file=sys.stderr)
        return code


def describe_error(err: BaseException) -> tuple[str, int]:
    """``(message line without the program name, exit code)`` for ``err``."""
    worker = _from_worker(err)
    if worker is not None:
        return worker
    if isinstance(err, F4DError):
        message = str(err) or type(err).__name__
        if err.hint:
            message = f"{message} -- {err.hint}"
        return f"{err.label}: {message}", err.exit_code
    if isinstance(err, OSError):
        missing = isinstance(err, FileNotFoundError) or err.errno == errno.ENOENT
        code = EXIT_INPUT if missing else EXIT_OUTPUT
        return f"error: {_os_reason(err)}", code
    first = _first_line(str(err))
    if _out_of_memory(err):
        return f"out of memory: {first}{OOM_HINT}", EXIT_FAILED
    return f"internal error: {type(err).__name__}: {first}".rstrip(": "), EXIT_BUG


def _first_line(text: str) -> str:
    first = (text.strip().splitlines() or [""])[0]
    return first if len(first) <= _MAX_BUG_MESSAGE else first[:_MAX_BUG_MESSAGE] + " ..."


def _out_of_memory(err: BaseException) -> bool:
    text = str(err)
    return (
        isinstance(err, MemoryError)
        or type(err).__name__ == "OutOfMemoryError"  # torch.OutOfMemoryError (CUDA)
        or (isinstance(err, RuntimeError) and "can't allocate memory" in text)  # CPU allocator
    )


def _from_worker(err: BaseException) -> tuple[str, int] | None:
    """An error re-raised from a DataLoader worker carries the worker's traceback as its text
    (``Caught X in DataLoader worker process N. Original Traceback ...``): describe the
    original error, from the traceback's last line, instead of printing the traceback."""
    text = str(err)
    match = _WORKER_ERROR.match(text)
    if match is None:
        return None
    last = text.strip().splitlines()[-1]
    qualified, _, message = last.partition(": ")
    original = _error_class(qualified)
    where = f" (in {match.group('where')})"
    if original is None or not issubclass(original, F4DError):
        return f"internal error: {last}{where}", EXIT_BUG
    return f"{original.label}: {message}{where}", original.exit_code


_WORKER_ERROR = re.compile(r"Caught \w+ in (?P<where>DataLoader worker process \d+)\.\n")


def _error_class(qualified: str) -> type | None:
    """The class named ``package.module.Name`` if it is importable (f4d classes only)."""
    module, _, name = qualified.rpartition(".")
    if not module.startswith("f4d."):
        return None
    try:
        found = getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None
    return found if isinstance(found, type) else None


def _os_reason(err: OSError) -> str:
    """``"Permission denied: out/x"``: the reason, then the path(s), without ``[Errno N]``."""
    reason = err.strerror or str(err)
    paths = [str(p) for p in (err.filename, err.filename2) if p is not None]
    return f"{reason}: {' -> '.join(paths)}" if paths else reason


def _bug_note(prog: str, debug: bool) -> str:
    from f4d import __version__

    how = "the traceback is above" if debug else "add --debug (or F4D_DEBUG=1) for the traceback"
    return (
        f"{prog}: this is a bug in f4d {__version__} (or an input it should have refused with a "
        f"clear message); please report it to {REPORT_TO} with the command line; {how}"
    )


def _print_traceback(debug: bool) -> None:
    if debug:
        traceback.print_exc(file=sys.stderr)

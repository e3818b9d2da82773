"""Errors a user can cause and fix, and the exit code of each kind.

Every error that bad input can cause -- a missing or damaged file, a wrong config, a nonsense
option, unreadable data, an output that cannot be written -- derives from :class:`F4DError`
through one of the kinds below. ``f4d.cli.main`` prints such an error as one plain line (what
went wrong, which file or option, what to do) and exits with the kind's code; any other
exception is a bug in f4d and is reported as one. The specific classes live next to the code
that raises them and keep their builtin base, e.g. ``class CheckpointError(InputError,
RuntimeError)``, so ``except RuntimeError`` code keeps working.

This module imports nothing from f4d: ``ops``, ``nn``, ``models``, ``data``, ``engine`` and
``cli`` can all raise these without breaking the one-way import rule.

Exit codes of the ``f4d`` command (README, "Command line"):

==== =====================================================================================
code meaning
==== =====================================================================================
0    success
1    the command ran and failed or found problems (bad videos reported, training stopped)
2    bad command line: unknown command or option, a value out of range, an unknown name,
     a path option that does not exist or cannot be written (nothing ran)
3    bad config: a YAML config or key=value override (unknown key, wrong type, bad value)
4    bad input: a file or dataset the command reads is missing, empty, of the wrong kind or
     damaged (checkpoint, video, annotation list, dataset folder)
5    cannot write: an output cannot be created (permission denied, read-only or full disk,
     a file where a folder should be); also any other refusal of the file system
70   internal error: an unexpected exception, i.e. a bug in f4d
130  interrupted (Ctrl-C)
==== =====================================================================================
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "EXIT_BUG",
    "EXIT_CONFIG",
    "EXIT_FAILED",
    "EXIT_INPUT",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_OUTPUT",
    "EXIT_USAGE",
    "ConfigError",
    "F4DError",
    "InputError",
    "OptionError",
    "OutputError",
    "RunError",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2  # also what argparse exits with
EXIT_CONFIG = 3
EXIT_INPUT = 4
EXIT_OUTPUT = 5
EXIT_BUG = 70  # sysexits' EX_SOFTWARE
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class F4DError(Exception):
    """An error caused by the user's input or environment, with a message that says so.

    The message names the bad thing (file, key, option, value) and what was expected;
    ``hint`` (optional) says what to do about it. Subclass one of the kinds below rather than
    this class; its ``exit_code`` is what ``f4d`` exits with, ``label`` what its line starts with.
    """

    exit_code: ClassVar[int] = EXIT_FAILED
    label: ClassVar[str] = "error"

    def __init__(self, message: str = "", *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __reduce__(self) -> tuple[Any, ...]:
        # Picklable whatever a subclass's __init__ takes, so an error raised in a worker
        # process arrives in the parent as itself (multiprocessing pickles it).
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(cls: type[F4DError], args: tuple[Any, ...], state: dict[str, Any]) -> F4DError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class RunError(F4DError):
    """The command ran and could not finish (training diverged, every exporter failed)."""

    exit_code = EXIT_FAILED


class OptionError(F4DError, ValueError):
    """An option or argument value is wrong: out of range, an unknown name, a bad combination.

    Also a ``ValueError``, so a library check that raised ``ValueError`` can raise this instead.
    """

    exit_code = EXIT_USAGE


class ConfigError(F4DError, ValueError):
    """A configuration file or override is invalid; the message names the key and the source."""

    exit_code = EXIT_CONFIG
    label = "config error"


class InputError(F4DError):
    """A file or dataset the command reads is missing, empty, of the wrong kind or damaged."""

    exit_code = EXIT_INPUT


class OutputError(F4DError):
    """An output cannot be written: no permission, read-only or full disk, a file in the way."""

    exit_code = EXIT_OUTPUT
    label = "cannot write"

"""The ``f4d`` command line: one sub-command per module in :mod:`f4d.cli`.

:func:`main` first tunes the process (:mod:`f4d.runtime`), before torch is imported. Each
sub-command module exposes ``register(subparsers)``, which adds its parser and sets
``func`` (called with the parsed namespace, returns an exit code). Commands let errors
propagate: :func:`main` turns them into one line and an exit code (:mod:`f4d.cli.guard`).
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Iterator, Sequence

from f4d.cli.guard import call_command
from f4d.runtime import tune_process

# Sub-command modules, in the order `f4d --help` lists them.
COMMAND_MODULES = (
    "demo",
    "synth",
    "data",
    "train",
    "evaluate",
    "predict",
    "serve",
    "export",
    "profile",
    "bench",
    "experiment",
)

EPILOG = (
    "exit codes: 0 ok, 1 failed or found problems, 2 bad command line, 3 bad config, "
    "4 bad input file or data, 5 cannot write, 70 internal error (a bug), 130 interrupted. "
    "--debug (or F4D_DEBUG=1) prints the traceback of an error."
)
_DEBUG_HELP = "print the traceback of an error (also: F4D_DEBUG=1)"


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every available sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="f4d",
        description="Factorized 4D CNNs for video-level action recognition.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module_name = f"f4d.cli.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name != module_name:
                raise
            continue
        module.register(subparsers)
    for sub in all_subparsers(parser):
        # `f4d COMMAND ... --debug` works too; SUPPRESS keeps `f4d --debug COMMAND` intact.
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help=_DEBUG_HELP)  # fmt: skip
        sub.set_defaults(prog=sub.prog, parser=sub)
    return parser


def all_subparsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every parser below ``parser`` (commands, their sub-commands, ...), each once."""
    seen: set[int] = set()
    stack = [parser]
    while stack:
        for action in stack.pop()._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    if id(sub) not in seen:
                        seen.add(id(sub))
                        stack.append(sub)
                        yield sub


def _version() -> str:
    from f4d import __version__

    return f"f4d {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``f4d`` console script; returns the exit code (see f4d.errors).

    Tunes the process first (:func:`f4d.runtime.tune_process`), before any command module
    imports torch, which reads ``THP_MEM_ALLOC_ENABLE`` at import.
    """
    tune_process()
    argv = sys.argv[1:] if argv is None else list(argv)
    parsed: list[argparse.Namespace] = []
    code = call_command(lambda: _parse(argv, parsed), prog="f4d", debug="--debug" in argv)
    if not parsed:
        return code
    args = parsed[0]
    return call_command(lambda: args.func(args), prog=args.prog, debug=args.debug)


def _parse(argv: list[str], out: list[argparse.Namespace]) -> int:
    """Parse ``argv`` into ``out``; print the help (exit 2) when no command is given.

    ``key=value`` overrides may also follow a command's options (``f4d train cfg --resume
    optim.epochs=4``): argparse leaves those as extras; they join the command's ``overrides``
    in command-line order. Any other extra is refused as usual (exit 2).
    """
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if not getattr(args, "func", None):
        if extras:
            parser.error(f"unrecognized arguments: {' '.join(extras)}")
        parser.print_help()
        return 2
    if extras:
        _append_overrides(args, extras)
    out.append(args)
    return 0


def _append_overrides(args: argparse.Namespace, extras: list[str]) -> None:
    """Add trailing ``key=value`` extras to ``args.overrides``; refuse anything else."""
    stray = [item for item in extras if not _OVERRIDE.match(item)]
    if stray or not isinstance(getattr(args, "overrides", None), list):
        args.parser.error(f"unrecognized arguments: {' '.join(stray or extras)}")
    args.overrides.extend(extras)


_OVERRIDE = re.compile(r"^[A-Za-z_][\w.]*=")


if __name__ == "__main__":
    sys.exit(main())

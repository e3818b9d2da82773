"""The ``f4d`` command line: one sub-command per module in :mod:`f4d.cli`.

Each sub-command module exposes ``register(subparsers)``, which adds its parser and sets
``func`` (called with the parsed namespace, returns an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

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


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every available sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="f4d", description="Factorized 4D CNNs for video-level action recognition."
    )
    parser.add_argument("--version", action="version", version=_version())
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
    return parser


def _version() -> str:
    from f4d import __version__

    return f"f4d {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``f4d`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

"""What ``--help`` shows: plain text (no reStructuredText markup) and every option's default.

:func:`plain` turns a module docstring into help text (``f4d demo``'s double-backquoted
literals become plain words); :class:`DefaultsFormatter` appends ``(default: X)`` to each
option whose default says something (not ``None``, ``False`` or already in its help).
"""

from __future__ import annotations

import argparse
import re
import textwrap

__all__ = ["DefaultsFormatter", "plain"]

_LITERAL = re.compile(r"``([^`]+)``")
_ROLE = re.compile(r":(?:func|class|mod|data|meth|attr):`~?([^`]+)`")


def plain(text: str) -> str:
    """``text`` without reST markup: ````x```` and ``:func:`x``` become ``x``."""
    return _ROLE.sub(r"\1", _LITERAL.sub(r"\1", text))


class DefaultsFormatter(argparse.HelpFormatter):
    """Wrap each paragraph of the description on its own; add ``(default: X)`` to options
    whose default says something."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]
        return "\n\n".join(
            textwrap.fill(p, width, initial_indent=indent, subsequent_indent=indent)
            for p in paragraphs
        )

    def _get_help_string(self, action: argparse.Action) -> str:
        help = action.help or ""
        default = action.default
        if (
            default in (None, False, argparse.SUPPRESS)
            or "default" in help
            or not action.option_strings
            or isinstance(action, argparse._HelpAction)
        ):
            return help
        shown = ",".join(map(str, default)) if isinstance(default, list) else "%(default)s"
        return f"{help} (default: {shown})".strip()

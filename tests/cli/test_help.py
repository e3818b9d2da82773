"""Every ``--help`` reads as plain text; bench sub-commands describe themselves and show every
default (issue 27 item 8)."""

from __future__ import annotations

import argparse

import pytest

from f4d.cli.helptext import plain
from f4d.cli.main import all_subparsers, build_parser

PARSERS = {p.prog: p for p in all_subparsers(build_parser())}
BENCH = sorted(prog for prog in PARSERS if prog.startswith("f4d bench "))


@pytest.mark.parametrize("prog", sorted(PARSERS))
def test_help_has_no_markup(prog: str) -> None:
    text = PARSERS[prog].format_help()
    for markup in ("``", ":func:`", ":mod:`", ":class:`", "%%"):
        assert markup not in text, f"{prog} --help shows {markup!r}"


def test_plain_removes_rest_markup() -> None:
    assert (
        plain("``f4d demo`` runs :func:`f4d.x.y` and :mod:`~f4d.z`")
        == "f4d demo runs f4d.x.y and f4d.z"
    )


@pytest.mark.parametrize("prog", BENCH)
def test_bench_help_describes_and_shows_defaults(prog: str) -> None:
    parser = PARSERS[prog]
    assert parser.description and len(parser.description) > 80, prog
    text = " ".join(parser.format_help().split())
    for action in parser._actions:
        if not action.option_strings or action.default in (None, False, 0, argparse.SUPPRESS):
            continue
        formatter = parser._get_formatter()
        shown = " ".join(formatter._expand_help(action).split()) if action.help else ""
        assert shown and "default" in shown, f"{prog} {action.option_strings[0]}: {shown!r}"
        assert shown in text


def test_contiguous_is_explained_in_user_words() -> None:
    for prog in ("f4d bench model", "f4d bench breakdown"):
        text = " ".join(PARSERS[prog].format_help().split())
        assert "issue 13" not in text and "channels-last" in text

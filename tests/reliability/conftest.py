"""Reliability suite plumbing: a session log of every input tried and how it ended.

Tests call ``reliability_log.add(category, name, outcome, expect=..., detail=...)``. At the end of
the session the log is written to ``<pytest basetemp>/reliability_summary.json`` and counted in the
terminal summary (under xdist each worker ships its records to the controller). Setting
``F4D_RELIABILITY_REPORT=docs/reliability.md`` rewrites the block between
``<!-- results:begin -->`` and ``<!-- results:end -->`` in that file with the tables.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SUMMARY_NAME = "reliability_summary.json"
_RECORDS: list[dict] = []
_KEY = "f4d_reliability_records"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


@dataclass
class ReliabilityLog:
    """Collects ``{category, name, outcome, expect, detail}`` rows for the session summary."""

    records: list[dict] = field(default_factory=lambda: _RECORDS)

    def add(self, category: str, name: str, outcome: str, *, expect: str = "", detail: str = ""):
        self.records.append(
            {
                "category": category,
                "name": name,
                "outcome": outcome,
                "expect": expect,
                "detail": detail[:300],
            }
        )


@pytest.fixture(scope="session")
def reliability_log() -> ReliabilityLog:
    return ReliabilityLog()


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workeroutput"):  # xdist worker: ship records to the controller
        config.workeroutput[_KEY] = json.dumps(_RECORDS)
    elif _RECORDS:
        _write_json(config)


def pytest_testnodedown(node, error) -> None:  # xdist controller hook
    # Two workers may both run a module fixture (same inputs, other tmp paths): one row per input.
    rows = json.loads(getattr(node, "workeroutput", {}).get(_KEY, "[]"))
    seen = {_identity(r) for r in _RECORDS}
    _RECORDS.extend(r for r in rows if _identity(r) not in seen)


def _identity(row: dict) -> tuple[str, str, str]:
    return row["category"], row["name"], row["outcome"]


def _write_json(config: pytest.Config) -> Path | None:
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is None:
        return None
    path = factory.getbasetemp() / SUMMARY_NAME
    path.write_text(json.dumps({"counts": _counts(_RECORDS), "records": _RECORDS}, indent=1))
    return path


def _counts(records: list[dict]) -> dict[str, dict[str, int]]:
    table: dict[str, Counter] = {}
    for row in records:
        table.setdefault(row["category"], Counter())[row["outcome"]] += 1
    return {category: dict(sorted(c.items())) for category, c in sorted(table.items())}


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    if not _RECORDS:
        return
    path = _write_json(config)
    counts = _counts(_RECORDS)
    terminalreporter.section("f4d reliability summary")
    terminalreporter.write_line(f"{len(_RECORDS)} inputs and faults tried")
    for category, outcomes in counts.items():
        shown = ", ".join(f"{k}: {v}" for k, v in outcomes.items())
        terminalreporter.write_line(f"  {category:<22} {sum(outcomes.values()):>4}  ({shown})")
    if path is not None:
        terminalreporter.write_line(f"details: {path}")
    target = os.environ.get("F4D_RELIABILITY_REPORT")
    if target:
        _rewrite_report(Path(target), _RECORDS)
        terminalreporter.write_line(f"tables written into {target}")


def _rewrite_report(path: Path, records: list[dict]) -> None:
    text = path.read_text() if path.exists() else f"{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        raise RuntimeError(f"{path} lacks the {BEGIN} ... {END} markers")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    path.write_text(f"{head}{BEGIN}\n{render_tables(records)}{END}{tail}")


def render_tables(records: list[dict]) -> str:
    """Markdown: counts per category and outcome, then one row per input or fault."""
    lines = ["| category | tried | outcomes |", "|---|---:|---|"]
    for category, outcomes in _counts(records).items():
        shown = ", ".join(f"{k} {v}" for k, v in outcomes.items())
        lines.append(f"| {category} | {sum(outcomes.values())} | {shown} |")
    lines += [
        "",
        f"Total: {len(records)}.",
        "",
        "<details><summary>Every input and fault</summary>",
        "",
        "| category | input | expected | outcome | detail |",
        "|---|---|---|---|---|",
    ]
    for row in sorted(records, key=lambda r: (r["category"], r["name"])):
        detail = row["detail"].replace("|", "\\|").replace("\n", " ")[:160]
        lines.append(
            f"| {row['category']} | `{row['name']}` | {row['expect']} | "
            f"{row['outcome']} | {detail} |"
        )
    lines += ["", "</details>", ""]
    return "\n".join(lines) + "\n"

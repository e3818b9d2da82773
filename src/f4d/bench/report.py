"""Tables for benchmark results: rich tables for the terminal and markdown for the docs.

Both renderings come from the same rows, built from the JSON-able result dicts of
:func:`f4d.bench.model.bench_models`, :func:`f4d.bench.ops.bench_ops` and
:func:`f4d.bench.breakdown.bench_breakdowns` (one table per model plus a side-by-side view).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from rich.table import Table

from f4d.bench.timing import WIDE_SPREAD
from f4d.errors import InputError


def _num(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}×"


def _phase_cells(result: dict, phase: str) -> list[str]:
    data = result.get(phase)
    if data is None:
        return ["-"] * 3
    speed = f"{data['videos_per_s']:.2f}"
    if data.get("videos_per_s_min") is not None:
        speed += f" [{data['videos_per_s_min']:.3g}-{data['videos_per_s_max']:.3g}]"
    if data.get("wide_spread"):
        speed += " !"
    if data.get("speedup_vs_first") is not None:
        speed += f" ({_ratio(data['speedup_vs_first'])})"
    share = data.get("peak_share")
    flops = _num(data.get("achieved_tflops"), ".3f")
    if share is not None:
        flops += f" ({100 * share:.1f}%)"
    return [speed, _num(data.get("peak_memory_mib"), ".0f"), flops]


MODEL_COLUMNS = (
    "model", "params (M)", "GMACs/video", "MACs vs 1st",
    "infer videos/s [min-max] (vs 1st)", "infer peak MiB", "infer TFLOP/s (% peak)",
    "train videos/s [min-max] (vs 1st)", "train peak MiB", "train TFLOP/s (% peak)",
)  # fmt: skip


def model_rows(report: dict) -> list[list[str]]:
    """One row of strings per model, in ``MODEL_COLUMNS`` order (errors fill the row)."""
    rows = []
    for r in report["results"]:
        if "error" in r:
            rows.append([r["model"], f"error: {r['error'][:80]}"] + [""] * 8)
            continue
        head = [
            r["model"],
            f"{r['params'] / 1e6:.2f}",
            f"{r['macs_per_video'] / 1e9:.3g}",
            _ratio(r.get("macs_vs_first")),
        ]
        rows.append(head + _phase_cells(r, "inference") + _phase_cells(r, "train"))
    return rows


def _machine(m: dict) -> str:
    text = f"{m['device_name']}, torch {m['torch']}"
    if m.get("device") == "cpu" and "cpu_threads" in m:
        text += f", {m['cpu_threads']} thread(s)"
    return text


def _layout(settings: dict) -> str:
    if settings.get("contiguous"):
        return "NCTHW model"
    return "channels_last_3d" + (" model and input" if settings["channels_last"] else " model")


def model_caption(report: dict) -> str:
    """Device, software and settings of a model report in one line."""
    s, m = report["settings"], report["machine"]
    compiled = f"compiled ({s.get('compile_backend', 'inductor')})"
    precision = s.get("precision")
    dtype = f"{precision} via for_inference" if precision else f"{s['dtype']} (plain autocast)"
    flags = [dtype, compiled if s["compile"] else "eager"]
    flags.append(_layout(s))
    peak = report.get("peak_tflops")
    peak_text = f"{peak:g} TFLOP/s ({report['peak_source']})" if peak else report["peak_source"]
    return (
        f"{_machine(m)}; batch {s['batch']}, U={s['units']}, "
        f"T={s['frames']}, {s['size']}×{s['size']}, {', '.join(flags)}; median [min-max] of "
        f"{s['repeats']} after {s['warmup']} warm-up (! = spread wider than the median "
        f"x {WIDE_SPREAD:g}); peak: {peak_text}"
    )


def spread_warnings(report: dict) -> list[str]:
    """One warning per model and phase whose timed calls spread wider than ``WIDE_SPREAD``
    times their median: the figure then says more about the machine than the model."""
    lines = []
    for r in report.get("results", []):
        for phase in ("inference", "train"):
            data = r.get(phase) or {}
            if data.get("wide_spread"):
                lines.append(
                    f"warning: {r['model']} {phase}: the {report['settings']['repeats']} timed "
                    f"calls ranged {data['videos_per_s_min']:.3g}-{data['videos_per_s_max']:.3g} "
                    f"videos/s around a median of {data['videos_per_s']:.3g} (spread "
                    f"{100 * data['spread']:.0f}%): the machine is busy or still warming up; "
                    "treat the figure with care, or rerun with more --repeats / --warmup on an "
                    "idle machine"
                )
    return lines


def ops_rows(report: dict) -> list[list[str]]:
    """One row of strings per width, in ``OPS_COLUMNS`` order."""
    return [
        [
            str(r["width"]),
            f"{r['loop_ms']:.2f}",
            f"{r['conv4d_ms']:.2f}",
            _ratio(r["conv4d_speedup"]),
            f"{r['factorized_ms']:.2f}",
            _ratio(r["factorized_speedup"]),
            f"{r['conv4d_max_abs_diff']:.1e}",
            f"{r['factorized_max_abs_diff']:.1e}",
        ]
        for r in report["results"]
    ]


OPS_COLUMNS = (
    "width", "loop ms", "Conv4d ms", "Conv4d speed-up", "Factorized4d ms",
    "Factorized4d speed-up", "Conv4d max abs diff", "Factorized4d max abs diff",
)  # fmt: skip


def ops_caption(report: dict) -> str:
    """Device, software and shapes of an ops report in one line."""
    s, m = report["settings"], report["machine"]
    phase = "forward + backward" if s["backward"] else "forward"
    return (
        f"{_machine(m)}; input (B={s['batch']}, C, U={s['units']}, "
        f"T={s['frames']}, {s['size']}, {s['size']}), kernel {tuple(s['kernel'])}, {phase}; "
        f"median of {s['repeats']}; speed-up = loop time / op time"
    )


def breakdown_caption(report: dict) -> str:
    """Device, software and settings of a breakdown report in one line."""
    s, m = report["settings"], report["machine"]
    flags = [s["dtype"], "eager", "forward only (no_grad)"]
    flags.append(_layout(s))
    return (
        f"{_machine(m)}; batch {s['batch']}, U={s['units']}, T={s['frames']}, "
        f"{s['size']}×{s['size']}, {', '.join(flags)}; median of {s['repeats']} after "
        f"{s['warmup']} warm-up; % of the forward timed with the hooks"
    )


BREAKDOWN_COLUMNS = ("component", "ms / batch", "% of forward")


def breakdown_rows(result: dict) -> list[list[str]]:
    """One model's breakdown: the forward with and without hooks, then one row per component."""
    rows = [
        ["forward (with hooks)", f"{result['whole_ms']:.2f}", "100.0"],
        ["forward (no hooks)", f"{result['plain_ms']:.2f}", ""],
    ]
    rows += [
        [r["component"], f"{r['median_ms']:.2f}", f"{r['percent']:.1f}"] for r in result["rows"]
    ]
    return rows


def _merged_paths(results: Sequence[dict]) -> list[str]:
    """Component paths of all ``results`` in tree order (a path only one model has is placed
    after the path that precedes it in that model)."""
    paths: list[str] = []
    for result in results:
        previous = None
        for row in result["rows"]:
            path = row["component"]
            if path not in paths:
                paths.insert(paths.index(previous) + 1 if previous else len(paths), path)
            previous = path
    return paths


def comparison_columns(results: Sequence[dict]) -> list[str]:
    """Columns of the side-by-side view: ms and % per model, then last / first."""
    columns = ["component"]
    for r in results:
        columns += [f"{r['model']} ms", f"{r['model']} %"]
    return [*columns, f"{results[-1]['model']} / {results[0]['model']}"]


def comparison_rows(results: Sequence[dict]) -> list[list[str]]:
    """Per component, each model's ms and %, and the time ratio of the last model to the first
    (``-`` where a model has no such component)."""
    by_model = [{r["component"]: r for r in result["rows"]} for result in results]
    whole = [["forward (with hooks)"], ["forward (no hooks)"]]
    for result in results:
        whole[0] += [f"{result['whole_ms']:.2f}", "100.0"]
        whole[1] += [f"{result['plain_ms']:.2f}", ""]
    whole[0].append(_ratio(results[-1]["whole_ms"] / results[0]["whole_ms"]))
    whole[1].append(_ratio(results[-1]["plain_ms"] / results[0]["plain_ms"]))
    rows = whole
    for path in _merged_paths(results):
        cells = [by.get(path) for by in by_model]
        row = [path]
        for cell in cells:
            row += (
                ["-", "-"]
                if cell is None
                else [f"{cell['median_ms']:.2f}", f"{cell['percent']:.1f}"]
            )
        first, last = cells[0], cells[-1]
        ok = first is not None and last is not None and first["median_ms"] > 0
        row.append(_ratio(last["median_ms"] / first["median_ms"]) if ok else "-")
        rows.append(row)
    return rows


Section = tuple[str | None, Sequence[str], list[list[str]], str]


def _breakdown_sections(report: dict, title: str | None) -> list[Section]:
    caption = breakdown_caption(report)
    prefix = f"{title}: " if title else ""
    sections: list[Section] = []
    ok = [r for r in report["results"] if "error" not in r]
    for r in report["results"]:
        if "error" in r:
            sections.append((f"{prefix}{r['model']}", ("error",), [[r["error"]]], caption))
            continue
        sections.append((f"{prefix}{r['model']}", BREAKDOWN_COLUMNS, breakdown_rows(r), caption))
    if len(ok) >= 2:
        names = " vs ".join(r["model"] for r in reversed(ok))
        view = (f"{prefix}{names} per component", comparison_columns(ok), comparison_rows(ok))
        sections.append((*view, caption))
    return sections


def _sections(report: dict, title: str | None) -> list[Section]:
    """``(title, columns, rows, caption)`` for each table of ``report``."""
    kinds = {
        "model": (MODEL_COLUMNS, model_rows, model_caption),
        "ops": (OPS_COLUMNS, ops_rows, ops_caption),
    }
    if report.get("kind") == "breakdown":
        return _breakdown_sections(report, title)
    if report.get("kind") not in kinds:
        valid = ", ".join([*kinds, "breakdown"])
        raise ValueError(f"unknown report kind {report.get('kind')!r}; valid: {valid}")
    columns, rows, caption = kinds[report["kind"]]
    return [(title, columns, rows(report), caption(report))]


def rich_tables(report: dict, title: str | None = None) -> list[Table]:
    """The report as rich tables (one for model and ops reports, several for a breakdown)."""
    tables = []
    for name, columns, rows, caption in _sections(report, title):
        table = Table(title=name, caption=caption)
        for column in columns:
            table.add_column(
                column, justify="left" if column in ("model", "component") else "right"
            )
        for row in rows:
            table.add_row(*row)
        tables.append(table)
    return tables


def rich_table(report: dict, title: str | None = None) -> Table:
    """A model or ops report as one rich table with its caption."""
    if report.get("kind") == "breakdown":
        raise ValueError("a breakdown report has one table per model; use rich_tables")
    return rich_tables(report, title)[0]


def markdown_table(report: dict, title: str | None = None) -> str:
    """The report as GitHub-flavoured markdown tables, each with its caption in italics."""
    lines: list[str] = []
    for name, columns, rows, caption in _sections(report, title):
        lines += [f"### {name}", ""] if name else []
        lines.append("| " + " | ".join(columns) + " |")
        lines.append("|" + "|".join("---" for _ in columns) + "|")
        lines.extend("| " + " | ".join(row) + " |" for row in rows)
        lines += ["", f"*{caption}*", ""]
    return "\n".join(lines)


def write_json(report: dict, path: str | Path) -> Path:
    """Write ``report`` as indented JSON (parent folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def markdown_from_files(paths: Sequence[str | Path]) -> str:
    """One markdown section per JSON report file (titled by the file's stem)."""
    if not paths:
        raise ValueError("no report files given")
    sections = []
    for path in paths:
        path = Path(path)
        sections.append(markdown_table(_read_report(path), title=path.stem))
    return "\n".join(sections)


def _read_report(path: Path) -> dict:
    """The JSON report at ``path``; :class:`InputError` naming the file if it is not one."""
    if not path.is_file():
        raise FileNotFoundError(f"benchmark report {path} does not exist")
    try:
        report = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path} is not a JSON benchmark report: {err}") from None
    kinds = ("model", "ops", "breakdown")
    if not isinstance(report, dict) or report.get("kind") not in kinds:
        kind = report.get("kind") if isinstance(report, dict) else type(report).__name__
        raise InputError(
            f"{path} is not a report of f4d bench {'/'.join(kinds)} (kind {kind!r})",
            hint="bench data results have no table; pass the JSON of bench model, ops or breakdown",
        )
    return report

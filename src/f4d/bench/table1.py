"""The paper's Table 1 as data, and the harness that measures our models beside it.

Table 1 (Something-Something v1) compares V4D and F4D at ResNet-50: top-1, GFLOPs, videos/s
and parameters. :data:`PAPER_TABLE1` holds its rows as printed; :func:`count_rows` counts our
parameters and multiply-adds for each row at two inputs (:data:`PROTOCOLS`), and
:func:`time_rows` times them with the one timing harness
(:func:`f4d.models.profile.measure_speed`), one model in memory at a time. ``f4d profile
--table1`` draws the tables; :func:`table1_payload` is its JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, NamedTuple

import torch

from f4d.errors import OptionError
from f4d.models import create_model, profile_model
from f4d.models.profile import ProfileResult, measure_speed


class PaperRow(NamedTuple):
    """One row of the paper's Table 1 (Something-Something v1, single crop, as printed).

    ``frames`` is the paper's "Frames" column. For FLOPs and speed the paper "equally sample[s]
    8 or 16 frames from a video" (section 4.5, following Jiang et al. 2019): frames per video.
    Its models train on U=4 action units of 8 (or 16) frames each (section 4.3).
    """

    approach: str
    model: str
    frames: int
    top1: float
    gflops: float
    videos_per_s: float
    params_m: float


PAPER_TABLE1 = (
    PaperRow("V4D", "v4d_r50", 8, 50.4, 167.0, 38.1, 36.2),
    PaperRow("F4D", "f4d_r50", 8, 57.5, 72.0, 52.3, 36.8),
    PaperRow("F4D", "f4d_r50", 16, 58.4, 143.0, 27.5, 36.8),
)
# V4D-R50 without its two 4D blocks, counted next to the rows (not timed): the paper's V4D
# FLOPs match this backbone at the training input.
BACKBONE = ("V4D backbone", "slow_r50", 8)

# Table 1's two inputs per row: the paper's FLOPs/speed protocol (section 4.5: 8 or 16 frames
# per video, U x T with T = frames / U) and the training input (section 4.3: U x 8 or 16 frames)
PROTOCOLS = {
    "paper_protocol": "the paper's FLOPs protocol: 8 or 16 frames per video (U x frames/U)",
    "training_input": "the training input: U action units of 8 or 16 frames",
}


class SpeedSetting(NamedTuple):
    """How speed is measured: videos per batch, untimed passes, timed passes (median)."""

    batch: int
    warmup: int
    iters: int


SPEED_DEFAULTS = {"cuda": SpeedSetting(16, 3, 10), "cpu": SpeedSetting(1, 1, 3)}


def speed_setting(device: torch.device, **given: int | None) -> SpeedSetting:
    """The device's defaults (GPU- or CPU-sized), with the ``given`` fields that are not None."""
    default = SPEED_DEFAULTS["cuda" if device.type == "cuda" else "cpu"]
    return default._replace(**{k: v for k, v in given.items() if v is not None})


class Input(NamedTuple):
    """One model at one input: ``units`` x ``frames`` per video (``frames`` = T per unit)."""

    model: str
    units: int
    frames: int

    def label(self) -> str:
        return f"{self.units}x{self.frames}"


class Table1Row(NamedTuple):
    """A Table 1 row (or the backbone reference): its two inputs and our results for each."""

    label: str
    paper: PaperRow | None
    inputs: dict[str, Input]
    ours: dict[str, ProfileResult]


# --------------------------------------------------------------------------- one input
def count_input(
    spec: Input, *, num_classes: int, size: int, batch: int, device: Any
) -> ProfileResult:
    """Parameters and MACs of ``spec`` (built on the meta device: nothing is computed)."""
    with torch.device("meta"):
        model = create_model(spec.model, num_classes)
    return profile_model(
        model, frames=spec.frames, units=spec.units, size=size, batch=batch, device=device,
        speed=False,
    )  # fmt: skip


def time_inputs(
    jobs: list[tuple[Input, ProfileResult]],
    *,
    num_classes: int,
    size: int,
    setting: SpeedSetting,
    device: torch.device,
    on_pass: Callable[[Input, int], None] | None = None,
) -> list[ProfileResult]:
    """Measure videos/s of every ``(input, counted)`` job, building one model at a time (jobs
    should come grouped by model). ``on_pass(input, macs)`` follows every pass, warm-up
    included, with the multiply-adds that pass ran (for a progress bar's ETA)."""
    models: dict[str, torch.nn.Module] = {}
    timed = []
    for spec, counted in jobs:
        if spec.model not in models:
            models.clear()  # one model in memory at a time
            with device:
                models[spec.model] = create_model(spec.model, num_classes)
        step = counted.macs * setting.batch
        speed = measure_speed(
            models[spec.model], frames=spec.frames, units=spec.units, batch=setting.batch,
            size=size, device=device, warmup=setting.warmup, iters=setting.iters,
            on_pass=None if on_pass is None else lambda s=spec, n=step: on_pass(s, n),
        )  # fmt: skip
        timed.append(replace(counted, videos_per_s=speed))
    return timed


# --------------------------------------------------------------------------- the table
def table1_inputs(model: str, frames: int, units: int) -> dict[str, Input]:
    """The two inputs of a Table 1 row: ``frames`` per video, and ``units`` x ``frames``."""
    if frames % units:
        raise OptionError(
            f"--units {units} does not divide the paper's {frames} frames per video "
            "(Table 1's protocol); use --units 1, 2, 4 or 8"
        )
    return {
        "paper_protocol": Input(model, units, frames // units),
        "training_input": Input(model, units, frames),
    }


def table1_specs(units: int) -> list[tuple[str, PaperRow | None, dict[str, Input]]]:
    """``(label, paper row or None, inputs)`` for every paper row, then the V4D backbone."""
    rows: list[tuple[str, PaperRow | None, dict[str, Input]]] = [
        (f"{p.approach} {p.frames}f", p, table1_inputs(p.model, p.frames, units))
        for p in PAPER_TABLE1
    ]
    label, model, frames = BACKBONE
    return [*rows, (label, None, table1_inputs(model, frames, units))]


def count_rows(
    *,
    units: int,
    num_classes: int,
    size: int,
    setting: SpeedSetting,
    device: Any,
    on_row: Callable[[list[Table1Row]], None] | None = None,
) -> list[Table1Row]:
    """Count every row's inputs (seconds in all); ``on_row(rows so far)`` after each row."""
    rows: list[Table1Row] = []
    for label, paper, inputs in table1_specs(units):
        count = {"num_classes": num_classes, "size": size, "batch": setting.batch}
        ours = {p: count_input(spec, **count, device=device) for p, spec in inputs.items()}
        rows.append(Table1Row(label, paper, inputs, ours))
        if on_row is not None:
            on_row(rows)
    return rows


def timing_jobs(rows: list[Table1Row]) -> list[tuple[int, str]]:
    """``(row index, protocol)`` of every input to time: the paper's rows, grouped by model
    (stable, so rows stay in order within a model)."""
    keys = [(i, p) for i, row in enumerate(rows) if row.paper is not None for p in row.inputs]
    return sorted(keys, key=lambda key: rows[key[0]].inputs[key[1]].model)


def time_rows(
    rows: list[Table1Row],
    *,
    num_classes: int,
    size: int,
    setting: SpeedSetting,
    device: torch.device,
    on_pass: Callable[[Input, int], None] | None = None,
) -> list[Table1Row]:
    """Time both inputs of the paper's rows (see :func:`time_inputs`); the backbone row is
    returned as counted."""
    keys = timing_jobs(rows)
    jobs = [(rows[i].inputs[p], rows[i].ours[p]) for i, p in keys]
    results = time_inputs(
        jobs, num_classes=num_classes, size=size, setting=setting, device=device, on_pass=on_pass
    )
    timed = dict(zip(keys, results, strict=True))
    return [
        row._replace(ours={p: timed.get((i, p), result) for p, result in row.ours.items()})
        for i, row in enumerate(rows)
    ]


def speed_ratio(rows: list[Table1Row], protocol: str | None) -> float | None:
    """F4D 8f over V4D 8f videos/s: the paper's own (``protocol`` None) or ours at
    ``protocol`` (None when not timed)."""
    v4d, f4d = rows[0], rows[1]
    if protocol is None:
        return f4d.paper.videos_per_s / v4d.paper.videos_per_s  # type: ignore[union-attr]
    ours = [r.ours[protocol].videos_per_s for r in (f4d, v4d)]
    return None if None in ours else ours[0] / ours[1]  # type: ignore[operator]


def table1_payload(rows: list[Table1Row], setting: SpeedSetting | None) -> dict[str, Any]:
    """The JSON of ``f4d profile --table1`` (``setting`` None: not timed)."""
    return {
        "protocols": PROTOCOLS,
        "speed": None if setting is None else setting._asdict(),
        "rows": [
            {
                "row": row.label,
                "paper": None if row.paper is None else row.paper._asdict(),
                **{p: result.as_dict() for p, result in row.ours.items()},
            }
            for row in rows
        ],
    }

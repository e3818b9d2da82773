"""f4d.bench.breakdown: which modules are timed, nesting of their times, the report tables."""

from __future__ import annotations

import math
import time
from dataclasses import replace

import pytest
import torch
from torch import nn

from f4d.bench.breakdown import (
    HookTimer,
    _with_rest,
    bench_breakdown,
    bench_breakdowns,
    model_components,
)
from f4d.bench.model import ModelBenchSettings
from f4d.bench.report import markdown_table, rich_tables
from f4d.models import create_model

CPU = torch.device("cpu")
TINY = ModelBenchSettings(
    frames=2, units=2, batch=1, size=16, repeats=3, warmup=1, num_classes=10
)  # fmt: skip


def _paths(name: str, **overrides: object) -> list[str]:
    model = create_model(name, 10, **overrides)
    return [c.path for top in model_components(model) for c in top.walk()]


def test_components_of_f4d_nest_block_op_and_attention() -> None:
    paths = _paths("f4d_tiny")
    assert paths[:6] == ["stem", "conv2", "conv3", "conv4", "conv5", "blocks4d"]
    block = "blocks4d.conv4_0"
    assert paths[6:] == [
        block, f"{block}.op", f"{block}.op.spatial", f"{block}.op.norm", f"{block}.op.act",
        f"{block}.op.temporal", f"{block}.attention_chain", f"{block}.norm+act", "head",
    ]  # fmt: skip
    # any other attention list runs the modules one by one: one row each
    one_by_one = _paths("f4d_tiny", block4d={"attention": ["ta", "sta"]})
    assert f"{block}.attention.ta" in one_by_one and f"{block}.attention.sta" in one_by_one
    assert f"{block}.attention_chain" not in one_by_one


def test_components_of_v4d_r50_and_tsn() -> None:
    v4d = _paths("v4d_r50")
    assert "blocks4d.conv3_1.op" in v4d and "blocks4d.conv3_3.norm+act" in v4d
    assert not any(".op." in p or ".attention." in p for p in v4d)  # Conv4d has no children
    assert _paths("tsn_tiny") == ["stem", "conv2", "conv3", "conv4", "conv5", "head"]


class _Sleep(nn.Module):
    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(self.seconds)
        return x


class _Toy(nn.Module):
    """conv1 10 ms, layer1 two 5 ms blocks, an unnamed child 2 ms, 8 ms outside any module."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = _Sleep(0.010)
        self.layer1 = nn.ModuleList([_Sleep(0.005), _Sleep(0.005)])
        self.extra = _Sleep(0.002)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        for block in self.layer1:
            x = block(x)
        time.sleep(0.008)
        return self.extra(x)


def test_hook_timer_sums_calls_per_component_and_rest_is_outside_time() -> None:
    model = _Toy()
    components = model_components(model)
    assert [c.path for c in components] == ["stem", "conv2", "extra"]
    with HookTimer(components, CPU) as timer:
        start = time.perf_counter()
        model(torch.zeros(1))
        whole = time.perf_counter() - start
    totals = _with_rest(components, timer.totals, whole)
    assert 0.010 <= totals["stem"] < 0.040
    assert 0.010 <= totals["conv2"] < 0.040  # both blocks of layer1 summed
    assert 0.002 <= totals["extra"] < 0.030
    assert 0.008 <= totals["(rest)"] < 0.040
    assert not model._forward_hooks and not model.conv1._forward_pre_hooks  # hooks removed


@pytest.fixture(scope="module")
def f4d_result() -> dict:
    torch.manual_seed(0)
    return bench_breakdown("f4d_tiny", settings=TINY, device=CPU)


def test_breakdown_rows_nest_and_add_up(f4d_result: dict) -> None:
    ms = {r["component"]: r["median_ms"] for r in f4d_result["rows"]}
    block = "blocks4d.conv4_0"
    for child, parent in [
        (block, "blocks4d"), (f"{block}.op", block), (f"{block}.attention_chain", block),
        (f"{block}.op.spatial", f"{block}.op"), (f"{block}.op.temporal", f"{block}.op"),
    ]:  # fmt: skip
        assert 0 < ms[child] <= ms[parent] + 1e-6, (child, parent)
    assert all(ms[p] >= -1e-6 for p in ms if p.endswith("(rest)"))
    # the top-level rows and their (rest) share the forward: per forward they add up to it
    # exactly, so with one timed forward (repeats=1) the medians do too; with several, the
    # median of a sum is not the sum of medians (under load the two were seen 2.5x apart)
    one = bench_breakdown("f4d_tiny", settings=replace(TINY, repeats=1), device=CPU)
    top = sum(r["median_ms"] for r in one["rows"] if r["depth"] == 0)
    assert top == pytest.approx(one["whole_ms"], rel=1e-9)
    assert all(r["median_ms"] >= 0 for r in one["rows"] if r["depth"] == 0)
    assert all(math.isfinite(r["percent"]) and 0 <= r["percent"] <= 100.1
               for r in f4d_result["rows"] if not r["component"].endswith("(rest)"))  # fmt: skip
    assert f4d_result["plain_ms"] > 0 and f4d_result["hook_overhead"] > 0


def test_breakdowns_without_4d_blocks_compare_side_by_side(f4d_result: dict) -> None:
    report = bench_breakdowns(["tsn_tiny"], settings=TINY, device=CPU)
    tsn = report["results"][0]
    assert [r["component"] for r in tsn["rows"]] == [
        "stem", "conv2", "conv3", "conv4", "conv5", "head", "(rest)"
    ]  # fmt: skip
    report["results"].append(f4d_result)
    text = markdown_table(report)
    assert (
        "### tsn_tiny vs f4d_tiny" not in text and "### f4d_tiny vs tsn_tiny per component" in text
    )
    assert "| blocks4d.conv4_0.attention_chain | - | - |" in text
    assert len(rich_tables(report)) == 3
    assert report["kind"] == "breakdown" and report["settings"]["size"] == 16


def test_breakdown_rejects_unknown_models_and_compile() -> None:
    with pytest.raises(ValueError, match=r"unknown model.*'nope_r50'.*f4d_tiny"):
        bench_breakdowns(["nope_r50"], settings=TINY, device=CPU)
    compiled = ModelBenchSettings(compile=True)
    with pytest.raises(ValueError, match="compile=True is not supported"):
        bench_breakdown("f4d_tiny", settings=compiled, device=CPU)

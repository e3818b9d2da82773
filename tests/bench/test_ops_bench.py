"""f4d.bench.ops: the fast ops agree with the naive loop; timings and speed-ups are consistent."""

from __future__ import annotations

import pytest
import torch

from f4d.bench.ops import OpsBenchSettings, bench_ops, factorized_reference
from f4d.ops import Factorized4d

CPU = torch.device("cpu")


def test_ops_bench_rows_agree_with_the_loop_and_report_speedups() -> None:
    settings = OpsBenchSettings(units=3, frames=4, size=5, backward=True, repeats=2, warmup=0)
    report = bench_ops([8, 16], settings=settings, device=CPU)
    assert [row["width"] for row in report["results"]] == [8, 16]
    for row in report["results"]:
        assert row["conv4d_max_abs_diff"] < 1e-4
        assert row["factorized_max_abs_diff"] < 1e-4
        assert min(row["loop_ms"], row["conv4d_ms"], row["factorized_ms"]) > 0
        assert row["conv4d_speedup"] == pytest.approx(row["loop_ms"] / row["conv4d_ms"])
        assert row["factorized_speedup"] == pytest.approx(row["loop_ms"] / row["factorized_ms"])
        # (3+1)D keeps the parameter count of the full 4D layer within a few percent (M_i)
        assert row["params_factorized"] == pytest.approx(row["params_conv4d"], rel=0.05)
    assert report["settings"]["kernel"] == (3, 3, 1, 1)


def test_factorized_reference_matches_the_layer_for_a_general_kernel() -> None:
    layer = Factorized4d(4, 6, (3, 3, 3, 3), padding=1).eval()
    with torch.no_grad():
        layer.norm.running_mean.uniform_(-0.5, 0.5)
        layer.norm.running_var.uniform_(0.5, 2.0)
    x = torch.randn(2, 4, 3, 4, 5, 5)
    with torch.no_grad():
        diff = (layer(x) - factorized_reference(layer, x)).abs().max()
    assert diff < 1e-5


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="kernel"):
        OpsBenchSettings(kernel=(3, 3, 1))
    with pytest.raises(ValueError, match="widths"):
        bench_ops([], settings=OpsBenchSettings(), device=CPU)

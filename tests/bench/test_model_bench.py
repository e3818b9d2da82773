"""f4d.bench.model on tiny models: sane fields, fair ratios, failures kept, bad names refused."""

from __future__ import annotations

import pytest
import torch

from f4d.bench import model as model_bench
from f4d.bench.model import ModelBenchSettings, bench_models, channels_last_6d
from f4d.models import create_model

CPU = torch.device("cpu")
TINY = ModelBenchSettings(frames=2, units=2, batch=2, size=16, repeats=2, warmup=1,
                          num_classes=5, train=True)  # fmt: skip


@pytest.fixture(scope="module")
def report() -> dict:
    torch.manual_seed(0)
    return bench_models(["f4d_tiny", "tsn_tiny"], settings=TINY, device=CPU)


def test_params_equal_the_sum_of_parameter_sizes(report: dict) -> None:
    for result in report["results"]:
        fresh = create_model(result["model"], 5)
        assert result["params"] == sum(p.numel() for p in fresh.parameters())


def test_times_are_positive_and_throughput_is_batch_over_median(report: dict) -> None:
    for result in report["results"]:
        for phase in ("inference", "train"):
            data = result[phase]
            assert len(data["times_s"]) == TINY.repeats
            assert min(data["times_s"]) > 0
            assert data["videos_per_s"] == pytest.approx(TINY.batch / data["median_s"])
            times = sorted(data["times_s"])
            assert (data["min_s"], data["max_s"]) == (times[0], times[-1])
            assert data["videos_per_s_min"] == pytest.approx(TINY.batch / times[-1])
            assert data["videos_per_s_max"] == pytest.approx(TINY.batch / times[0])
            assert data["spread"] == pytest.approx((times[-1] - times[0]) / data["median_s"])
            assert data["achieved_tflops"] > 0 and data["peak_share"] is None  # CPU: no peak


def test_flops_of_a_training_step_exceed_twice_the_forward(report: dict) -> None:
    for result in report["results"]:
        assert result["flops_per_video"] == 2 * result["macs_per_video"] > 0
        assert 2 * result["flops_per_video"] < result["train_flops_per_video"]
        assert result["train_flops_per_video"] < 3.01 * result["flops_per_video"]


def test_ratios_are_against_the_first_model(report: dict) -> None:
    first, second = report["results"]
    assert first["inference"]["speedup_vs_first"] == 1.0
    expected = second["inference"]["videos_per_s"] / first["inference"]["videos_per_s"]
    assert second["inference"]["speedup_vs_first"] == pytest.approx(expected)
    assert second["macs_vs_first"] == pytest.approx(
        second["macs_per_video"] / first["macs_per_video"]
    )
    assert report["machine"]["torch"] == torch.__version__
    assert report["settings"]["batch"] == 2


def test_a_failing_model_is_recorded_and_the_rest_still_run(monkeypatch) -> None:
    real = model_bench.bench_model

    def flaky(name: str, **kwargs):
        if name == "v4d_tiny":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(name, **kwargs)

    monkeypatch.setattr(model_bench, "bench_model", flaky)
    settings = ModelBenchSettings(frames=2, units=2, batch=1, size=16, repeats=1, warmup=0)
    report = bench_models(["v4d_tiny", "tsn_tiny"], settings=settings, device=CPU)
    failed, ok = report["results"]
    assert "out of memory" in failed["error"]
    assert ok["inference"]["speedup_vs_first"] == 1.0  # ratios start at the first success


def test_unknown_model_names_are_refused_before_any_work() -> None:
    with pytest.raises(ValueError, match=r"unknown model\(s\) \['f4d_r5'\]"):
        bench_models(["f4d_tiny", "f4d_r5"], settings=TINY, device=CPU)
    with pytest.raises(ValueError, match="dtype"):
        ModelBenchSettings(dtype="fp8")


def test_channels_last_6d_gives_channels_last_3d_after_merging_units() -> None:
    x = torch.randn(2, 3, 4, 5, 6, 7)  # (B, U, C, T, H, W)
    y = channels_last_6d(x)
    merged = y.view(6, 4, 5, 6, 7)  # (B·U, C, T, H, W), a view: no copy
    assert torch.equal(y, x)
    assert merged.is_contiguous(memory_format=torch.channels_last_3d)


def test_a_training_flop_count_failure_keeps_the_timings(monkeypatch) -> None:
    def broken(model, settings):
        raise NotImplementedError("meta kernel missing (simulated)")

    monkeypatch.setattr(model_bench, "_count_train_flops", broken)
    settings = ModelBenchSettings(frames=2, units=2, batch=1, size=16, repeats=1, warmup=0,
                                  train=True)  # fmt: skip
    (result,) = bench_models(["tsn_tiny"], settings=settings, device=CPU)["results"]
    assert "meta kernel missing" in result["train_flops_error"]
    assert result["train"]["videos_per_s"] > 0 and result["train"]["achieved_tflops"] is None
    assert result["inference"]["achieved_tflops"] > 0


def test_models_are_benched_as_created_or_converted_to_ncthw() -> None:
    from f4d.bench.model import build_model
    from f4d.bench.report import model_caption

    device = torch.device("cpu")
    default = build_model("f4d_tiny", ModelBenchSettings(num_classes=3), device)
    ncthw = build_model("f4d_tiny", ModelBenchSettings(num_classes=3, contiguous=True), device)
    assert default.conv1.weight.is_contiguous(memory_format=torch.channels_last_3d)
    assert not default.conv1.weight.is_contiguous()
    assert ncthw.conv1.weight.is_contiguous()
    report = {"settings": {"dtype": "fp32", "compile": False, "channels_last": False,
                           "contiguous": True, "batch": 1, "units": 2, "frames": 2, "size": 16,
                           "repeats": 1, "warmup": 0},
              "machine": {"device_name": "cpu", "torch": "x", "cpu_threads": 2},
              "peak_tflops": None, "peak_source": "n/a"}  # fmt: skip
    assert "NCTHW model" in model_caption(report)


def test_precision_runs_through_for_inference_and_training_autocasts(monkeypatch) -> None:
    import f4d.models.precision as precision_module

    monkeypatch.setattr(precision_module, "cpu_supports_bf16", lambda: False)
    settings = ModelBenchSettings(frames=2, units=2, batch=1, size=16, repeats=1, warmup=0,
                                  num_classes=5, train=True, precision="bf16")  # fmt: skip
    result = model_bench.bench_model("f4d_tiny", settings=settings, device=CPU)
    assert result["inference"]["precision"] == "bf16"  # asked for: runs even without hardware
    assert result["train"]["precision"] == "bf16"
    auto = ModelBenchSettings(frames=2, units=2, batch=1, size=16, repeats=1, warmup=0,
                              precision="auto")  # fmt: skip
    result = model_bench.bench_model("tsn_tiny", settings=auto, device=CPU)
    assert result["inference"]["precision"] == "fp32"  # auto without bf16 hardware
    raw = model_bench.bench_model("tsn_tiny", settings=TINY, device=CPU)
    assert raw["inference"]["precision"] == "fp32"  # plain autocast path, dtype fp32


def test_precision_and_plain_autocast_dtype_exclude_each_other() -> None:
    with pytest.raises(ValueError, match="leave dtype at fp32"):
        ModelBenchSettings(precision="bf16", dtype="bf16")
    with pytest.raises(ValueError, match="precision must be one of"):
        ModelBenchSettings(precision="fp8")

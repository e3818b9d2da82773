"""f4d.bench.timing: devices, synchronised timings, FLOP counting, memory, vendor peaks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch import nn

from f4d.bench.timing import (
    count_flops,
    machine_info,
    median,
    peak_tflops,
    resolve_device,
    resolve_dtype,
    time_call,
    vendor_peak,
)

CPU = torch.device("cpu")


def test_resolve_device_names_bad_values() -> None:
    assert resolve_device("cpu") == CPU
    with pytest.raises(ValueError, match="'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto") == CPU
        with pytest.raises(ValueError, match="sees no GPU"):
            resolve_device("cuda:0")


def test_resolve_dtype_lists_valid_names() -> None:
    assert resolve_dtype("bf16") is torch.bfloat16
    with pytest.raises(ValueError, match="valid: fp32, bf16"):
        resolve_dtype("int8")


def test_time_call_runs_warmup_untimed_and_returns_repeats() -> None:
    calls = []
    times = time_call(lambda: calls.append(1), device=CPU, warmup=3, repeats=4)
    assert len(calls) == 7
    assert len(times) == 4 and all(t > 0 for t in times)
    assert median([3.0, 1.0, 2.0]) == 2.0
    with pytest.raises(ValueError, match="repeats"):
        time_call(lambda: None, device=CPU, repeats=0)


def test_count_flops_of_a_linear_layer_is_two_per_multiply_add() -> None:
    layer = nn.Linear(16, 8, bias=False)
    x = torch.randn(5, 16)
    assert count_flops(lambda: layer(x)) == 2 * 5 * 16 * 8


def test_cpu_memory_is_not_claimed_but_rss_growth_is_measured() -> None:
    # in a fresh process: here, memory freed by earlier tests may still be mapped (f4d keeps
    # freed malloc blocks for reuse), so a new tensor need not grow the resident set
    code = (
        "import json, torch\n"
        "from f4d.bench.timing import track_peak_memory\n"
        "with track_peak_memory(torch.device('cpu')) as memory:\n"
        "    block = torch.ones(16 * 2**20)  # 64 MiB, fresh pages\n"
        "    block += 1\n"
        "print(json.dumps([memory.mib, memory.rss_growth_mib]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)  # fmt: skip
    mib, rss_growth = json.loads(out.stdout.strip().splitlines()[-1])
    assert mib is None
    if rss_growth is not None:  # /proc available (Linux)
        assert rss_growth >= 48


def test_vendor_peaks_by_card_name() -> None:
    assert vendor_peak("NVIDIA H200", "bf16")[0] == 989.5
    assert vendor_peak("NVIDIA H100 PCIe", "fp32")[0] == 51.0
    assert vendor_peak("NVIDIA H100 80GB HBM3", "tf32")[0] == 494.5
    assert vendor_peak("NVIDIA H200 NVL", "bf16")[0] == 835.5
    value, source = vendor_peak("Tesla P100-PCIE-16GB", "fp32")
    assert value is None and "--peak-tflops" in source
    assert peak_tflops(CPU, "bf16")[0] is None


def test_machine_info_names_software() -> None:
    info = machine_info(CPU)
    assert info["torch"] == torch.__version__
    assert info["device"] == "cpu" and "cores" in info["device_name"]

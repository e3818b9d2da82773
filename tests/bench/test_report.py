"""f4d.bench.report: markdown and rich tables from result dicts."""

from __future__ import annotations

import json

import pytest

from f4d.bench.report import (
    markdown_from_files,
    markdown_table,
    model_rows,
    rich_table,
    spread_warnings,
)
from f4d.errors import InputError

REPORT = {
    "kind": "model",
    "machine": {"device_name": "NVIDIA H200", "torch": "2.11.0"},
    "settings": {"dtype": "bf16", "compile": False, "channels_last": True, "batch": 16,
                 "units": 4, "frames": 8, "size": 224, "repeats": 5, "warmup": 2},
    "peak_tflops": 989.5,
    "peak_source": "NVIDIA H200 data sheet, dense bf16",
    "results": [
        {"model": "v4d_r50", "params": 30_000_000, "macs_per_video": 80e9, "macs_vs_first": 1.0,
         "inference": {"videos_per_s": 100.0, "speedup_vs_first": 1.0, "peak_memory_mib": 2048.0,
                       "achieved_tflops": 16.0, "peak_share": 16.0 / 989.5}},
        {"model": "f4d_r50", "params": 31_000_000, "macs_per_video": 40e9, "macs_vs_first": 0.5,
         "inference": {"videos_per_s": 150.0, "speedup_vs_first": 1.5, "peak_memory_mib": None,
                       "achieved_tflops": 12.0, "peak_share": 12.0 / 989.5}},
        {"model": "i3d_r50", "error": "OutOfMemoryError: CUDA out of memory"},
    ],
}  # fmt: skip


def test_model_rows_format_ratios_shares_and_errors() -> None:
    rows = model_rows(REPORT)
    assert rows[0][:4] == ["v4d_r50", "30.00", "80", "1.00×"]
    assert rows[1][4] == "150.00 (1.50×)"
    assert rows[1][5] == "n/a"
    assert rows[1][6] == "12.000 (1.2%)"
    assert rows[1][7] == "-"  # no training phase measured
    assert rows[2][1].startswith("error: OutOfMemoryError")


def test_spread_is_shown_and_a_wide_one_warned_about() -> None:
    """Issue 27 item 8: identical runs gave 7, 93 and 446 videos/s; the median alone hid it."""
    from f4d.bench.timing import spread

    times = [16 / 446, 16 / 93, 16 / 7]  # batch 16
    stats = spread(times)
    assert stats["median_s"] == times[1] and stats["wide_spread"] is True
    assert stats["spread"] == pytest.approx((16 / 7 - 16 / 446) / (16 / 93))
    assert spread([1.0, 1.1, 1.2])["wide_spread"] is False  # 20%
    inference = {"videos_per_s": 93.0, "videos_per_s_min": 7.0, "videos_per_s_max": 446.0,
                 **stats}  # fmt: skip
    report = {**REPORT, "results": [{"model": "f4d_r50", "params": 1, "macs_per_video": 1,
                                     "inference": inference}]}  # fmt: skip
    assert model_rows(report)[0][4] == "93.00 [7-446] !"
    (warning,) = spread_warnings(report)
    assert warning.startswith("warning: f4d_r50 inference: the 5 timed calls ranged 7-446")
    assert "median of 93" in warning and "busy" in warning
    assert spread_warnings(REPORT) == []


def test_markdown_table_has_caption_with_card_and_settings(tmp_path) -> None:
    text = markdown_table(REPORT, title="bf16 eager")
    lines = text.splitlines()
    assert lines[0] == "### bf16 eager"
    assert sum(line.startswith("| ") for line in lines) == 4  # header + 3 models
    assert "NVIDIA H200, torch 2.11.0" in text and "channels_last_3d" in text
    path = tmp_path / "bf16_eager.json"
    path.write_text(json.dumps(REPORT))
    assert markdown_from_files([path]).startswith("### bf16_eager")
    assert rich_table(REPORT).row_count == 3


def test_unknown_report_kind_and_missing_file_are_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown report kind 'gpu'"):
        markdown_table({"kind": "gpu"})
    with pytest.raises(FileNotFoundError, match=r"nope\.json"):
        markdown_from_files([tmp_path / "nope.json"])
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "bytes.json").write_bytes(b"\x80\x04not json")
    (tmp_path / "data.json").write_text('{"kind": "data", "videos_per_s": 3.0}')
    for name, why in [("list.json", "kind 'list'"), ("bytes.json", "not a JSON benchmark"),
                      ("data.json", "kind 'data'")]:  # fmt: skip
        with pytest.raises(InputError, match=why):
            markdown_from_files([tmp_path / name])

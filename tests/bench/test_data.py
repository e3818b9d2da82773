"""compare_data: interleaved rounds, steady rates, medians and per-round speed-ups."""

from __future__ import annotations

import pytest

import f4d.bench.data as bench
from f4d.data.formats import DatasetIndex


def test_rounds_interleave_and_ratios_are_per_round(monkeypatch):
    calls = []
    # (variant, round) -> steady videos/s; the whole-pass rate is deliberately different.
    steady = {("naive", 0): 2.0, ("f4d", 0): 8.0, ("naive", 1): 1.0, ("f4d", 1): 5.0,
              ("naive", 2): 4.0, ("f4d", 2): 10.0}  # fmt: skip

    def fake(index, *, naive, **settings):
        name = "naive" if naive else "f4d"
        rnd = sum(c == name for c in calls)
        calls.append(name)
        rate = steady[name, rnd]
        return {"videos_per_s": rate / 2, "steady_videos_per_s": rate}

    monkeypatch.setattr(bench, "bench_data", fake)
    index = DatasetIndex((), ("a",))
    out = bench.compare_data({"naive": (index, True), "f4d": (index, False)}, rounds=3,
                             baseline="naive", workers=2, num_videos=4)  # fmt: skip
    assert calls == ["naive", "f4d"] * 3  # interleaved, not one variant after the other
    assert out["rate"] == "steady_videos_per_s"
    f4d = out["variants"]["f4d"]
    assert f4d["videos_per_s"] == 8.0 and f4d["per_core_videos_per_s"] == 4.0
    assert f4d["speedups"] == [4.0, 5.0, 2.5] and f4d["speedup"] == 4.0  # not 8 / 2
    with pytest.raises(ValueError, match="baseline 'x'"):
        bench.compare_data({"f4d": (index, False)}, rounds=1, baseline="x")


def test_naive_reader_decodes_everything_and_refuses_frame_folders(tmp_path, realdata):
    from f4d.data.formats import VideoRecord

    webm = VideoRecord(realdata / "videos" / "human2bot_task5_0.webm", 0)
    naive = bench.NaiveVideoDataset(DatasetIndex((webm,), ("a",)), units=2, frames_per_unit=3,
                                    size=16)  # fmt: skip
    assert naive[0]["video"].shape == (1, 2, 3, 3, 16, 16)
    (tmp_path / "clip").mkdir()
    folder = bench.NaiveVideoDataset(
        DatasetIndex((VideoRecord(tmp_path / "clip", 0),), ("a",)), units=2, frames_per_unit=3,
        size=16,
    )  # fmt: skip
    with pytest.raises(bench.NaiveReaderError, match="frame folder"):
        folder[0]

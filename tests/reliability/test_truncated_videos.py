"""Truncated videos: every container/codec pair cut at 24 offsets and bit-flipped.

Each input is judged twice in ONE watched subprocess (``harness.py``): as the loaders and
``f4d predict`` see it (``probe`` + ``read_frames``; mode ``load``) and as ``f4d data check``
sees it (one exact, truncation-allowing probe; mode ``check``). A cut file must come out named
truncated (``TruncatedVideoError`` / a ``Truncation``) or as unreadable (the header itself is
cut), never as a clean decode; the whole sources, real videos included, must never be called
truncated; nothing may hang, crash or escape as another exception type.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.conftest import REALDATA
from tests.reliability import cuts
from tests.reliability.generators import BadInput
from tests.reliability.harness import run_batch

pytestmark = pytest.mark.xdist_group("reliability_truncation")

MODES = ("load", "check")
# Errors raised before anything is demuxed: the header itself was cut or damaged.
UNREADABLE = (
    "empty file", "not a readable video container", "no video stream", "unsupported video codec",
    "no frame rate", "invalid frame size", "zero frames",
)  # fmt: skip
ALLOWED = {  # (kind of input, mode) -> acceptable outcomes
    ("whole", "load"): {"decoded"},
    ("whole", "check"): {"decoded"},
    ("cut", "load"): {"truncated", "unreadable"},
    ("cut", "check"): {"truncated", "unreadable"},
    ("flip-whole", "load"): {"decoded", "truncated", "unreadable", "error"},
    ("flip-whole", "check"): {"decoded", "truncated", "unreadable", "error"},
    ("flip-cut", "load"): {"truncated", "unreadable", "error"},
    ("flip-cut", "check"): {"truncated", "unreadable", "error"},
}


def _kind(item: BadInput) -> str:
    if item.name.startswith("cut_"):
        return "cut"
    if item.name.startswith("flip"):
        return "flip-whole" if item.expect == "either" else "flip-cut"
    return "whole"


def _verdict(result: dict) -> str:
    """``decoded`` | ``truncated`` | ``unreadable`` | ``error`` | a failure outcome."""
    outcome = result["outcome"]
    if outcome == "decoded" and not result.get("problems"):
        return "decoded"
    if outcome == "truncated" or (outcome == "error" and result.get("truncated")):
        return "truncated"
    if outcome == "error":
        message = result.get("message", "")
        return "unreadable" if any(u in message for u in UNREADABLE) else "error"
    return outcome  # hang, crash, wrong_error_type, error_without_name, bad_output


@pytest.fixture(scope="module")
def judged(tmp_path_factory, reliability_log):
    """``{(input name, mode): (item, verdict, result)}`` for every input in both modes."""
    root = tmp_path_factory.mktemp("truncation")
    found = cuts.sources(root / "sources", REALDATA / "videos" if REALDATA.is_dir() else None)
    whole = [BadInput(f"whole_{n}", "video", p, "decode", note) for n, (p, note) in found.items()]
    inputs = whole + cuts.cut_inputs(root / "cut", found) + cuts.flip_inputs(root / "flip", found)
    items = []
    for item in inputs:
        for mode in MODES:
            entry = item.as_json()
            entry.update(name=f"{mode}:{item.name}", extra={"mode": mode, "check_content": False})
            items.append(entry)
    results = run_batch(items, timeout_s=30.0)
    out = {}
    for item in inputs:
        for mode in MODES:
            result = results[f"{mode}:{item.name}"]
            out[item.name, mode] = (item, _verdict(result), result)
    _log_per_source(reliability_log, out)
    return out


def _log_per_source(reliability_log, judged) -> None:
    """One summary row per (source, kind of input, mode): how its inputs ended."""
    groups: dict[tuple[str, str, str], list] = {}
    for (name, mode), (item, verdict, result) in judged.items():
        source = name.split("_", 2)[2] if _kind(item) == "cut" else name.split("_", 1)[1]
        groups.setdefault((source, _kind(item), mode), []).append((item, verdict, result))
    for (source, kind, mode), rows in sorted(groups.items()):
        counts = Counter(verdict for _, verdict, _ in rows)
        bad = [(i, v, r) for i, v, r in rows if v not in ALLOWED[kind, mode]]
        shown = ", ".join(f"{v} {n}" for v, n in sorted(counts.items()))
        example = bad[0] if bad else rows[len(rows) // 2]
        detail = f"{shown}; e.g. {example[0].name}: {example[2].get('message') or 'decoded'}"
        reliability_log.add(
            f"truncation ({mode})", f"{source} x {len(rows)} {kind}",
            f"{'FAIL' if bad else 'ok'}:{'/'.join(sorted(counts))}",
            expect="/".join(sorted(ALLOWED[kind, mode])), detail=detail,
        )  # fmt: skip


def _failures(judged, kind: str) -> list[str]:
    return [
        f"{mode}:{name} ({item.note}) -> {verdict}: {result.get('message', '')[:200]}"
        for (name, mode), (item, verdict, result) in judged.items()
        if _kind(item) == kind and verdict not in ALLOWED[kind, mode]
    ]


def test_every_pair_is_cut_at_24_offsets(judged):
    cut = Counter(
        item.name.split("_", 2)[2] for item, _, _ in judged.values() if _kind(item) == "cut"
    )
    assert len(cut) >= len(cuts.SOURCES) and min(cut.values()) == 2 * 24  # 24 offsets x 2 modes
    verdicts = Counter(verdict for item, verdict, _ in judged.values() if _kind(item) == "cut")
    # Only files that declare nothing (written to a pipe) and lose their header stay unnamed;
    # every other cut file is named truncated (the real videos count only where they exist).
    assert verdicts["unreadable"] <= 2 * 3
    assert verdicts["truncated"] == sum(cut.values()) - verdicts["unreadable"]
    assert verdicts["truncated"] >= 2 * 24 * len(cuts.SOURCES) - 2 * 3


def test_no_cut_file_passes_as_a_shorter_video(judged):
    assert _failures(judged, "cut") == []


def test_whole_files_are_never_called_truncated(judged):
    """No false positive on any source, real videos included (audio beside video, B-frames,
    last-frame durations, start offsets, rounded container durations)."""
    assert _failures(judged, "whole") == []
    real = [name for (name, _) in judged if name.startswith("whole_real_")]
    assert len(real) == 2 * len(cuts.REAL) or not REALDATA.is_dir()


@pytest.mark.parametrize("kind", ["flip-whole", "flip-cut"])
def test_bit_flipped_files_end_cleanly(judged, kind):
    assert _failures(judged, kind) == []


def test_truncation_message_says_declared_and_decoded(judged):
    _, verdict, result = judged["cut_0.35_h264_aac.mkv", "check"]
    assert verdict == "truncated"
    assert result["message"].startswith("truncated: decodes ")
    assert " of a declared 1.2" in result["message"]


def test_cut_file_memory_stays_bounded(judged):
    """40 probes + reads each of a cut mkv with audio, a cut piped webm and a cut mp4."""
    names = ["cut_0.50_h264_aac.mkv", "cut_0.50_vp9_piped.webm", "cut_0.50_h264_faststart.mp4"]
    items = []
    for name in names:
        entry = judged[name, "load"][0].as_json()
        entry.update(expect="either", repeat=40, extra={"check_content": False})
        items.append(entry)
    results = run_batch(items, timeout_s=60.0)
    for name, result in results.items():
        growth_mib = (result["rss_kib"][-1] - result["rss_kib"][9]) / 1024
        assert growth_mib < 16, f"{name}: RSS grew {growth_mib:.1f} MiB over 30 probes"

"""Subprocess side of the decode harness: probe and read every input of a manifest, report each.

Run as ``python decode_worker.py MANIFEST.json``. For every input it prints one JSON line
``{"event": "start", "name": ...}`` before touching the file and one ``{"event": "end", ...}``
line with the outcome after, flushing each, so the parent can tell which input hung or crashed
the process. It imports only f4d and numpy (never the test package).

Outcomes: ``decoded`` (output checked), ``error`` (a `VideoDecodeError` naming the file),
and the failures ``wrong_error_type``, ``error_without_name``, ``bad_output``. ``truncated`` in
the result says whether the error was a `TruncatedVideoError`.

An item with ``extra["mode"] == "check"`` is judged as ``f4d data check`` judges it instead:
one exact, truncation-allowing probe (every frame decoded); outcomes ``truncated`` (the probe
returned a `Truncation`), ``decoded`` (a whole file) or ``error``.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

import numpy as np

from f4d.data.video import TruncatedVideoError, VideoDecodeError, probe, read_frames

READ_TIMEOUT_S = 10.0


def rss_kib() -> int:
    """Resident set size of this process in KiB (Linux ``/proc``)."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def pick_indices(num_frames: int) -> list[int]:
    """Every frame of a short video (so a damaged one is hit); else first, middle and last."""
    if num_frames <= 32:
        return list(range(num_frames))
    return sorted({0, num_frames // 2, num_frames - 1})


def check_output(item: dict, info, indices: list[int], frames: np.ndarray) -> list[str]:
    """Problems with a decode that returned: shape, dtype, frame count, frame content."""
    problems = []
    expected_shape = (len(indices), info.height, info.width, 3)
    if frames.dtype != np.uint8 or frames.shape != expected_shape:
        problems.append(f"got {frames.dtype} {frames.shape}, expected uint8 {expected_shape}")
        return problems
    true_frames = item.get("frames")
    strict = item["extra"].get("check_content", item["expect"] == "decode")
    if strict and item.get("size") and [info.height, info.width] != item["size"]:
        problems.append(f"probe size {info.height}x{info.width}, true {item['size']}")
    if item["expect"] == "decode" and true_frames and info.num_frames != true_frames:
        problems.append(f"probe says {info.num_frames} frames, the file has {true_frames}")
    if strict and true_frames:
        for index, frame in zip(indices, frames):
            red = float(frame[..., 0].mean())  # generators paint frame i flat red = 10 * i
            if abs(red - 10 * index) > 6:
                problems.append(f"frame {index} has red {red:.1f}, expected {10 * index}")
    return problems


def past_end_problem(path: str, num_frames: int) -> str | None:
    """Reading the frame just past the probed count must raise naming the file, not wrap."""
    try:
        read_frames(path, [num_frames], timeout_s=READ_TIMEOUT_S)
    except (VideoDecodeError, ValueError) as err:
        return None if os.path.basename(path) in str(err) else f"past-end error lacks name: {err}"
    return f"read_frames({num_frames}) past the probed end returned frames"


def run_check(item: dict) -> dict:
    """``f4d data check``'s verdict: one exact probe that reports a truncation."""
    path = item["path"]
    result: dict = {"name": item["name"], "problems": []}
    try:
        info = probe(path, exact=True, allow_truncated=True)
        result["probed_frames"] = info.num_frames
        result["outcome"] = "decoded" if info.truncation is None else "truncated"
        result["message"] = str(info.truncation or "")
    except Exception as err:
        _record_error(result, path, err)
    return result


def _record_error(result: dict, path: str, err: Exception) -> None:
    """Classify an exception: a VideoDecodeError naming the file (or not), any other type."""
    if isinstance(err, VideoDecodeError):
        result["outcome"] = "error" if os.path.basename(path) in str(err) else "error_without_name"
        result["message"] = str(err)
        result["truncated"] = isinstance(err, TruncatedVideoError)
    else:
        result["outcome"] = "wrong_error_type"
        result["message"] = f"{type(err).__name__}: {err}"
        result["traceback"] = traceback.format_exc(limit=4)


def run_one(item: dict) -> dict:
    """Probe, read first/middle/last frame, read past the end; classify what happened."""
    if item["extra"].get("mode") == "check":
        return run_check(item)
    path = item["path"]
    result: dict = {"name": item["name"], "problems": []}
    try:
        info = probe(path)
        result["probed_frames"] = info.num_frames
        indices = pick_indices(info.num_frames)
        frames = read_frames(path, indices, timeout_s=READ_TIMEOUT_S)
        result["problems"] = check_output(item, info, indices, frames)
        past = past_end_problem(path, info.num_frames)
        if past:
            result["problems"].append(past)
        result["outcome"] = "bad_output" if result["problems"] else "decoded"
    except Exception as err:
        _record_error(result, path, err)
    return result


def main(manifest: str) -> int:
    with open(manifest) as handle:
        items = json.load(handle)
    for item in items:
        print(json.dumps({"event": "start", "name": item["name"]}), flush=True)
        rss = []
        start = time.monotonic()
        for _ in range(item.get("repeat", 1)):
            result = run_one(item)
            rss.append(rss_kib())
        result.update(event="end", seconds=time.monotonic() - start, rss_kib=rss)
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

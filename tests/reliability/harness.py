"""Parent side of the decode harness: run a batch of inputs in a watched subprocess.

One worker process (``decode_worker.py``) handles the whole batch; the parent reads its JSON
lines. When no line arrives within ``timeout_s`` the input in progress is recorded as ``hang``
and the worker is killed; when the worker exits mid-input the input is recorded as ``crash``
with the exit code and stderr tail. Either way a fresh worker goes on with the remaining inputs,
so one bad file costs one restart, not the batch.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

WORKER = Path(__file__).with_name("decode_worker.py")


def run_batch(items: list[dict], *, timeout_s: float = 30.0) -> dict[str, dict]:
    """Results by input name for every item (see ``decode_worker`` for the outcome names)."""
    results: dict[str, dict] = {}
    pending = list(items)
    while pending:
        _run_worker(pending, results, timeout_s)
        pending = [item for item in pending if item["name"] not in results]
    return results


def _run_worker(items: list[dict], results: dict[str, dict], timeout_s: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "manifest.json"
        manifest.write_text(json.dumps(items))
        stderr_path = Path(tmp) / "stderr.txt"
        with open(stderr_path, "w") as stderr:
            proc = subprocess.Popen(
                [sys.executable, str(WORKER), str(manifest)],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
            _watch(proc, results, timeout_s, stderr_path)


def _watch(proc: subprocess.Popen, results: dict, timeout_s: float, stderr_path: Path) -> None:
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
    current = None
    while True:
        try:
            line = lines.get(timeout=timeout_s)
        except queue.Empty:
            proc.kill()
            proc.wait()
            if current is None:
                raise RuntimeError(
                    f"decode worker silent for {timeout_s} s between inputs"
                ) from None
            results[current] = {"name": current, "outcome": "hang", "message": f"> {timeout_s} s"}
            return
        if line is None:  # worker exited
            code = proc.wait()
            if current is not None:
                tail = stderr_path.read_text()[-2000:]
                results[current] = {
                    "name": current,
                    "outcome": "crash",
                    "message": tail,
                    "returncode": code,
                }
            elif code != 0:
                raise RuntimeError(f"decode worker failed at start-up:\n{stderr_path.read_text()}")
            return
        event = json.loads(line)
        if event["event"] == "start":
            current = event["name"]
        else:
            results[event["name"]] = event
            current = None


def _pump(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)

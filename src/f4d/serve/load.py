"""Load against a live ``f4d serve``: concurrent clients, a good/bad mix, latency and memory.

Used by the live-server test (``tests/serve/test_live.py``) and ``benchmarks/serve_load.py``.
Request ``i`` sends case ``i % len(cases)``; each case says what answer is right (a status and,
for good videos, the expected top-1 class), so a run also checks that nothing was lost.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np


@dataclass(frozen=True)
class LoadCase:
    """One kind of request: the file's bytes, the right status and (if 200) the right top-1."""

    name: str
    data: bytes
    status: int = 200
    top1: int | None = None


@dataclass
class Answer:
    case: str
    status: int
    seconds: float
    top1: int | None
    right: bool
    batch_size: int = 0


@dataclass
class LoadReport:
    """All answers of one run, its wall time and the server's memory along the way (MiB)."""

    answers: list[Answer]
    wall_s: float
    clients: int
    rss_mib: list[float] = field(default_factory=list)

    @property
    def wrong(self) -> list[Answer]:
        return [a for a in self.answers if not a.right]

    def latency_ms(self, q: float, *, good_only: bool = True) -> float:
        chosen = [a.seconds for a in self.answers if a.status == 200 or not good_only]
        return float(np.percentile(chosen, q) * 1000.0) if chosen else float("nan")

    @property
    def throughput(self) -> float:
        """Answered requests per second (good and bad)."""
        return len(self.answers) / self.wall_s

    @property
    def rss_growth_mib(self) -> float:
        """Peak RSS of the run's second half minus that of its first half (a trend, not noise)."""
        half = len(self.rss_mib) // 2
        if half == 0:
            return 0.0
        return max(self.rss_mib[half:]) - max(self.rss_mib[:half])

    def statuses(self) -> dict[int, int]:
        return dict(sorted(Counter(a.status for a in self.answers).items()))

    def summary(self) -> dict[str, float | int | dict]:
        good = [a for a in self.answers if a.status == 200]
        return {
            "requests": len(self.answers), "clients": self.clients, "good": len(good),
            "wrong": len(self.wrong), "statuses": self.statuses(),
            "p50_ms": round(self.latency_ms(50), 1), "p95_ms": round(self.latency_ms(95), 1),
            "p50_all_ms": round(self.latency_ms(50, good_only=False), 1),
            "p95_all_ms": round(self.latency_ms(95, good_only=False), 1),
            "throughput_rps": round(self.throughput, 2), "wall_s": round(self.wall_s, 2),
            "mean_batch": round(float(np.mean([a.batch_size for a in good])), 2) if good else 0,
            "rss_first_mib": round(self.rss_mib[0], 1) if self.rss_mib else 0,
            "rss_last_mib": round(self.rss_mib[-1], 1) if self.rss_mib else 0,
            "rss_growth_mib": round(self.rss_growth_mib, 1),
        }  # fmt: skip


def run_load(
    url: str,
    cases: Sequence[LoadCase],
    *,
    requests: int = 100,
    clients: int = 8,
    pid: int | None = None,
    timeout_s: float = 120.0,
) -> LoadReport:
    """Send ``requests`` POST /v1/predict from ``clients`` threads; sample ``pid``'s RSS."""
    local = threading.local()
    rss: list[float] = []
    if pid is not None:
        rss.append(rss_mib(pid))

    def one(i: int) -> Answer:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=url, timeout=timeout_s)
        case = cases[i % len(cases)]
        start = time.perf_counter()
        response = local.client.post(
            "/v1/predict", files={"video": (f"{i}.bin", case.data)}, data={"topk": "1"}
        )
        seconds = time.perf_counter() - start
        body = response.json()
        top1 = body["topk"][0]["index"] if response.status_code == 200 else None
        right = response.status_code == case.status and (case.status != 200 or top1 == case.top1)
        right = right and (response.status_code == 200 or "error" in body)
        if pid is not None and i % 10 == 9:
            rss.append(rss_mib(pid))
        return Answer(case.name, response.status_code, seconds, top1, right,
                      body.get("batch_size", 0))  # fmt: skip

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        answers = list(pool.map(one, range(requests)))
    wall = time.perf_counter() - start
    if pid is not None:
        rss.append(rss_mib(pid))
    return LoadReport(answers, wall, clients, rss)


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for process {pid}")


# ----------------------------------------------------------------------------- live server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    """A running ``f4d serve`` subprocess on 127.0.0.1."""

    process: subprocess.Popen
    url: str

    def stop(self) -> str:
        """Stop it (SIGTERM, then SIGKILL after 10 s); returns what it wrote to stderr."""
        self.process.terminate()
        try:
            _, err = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        return err or ""


def start_server(
    checkpoint: str | Path,
    *options: str,
    env: dict[str, str] | None = None,
    wait_s: float = 60.0,
) -> LiveServer:
    """Start ``f4d serve CHECKPOINT --port <free> *options`` and wait for ``/healthz``."""
    port = free_port()
    command = [sys.executable, "-m", "f4d.cli.main", "serve", str(checkpoint), "--port",
               str(port), "--log-level", "warning", *options]  # fmt: skip
    process = subprocess.Popen(
        command, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _, err = process.communicate()
            raise RuntimeError(f"f4d serve exited with {process.returncode}: {err[-2000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return LiveServer(process, url)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server = LiveServer(process, url)
    raise RuntimeError(f"f4d serve did not answer in {wait_s} s: {server.stop()[-2000:]}")

"""Load test of a live ``f4d serve`` on 127.0.0.1: latency, throughput, memory, and --batch.

    PYTHONPATH=src python benchmarks/serve_load.py                       # tiny f4d model
    PYTHONPATH=src python benchmarks/serve_load.py --batch 1 4 --rounds 2 # batching, interleaved
    PYTHONPATH=src python benchmarks/serve_load.py --model f4d_r18 --size 112 --requests 40

Without ``--checkpoint`` it saves an untrained model (``--model``, 5 classes, ``--size``
crops, U=``--units`` x T=4) through the project's checkpoint writer. The request mix is 5 good
videos (3 tiny generated clips and 2 real files from ../shared/realdata) and 3 bad files (text,
empty, a truncated AVI), request ``i`` sending case ``i % 8``. Each ``--batch`` value gets a fresh
server; with ``--rounds`` > 1 the values are interleaved (1, 4, 1, 4, ...) so that load from other
processes hits them alike. Prints one markdown row per run and the medians per value.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from f4d.data.synthetic import write_mp4
from f4d.engine.checkpoint import save_checkpoint
from f4d.engine.predict import load_predictor, predict_video
from f4d.models import create_model
from f4d.serve.load import LoadCase, run_load, start_server

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata" / "videos"
CLASSES = ["push left", "push right", "lift", "drop", "spin"]


def make_video(path: Path, *, frames: int = 24, height: int = 40, width: int = 48) -> Path:
    """A tiny clip: a bright square moving right over a gradient, ``frames`` long (H.264,
    written by the library's own encoder; the benchmark imports nothing from the tests)."""
    base = np.linspace(0, 120, width, dtype=np.uint8)[None, :, None].repeat(height, 0)
    video = np.repeat(base, 3, axis=2)[None].repeat(frames, 0)  # (F, H, W, 3)
    for i in range(frames):
        left = (i * 2) % (width - 10)
        video[i, 15:25, left : left + 10] = (250, 200, 40)
    write_mp4(path, video, fps=12)
    return path


def make_checkpoint(folder: Path, model: str, size: int, units: int) -> Path:
    torch.manual_seed(0)
    net = create_model(model, num_classes=len(CLASSES))
    data = {"units": units, "frames": 4, "stride": 2, "size": size, "scale_size": size + size // 8}
    return save_checkpoint(
        folder, model=net, optimizer=None, scheduler=None, scaler=None, epoch=1, step=1,
        best_metric=None, config={"data": data}, classes=CLASSES, tag="best",
    )  # fmt: skip


def load_cases(checkpoint: Path, root: Path) -> list[LoadCase]:
    good = [
        make_video(root / "clip.mp4"),
        make_video(root / "short.mp4", frames=12, height=32, width=40),
        make_video(root / "long.mp4", frames=40, height=36, width=44),
        REALDATA / "decord_video_0.mov",
        REALDATA / "human2bot_task5_0.webm",
    ]
    predictor = load_predictor(checkpoint)
    cases = [
        LoadCase(p.name, p.read_bytes(), 200, predict_video(predictor, p, topk=1).topk[0][0])
        for p in good
    ]
    avi = (REALDATA / "mmaction2_test.avi").read_bytes()
    return [
        *cases,
        LoadCase("text", b"not a video at all\n" * 50, 415),
        LoadCase("empty", b"", 400),
        LoadCase("truncated", avi[: len(avi) * 6 // 10], 422),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, help="serve this instead of a fresh model")
    parser.add_argument("--model", default="f4d_tiny")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--units", type=int, default=2)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch", type=int, nargs="+", default=[1])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="server's torch threads")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write all summaries here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)  # expected top-1 computed like the server computes it
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        checkpoint = args.checkpoint or make_checkpoint(
            root / "run", args.model, args.size, args.units
        )
        cases = load_cases(checkpoint, root)
        rows = []
        print("| batch | round | requests | good | wrong | p50 ms | p95 ms | p50 all ms | "
              "req/s | mean batch | RSS first -> last MiB |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for round_ in range(args.rounds):
            for batch in args.batch:
                server = start_server(
                    checkpoint, "--threads", str(args.threads), "--workers", str(args.workers),
                    "--batch", str(batch), "--queue", str(max(16, 2 * args.clients)),
                )  # fmt: skip
                try:
                    run_load(server.url, cases, requests=2 * len(cases), clients=2)  # warm-up
                    report = run_load(server.url, cases, requests=args.requests,
                                      clients=args.clients, pid=server.process.pid)  # fmt: skip
                finally:
                    server.stop()
                s = {**report.summary(), "batch": batch, "round": round_,
                     "rss_mib": [round(r, 1) for r in report.rss_mib]}  # fmt: skip
                rows.append(s)
                print(f"| {batch} | {round_} | {s['requests']} | {s['good']} | {s['wrong']} | "
                      f"{s['p50_ms']} | {s['p95_ms']} | {s['p50_all_ms']} | "
                      f"{s['throughput_rps']} | {s['mean_batch']} | "
                      f"{s['rss_first_mib']} -> {s['rss_last_mib']} |", flush=True)  # fmt: skip
        for batch in args.batch:
            mine = [r for r in rows if r["batch"] == batch]
            p50, p95, rps = (statistics.median(r[k] for r in mine)
                             for k in ("p50_ms", "p95_ms", "throughput_rps"))  # fmt: skip
            print(f"batch {batch}: median of {len(mine)} runs: p50 {p50:.1f} ms, p95 {p95:.1f} ms,"
                  f" {rps:.2f} req/s")  # fmt: skip
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2))
    return 1 if any(r["wrong"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

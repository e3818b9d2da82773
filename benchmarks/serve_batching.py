"""Does batching B requests into one forward beat B forwards of one, on this machine?

    PYTHONPATH=src python benchmarks/serve_batching.py
    PYTHONPATH=src python benchmarks/serve_batching.py --models f4d_r18:112 --batch 1 2 4

For each ``model:size`` (untrained, eval, no_grad, input ``(B, U, 3, T, size, size)`` with
U=2, T=4 like the serve tests' clips) and each B, the two ways are timed interleaved
(one-at-a-time, batched, one-at-a-time, ...) with ``--repeats`` pairs after a warm-up, so that
load from other processes hits both alike. Prints the median ms per video of each and the speed-up
of batching (> 1: batching pays). ``f4d serve --batch`` defaults to what this says on CPU.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from f4d.models import create_model


def time_pair(model: torch.nn.Module, clips: torch.Tensor) -> tuple[float, float]:
    """(seconds for B forwards of one clip, seconds for one forward of B clips)."""
    start = time.perf_counter()
    for clip in clips:
        model(clip[None])
    single = time.perf_counter() - start
    start = time.perf_counter()
    model(clips)
    return single, time.perf_counter() - start


@torch.no_grad()
def measure(name: str, size: int, batch: int, repeats: int, units: int, frames: int) -> dict:
    torch.manual_seed(0)
    model = create_model(name, num_classes=5).eval()
    clips = torch.randn(batch, units, 3, frames, size, size)  # (B, U, C, T, H, W)
    time_pair(model, clips)  # warm-up
    pairs = [time_pair(model, clips) for _ in range(repeats)]
    single = statistics.median(p[0] for p in pairs) / batch * 1000.0
    batched = statistics.median(p[1] for p in pairs) / batch * 1000.0
    return {"model": name, "size": size, "batch": batch, "one_at_a_time_ms": single,
            "batched_ms": batched, "speedup": single / batched}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["f4d_tiny:32", "f4d_r18:112"])
    parser.add_argument("--batch", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--units", type=int, default=2)
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}; U={args.units}, T={args.frames}")
    print("| model | size | B | one at a time, ms/video | batched, ms/video | speed-up |")
    print("|---|---|---|---|---|---|")
    for spec in args.models:
        name, size = spec.split(":")
        for batch in args.batch:
            r = measure(name, int(size), batch, args.repeats, args.units, args.frames)
            print(f"| {name} | {size} | {batch} | {r['one_at_a_time_ms']:.1f} | "
                  f"{r['batched_ms']:.1f} | {r['speedup']:.2f}x |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()

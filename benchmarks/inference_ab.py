"""A/B of prepared-model variants in ONE process, forwards back to back, order alternating.

``interleaved.py`` gives every variant its own process, so each step follows a pause in which
other workers ran (cold caches, cores woken up); on a noisy host its order effects reach ±10%.
Here every variant of one model is prepared from the same weights in one process and the
forwards run back to back, the order reversed every other round; between rounds one
``conv3d`` (``bf16.reference_conv``: 256 -> 256, 1x3x3, 4 x 8 x 28², channels_last_3d) is
timed, so each variant's executed GMAC/s comes with the share of that rate
measured under the same conditions. Variants are ``interleaved.py``'s ``@`` flags
(``@prep_bf16``, ``@prep_bf16@plainstem@outofplace``, ...).

    python benchmarks/inference_ab.py --model f4d_r50 \\
        --variants @prep_bf16,@prep_bf16@plainstem@outofplace --rounds 15 --json out.json

Not a test: nothing here asserts a speed. Process tuned as the ``f4d`` command tunes it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="f4d_r50")
    p.add_argument("--variants", default="@prep_bf16,@prep_bf16@plainstem@outofplace")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--shape", default="224,8,4,1", help="size,frames,units,batch")
    p.add_argument("--json", help="write every timed forward here")
    args = p.parse_args()
    from f4d.runtime import tune_process

    tune_process()  # before torch
    import torch

    sys.path.insert(0, str(HERE))
    import bf16
    import interleaved

    from f4d.models import create_model
    from f4d.models.profile import count_macs

    size, frames, units, batch = (int(v) for v in args.shape.split(","))
    torch.manual_seed(0)
    model = create_model(args.model, num_classes=400).eval()
    variants = args.variants.split(",")
    runners = {v: interleaved._prepared(model, [f for f in v.split("@") if f]) for v in variants}
    x = torch.randn(batch, units, 3, frames, size, size)
    reference, ref_macs = bf16.reference_conv("bf16")
    times: dict[str, list[float]] = {v: [] for v in variants}
    ref_times: list[float] = []
    with torch.inference_mode():
        for runner in runners.values():
            runner(x), runner(x)  # warm-up
        reference()
        for r in range(args.rounds):
            for v in variants if r % 2 == 0 else variants[::-1]:
                start = time.perf_counter()
                runners[v](x)
                times[v].append(time.perf_counter() - start)
            start = time.perf_counter()
            reference()
            ref_times.append(time.perf_counter() - start)
    macs = count_macs(model, frames=frames, units=units, size=size) * batch
    rate = ref_macs / statistics.median(ref_times)
    print(f"reference bf16 conv3d between rounds: {rate / 1e9:.0f} GMAC/s (median); "
          f"{args.model}: {macs / 1e9:.1f} GMAC per forward")  # fmt: skip
    print("| variant | median s | min s | vs first | GMAC/s | % of conv3d rate (median / best) |")
    print("|---|---|---|---|---|---|")
    first = statistics.median(times[variants[0]])
    for v in variants:
        med, best = statistics.median(times[v]), min(times[v])
        print(f"| {args.model}{v} | {med:.3f} | {best:.3f} | {first / med:.2f}x | "
              f"{macs / med / 1e9:.0f} | {100 * macs / med / rate:.0f}% / "
              f"{100 * macs / best / (ref_macs / min(ref_times)):.0f}% |")  # fmt: skip
    if args.json:
        result = {"settings": vars(args), "machine": bf16.cpu_facts(), "macs": macs,
                  "reference_seconds": ref_times, "seconds": times}  # fmt: skip
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

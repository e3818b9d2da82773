"""bf16 on CPU (issue 23): models through ``for_inference`` against fp32, side by side.

One run measures, on this machine:

1. the CPU's own convolution rate: one res3-sized ``conv3d`` (256 -> 256, 1x3x3, 4 x 8 x 28²,
   channels_last_3d) in fp32 and in bf16, GMAC/s, before and after the models;
2. the models in interleaved rounds, one process per variant (``benchmarks/interleaved.py``):
   each model in fp32 as ``create_model`` gives it (today's path), under plain
   ``torch.autocast`` bf16, and through ``f4d.models.for_inference`` in fp32 and bf16
   (optionally compiled), plus any ``module:function`` baseline such as the public V4D code;
3. a table: s per video, the ratio to the same model in fp32, to the first baseline, and the
   model's multiply-adds per second (``count_macs``: dense MACs, which oneDNN may execute
   fewer of where a kernel tap falls on zero padding) as a share of the bf16 conv3d rate.

    python benchmarks/bf16.py --models f4d_r50,v4d_r50 --rounds 5 \\
        --baseline public_v4d:build --path /path/to/builder --json out.json

Machine facts (``lscpu`` model name and bf16 flags, torch, load average at start and end) go
into the JSON and the table's caption. Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VARIANTS = ("", "@autocast", "@prep_fp32", "@prep_bf16")


def cpu_facts() -> dict:
    """``lscpu``'s model name and the bf16-related flags, torch's view of them, the load."""
    import torch

    from f4d.models.precision import cpu_supports_bf16

    text = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    flags = fields.get("Flags", "").split()
    return {
        "model_name": fields.get("Model name", platform.processor()).strip(),
        "cpus": os.cpu_count(),
        "bf16_flags": [f for f in flags if "bf16" in f or f.startswith("amx")],
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_supports_bf16": cpu_supports_bf16(),
        "loadavg": os.getloadavg(),
    }


def reference_conv(dtype_name: str):
    """The reference: one res3-sized conv3d (256 -> 256, 1x3x3, 4 x 8 x 28², channels_last_3d)
    in ``dtype_name``; returns ``(run, macs)``, ``run()`` computing it once."""
    import torch
    import torch.nn.functional as F

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    fmt = torch.channels_last_3d
    x = torch.randn(4, 256, 8, 28, 28).to(dtype).contiguous(memory_format=fmt)
    w = (torch.randn(256, 256, 1, 3, 3) * 0.02).to(dtype).contiguous(memory_format=fmt)
    return (lambda: F.conv3d(x, w, padding=(0, 1, 1))), 4 * 8 * 28 * 28 * 256 * 256 * 9


def conv_rate(dtype_name: str, repeats: int = 10) -> dict:
    """GMAC/s of :func:`reference_conv`, ``repeats`` times back to back after one warm-up."""
    import torch

    run, macs = reference_conv(dtype_name)
    times = []
    with torch.inference_mode():
        run()
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
    best, med = min(times), statistics.median(times)
    return {"dtype": dtype_name, "median_s": med, "gmacs_per_s": macs / med / 1e9,
            "best_gmacs_per_s": macs / best / 1e9}  # fmt: skip


def model_macs(name: str, shape: list[int]) -> int:
    from f4d.models import create_model
    from f4d.models.profile import count_macs

    size, frames, units, _ = shape
    model = create_model(name, num_classes=400)
    return count_macs(model, frames=frames, units=units, size=size)


def run_models(specs: list[str], args: argparse.Namespace) -> dict:
    """``interleaved.py`` over ``specs``; returns its JSON (seconds per spec and round)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "times.json"
        extra = [a for path in args.path for a in ("--path", path)]
        cmd = [sys.executable, str(HERE / "interleaved.py"), "--models", ",".join(specs),
               "--rounds", str(args.rounds), "--shape", args.shape, "--json", str(out),
               *(["--train"] if args.train else []), *extra]  # fmt: skip
        subprocess.run(cmd, check=True)
        return json.loads(out.read_text())


def table(result: dict) -> str:
    """Markdown: s/video, vs the model's fp32, vs the baseline, GMAC/s and % of bf16 conv."""
    seconds, shape = result["seconds"], result["shape"]
    bf16_rate = result["conv_rate"]["bf16"]["gmacs_per_s"]
    base = result.get("baseline")
    base_s = statistics.median(seconds[base]) if base else None
    lines = [
        "| variant | median s / video | min s | vs same model fp32 | vs baseline | "
        "GMAC/s | % of bf16 conv3d rate |",
        "|---|---|---|---|---|---|---|",
    ]
    for spec, times in seconds.items():
        med = statistics.median(times) / shape[3]
        name = spec.split("@")[0]
        fp32 = seconds.get(name)
        ratio = f"{statistics.median(fp32) / statistics.median(times):.2f}x" if fp32 else ""
        vs_base = f"{base_s / statistics.median(times):.2f}x" if base_s else ""
        macs = result["macs_per_video"].get(name)
        rate = f"{macs / med / 1e9:.0f}" if macs else ""
        share = f"{100 * macs / med / 1e9 / bf16_rate:.0f}%" if macs else ""
        lines.append(f"| {spec} | {med:.3f} | {min(times) / shape[3]:.3f} | {ratio} | "
                     f"{vs_base} | {rate} | {share} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="f4d_r50,v4d_r50")
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help="suffixes per model ('' = fp32 as create_model gives it)")  # fmt: skip
    p.add_argument("--baseline", default=None, help="module:function builder (e.g. public V4D)")
    p.add_argument("--path", action="append", default=[], help="import path for --baseline")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--shape", default="224,8,4,1", help="size,frames,units,batch")
    p.add_argument("--train", action="store_true", help="training steps (variants '', @autocast)")
    p.add_argument("--json", help="write the result here")
    args = p.parse_args()
    shape = [int(v) for v in args.shape.split(",")]
    result: dict = {"settings": vars(args), "shape": shape, "machine": cpu_facts()}
    print(json.dumps(result["machine"]), flush=True)
    rates = {d: conv_rate(d) for d in ("fp32", "bf16")}
    specs = [f"{m}{v}" for m in args.models.split(",") for v in args.variants.split(",")]
    if args.baseline:
        specs.insert(0, args.baseline)
        result["baseline"] = args.baseline
    result["macs_per_video"] = {m: model_macs(m, shape) for m in args.models.split(",")}
    times = run_models(specs, args)
    after = {d: conv_rate(d) for d in ("fp32", "bf16")}
    result["conv_rate"] = {d: {"before": rates[d], "after": after[d],
                               "gmacs_per_s": max(rates[d]["gmacs_per_s"],
                                                  after[d]["gmacs_per_s"])}
                           for d in rates}  # fmt: skip
    result["seconds"], result["workers"] = times["seconds"], times["workers"]
    result["machine"]["loadavg_end"] = os.getloadavg()
    print(table(result))
    print(f"conv3d rate (res3 1x3x3, GMAC/s, best of before/after): fp32 "
          f"{result['conv_rate']['fp32']['gmacs_per_s']:.0f}, bf16 "
          f"{result['conv_rate']['bf16']['gmacs_per_s']:.0f}")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

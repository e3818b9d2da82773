"""Side-by-side CPU/GPU timing in interleaved rounds, one process per model.

Each model lives in its own worker process (so each keeps the allocator settings it ships with,
e.g. f4d's tune_process(), and no model warms another's caches); the driver asks one worker
at a time for one timed step, round after round, so slow drifts of the machine hit every model
alike. Report: median and minimum seconds per step, videos/s and the ratio to the first model.

    python benchmarks/interleaved.py --models v4d_r50,f4d_r50,slow_r50 --rounds 5
    python benchmarks/interleaved.py --models v4d_r50,f4d_r50 --train --shape 112,8,4,1

Model specs: a registry name (``f4d_r50``), optionally with ``@ncthw`` (converted to the NCTHW
layout), ``@thp0`` (THP_MEM_ALLOC_ENABLE=0 in that worker) and/or ``@malloc0``
(F4D_MALLOC_TUNING=0: glibc's default malloc thresholds); precision (issue 23): ``@autocast``
(plain ``torch.autocast`` bf16 around the model, or the training step), ``@prep_fp32`` /
``@prep_bf16`` / ``@prep_auto`` (inference through ``f4d.models.for_inference`` in that
precision; for an A/B of one change, ``@plain4d`` runs its 4D blocks as before they were fused,
``@plainstem`` its stem and input cast as before ``FusedStem``, ``@outofplace`` its residual
adds into new tensors, ``@unpacked`` its weights packed once without the input shape; and
``@nommap``, an experiment: glibc's mmap off, every block from the heap and kept) and
``@compile`` (``torch.compile`` of the prepared model, inductor with freezing; its compile time
is printed in the worker's ready line); or ``module:function`` for a third-party builder
``function(frames, units, num_classes)`` importable from ``--path`` (how the public V4D code was
measured for issue 13; such code is never committed here).
On a shared machine, run it under ``chrt -f 10`` (root) so other processes cannot distort it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def _worker(spec: str, train: bool, shape: list[int], path: list[str]) -> None:
    name, *flags = spec.split("@")
    if "thp0" in flags:
        os.environ["THP_MEM_ALLOC_ENABLE"] = "0"
    if "malloc0" in flags:
        os.environ["F4D_MALLOC_TUNING"] = "0"
    sys.path[:0] = path
    size, frames, units, batch = shape
    if ":" not in name:
        from f4d.runtime import tune_process

        tune_process()  # before torch, as the f4d command does
        if "nommap" in flags:  # experiment: every block from the heap, kept for reuse
            import ctypes

            mallopt = ctypes.CDLL("libc.so.6").mallopt
            mallopt(-4, 0)  # M_MMAP_MAX
            mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
    import torch

    torch.manual_seed(0)
    if ":" in name:
        module, function = name.split(":")
        model = getattr(__import__(module), function)(frames, units, 400)
    else:
        from f4d.models import create_model

        model = create_model(name, num_classes=400)
    if "ncthw" in flags:
        model = model.to(memory_format=torch.contiguous_format)
    x = torch.randn(batch, units, 3, frames, size, size)
    y = torch.randint(0, 400, (batch,))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    cast = torch.autocast("cpu", torch.bfloat16, enabled="autocast" in flags)
    runner = _prepared(model.eval(), flags) if not train else model

    def step() -> None:
        if train:
            model.train()
            opt.zero_grad(set_to_none=True)
            with cast:
                loss = torch.nn.functional.cross_entropy(model(x).float(), y)
            loss.backward()
            opt.step()
        else:
            with torch.no_grad(), cast:
                runner(x)

    start = time.perf_counter()
    step()  # warm-up (and compilation)
    print(json.dumps({"ready": True, "thp": os.environ.get("THP_MEM_ALLOC_ENABLE", "unset"),
                      "threads": torch.get_num_threads(),
                      "first_step_s": time.perf_counter() - start}), flush=True)  # fmt: skip
    for _ in sys.stdin:
        start = time.perf_counter()
        step()
        print(time.perf_counter() - start, flush=True)


def _prepared(model, flags: list[str]):
    """``model`` through ``f4d.models.for_inference`` per the ``@prep_*`` / ``@compile`` flags."""
    prep = [f.removeprefix("prep_") for f in flags if f.startswith("prep_")]
    if not prep:
        return model
    from f4d.models import for_inference

    runner = for_inference(model, "cpu", prep[0])
    if "plain4d" in flags:  # the 4D blocks as before their fusion (A/B of that change)
        _unfuse_4d(runner)
    if "plainstem" in flags:  # the stem and the input cast as before FusedStem
        _unfuse_stem(runner)
    if "outofplace" in flags:  # the residual add into a new tensor, as before add_into
        _add_out_of_place(runner)
    if "unpacked" in flags:  # weights packed once without the input shape, as before
        _unpack(runner)
    if "compile" in flags:
        import torch
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        runner.model = torch.compile(runner.model)
    return runner


def _unfuse_4d(runner) -> None:
    """Undo the 4D blocks' fusion of ``for_inference`` (V4D's block, F4D's spatial convolution
    with its ReLU), the merged-space path of ``conv4d_rows`` and the tail's in-place ReLU: the
    prepared model as it ran before them (the ``@plain4d`` flag)."""
    import importlib

    import torch

    from f4d.models.fused import FusedFactorized4d, FusedResidual4d
    from f4d.nn import Residual4dBlock

    class _OutOfPlaceReLU(torch.nn.ReLU):  # not `type(act) is nn.ReLU`: the block's old path
        pass

    conv4d = importlib.import_module("f4d.ops.conv4d")  # the module (f4d.ops.conv4d: a function)

    conv4d.merges_space = lambda *args: False
    for module in list(runner.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, FusedResidual4d):
                setattr(module, name, child.block)
            elif isinstance(child, FusedFactorized4d):
                setattr(module, name, child.op)
    for module in runner.modules():  # the tail's ReLU out of place, as before
        if isinstance(module, Residual4dBlock) and type(module.act) is torch.nn.ReLU:
            module.act = _OutOfPlaceReLU()


def _unfuse_stem(runner) -> None:
    """The stem as before :class:`f4d.models.fused.FusedStem`: the 3D convolution with its ReLU,
    then ``max_pool3d``; the input cast to the compute dtype in its own layout."""
    from f4d.models.fused import FusedStem

    model = runner.model
    if isinstance(model.conv1, FusedStem):
        model.conv1, model.maxpool = model.conv1.conv, model.conv1.pool
    runner._input = lambda x: x.to(runner.device, runner.dtype)


def _add_out_of_place(runner) -> None:
    """Every fused residual block adds its shortcut into a new tensor (``@outofplace``)."""
    from f4d.models.fused import FusedResidualBlock

    for block in runner.modules():
        if isinstance(block, FusedResidualBlock):
            block.last.add_into = lambda x, other, conv=block.last: conv(x, other)


def _unpack(runner) -> None:
    """The weights as before :class:`f4d.models.fused.PackedWeight` (``@unpacked``): packed once
    without the input shape (the factorized op's spatial one left channels-last), and the
    factorized op's temporal convolution through ``Conv4d`` again."""
    import torch

    from f4d.models.fused import FusedFactorized4d, FusedStem, PackedWeight

    class Once:  # a PackedWeight's interface, one weight for every shape
        def __init__(self, packed: PackedWeight, blocked: bool = True) -> None:
            self.args, self.weight = packed.args, packed.plain
            if blocked:
                self.weight = torch.ops.mkldnn._reorder_convolution_weight(self.weight, *self.args)

        def __call__(self, shape):
            return self.weight

    for module in runner.modules():
        if isinstance(module, FusedFactorized4d):
            module.conv.packed = Once(module.conv.packed, blocked=False)
            module.temporal = None
        elif isinstance(module, FusedStem) and module.frames is not None:
            module.frames = Once(module.frames)
    for module in runner.modules():  # every other fused convolution
        if isinstance(getattr(module, "packed", None), PackedWeight):
            module.packed = Once(module.packed)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="v4d_r50,f4d_r50,slow_r50")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--train", action="store_true", help="time a training step (SGD)")
    p.add_argument("--shape", default="224,8,4,1", help="size,frames,units,batch")
    p.add_argument("--path", action="append", default=[], help="extra import path for builders")
    p.add_argument("--json", help="write every timed step here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    shape = [int(v) for v in args.shape.split(",")]
    if args.worker:
        _worker(args.worker, args.train, shape, args.path)
        return
    specs = args.models.split(",")
    extra = [a for path in args.path for a in ("--path", path)]
    mode = ["--train"] if args.train else []
    procs, ready = {}, {}
    for spec in specs:
        cmd = [sys.executable, __file__, "--worker", spec, "--shape", args.shape, *mode, *extra]
        procs[spec] = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        ready[spec] = json.loads(procs[spec].stdout.readline())
        print(f"{spec}: ready ({ready[spec]})", flush=True)
    times: dict[str, list[float]] = {spec: [] for spec in specs}
    for r in range(args.rounds):
        # odd rounds run the specs in reverse: the step after another worker's (colder caches,
        # woken cores) falls on each spec alike
        for spec in specs if r % 2 == 0 else specs[::-1]:
            procs[spec].stdin.write("go\n")
            procs[spec].stdin.flush()
            times[spec].append(float(procs[spec].stdout.readline()))
        print(f"round {r}: " + ", ".join(f"{s} {times[s][-1]:.3f}s" for s in specs), flush=True)
    for proc in procs.values():
        proc.stdin.close()
        proc.wait()
    first = statistics.median(times[specs[0]])
    print(f"\n| model | median s | min s | videos/s | vs {specs[0]} |\n|---|---|---|---|---|")
    for spec in specs:
        med = statistics.median(times[spec])
        print(f"| {spec} | {med:.3f} | {min(times[spec]):.3f} | {shape[3] / med:.3f} | "
              f"{first / med:.2f}x |")  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"settings": vars(args), "workers": ready, "seconds": times}, f, indent=1)


if __name__ == "__main__":
    main()

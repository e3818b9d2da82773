"""The default paths of two f4d versions, one process per (version, round), order alternating.

Each worker imports f4d from ``--old-src`` (a ``src`` folder exported from an older commit, e.g.
``git archive COMMIT src | tar -x -C /tmp/old``) or from this checkout, tunes the process as
the ``f4d`` command does, and times, best of 3 after 2 warm-ups at 1 × 4 × 8 × 224²: each
model through ``for_inference(model, "cpu", "auto")`` and as ``create_model`` returns it
(fp32); with ``--train``, also a ``v4d_r50`` fp32 training step at 2 × 4 × 8 × 112². Odd rounds
run the new version first, so neither always follows the other.

    python benchmarks/before_after.py --old-src /tmp/old/src --models slow_r50,v4d_r50,f4d_r50 \\
        --rounds 4 --train --json out.json

Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def _best(fn, warm: int = 2, n: int = 3) -> float:
    for _ in range(warm):
        fn()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _worker(models: list[str], train: bool) -> None:
    from f4d.runtime import tune_process

    tune_process()  # before torch
    import torch

    import f4d
    from f4d.models import create_model, for_inference

    torch.manual_seed(0)
    x = torch.randn(1, 4, 3, 8, 224, 224)
    out: dict[str, object] = {"f4d": f4d.__file__, "precision": {}}
    with torch.no_grad():
        for name in models:
            model = create_model(name, num_classes=400).eval()
            auto = for_inference(model, "cpu", "auto")
            out["precision"][name] = auto.precision
            out[f"{name} auto"] = _best(lambda: auto(x))  # noqa: B023
            out[f"{name} create_model fp32"] = _best(lambda: model(x))  # noqa: B023
    if train:
        model = create_model("v4d_r50", num_classes=400).train()
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        xt, y = torch.randn(2, 4, 3, 8, 112, 112), torch.randint(0, 400, (2,))

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(xt), y).backward()
            opt.step()

        out["v4d_r50 fp32 training step, 2 videos at 112²"] = _best(step, warm=1, n=2)
    print(json.dumps(out), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--old-src", required=True, help="the older version's src folder")
    p.add_argument("--models", default="slow_r50,v4d_r50,f4d_r50")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--train", action="store_true")
    p.add_argument("--json", help="write every round here")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    models = args.models.split(",")
    if args.worker:
        _worker(models, args.train)
        return
    cmd = [sys.executable, __file__, "--worker", "--old-src", args.old_src, "--models", args.models,
           *(["--train"] if args.train else [])]  # fmt: skip
    envs = {"old": dict(os.environ, PYTHONPATH=args.old_src), "new": dict(os.environ)}
    envs["new"].pop("PYTHONPATH", None)
    rounds: dict[str, list[dict]] = {"old": [], "new": []}
    for r in range(args.rounds):
        for version in ("old", "new") if r % 2 == 0 else ("new", "old"):
            done = subprocess.run(
                cmd, env=envs[version], capture_output=True, text=True, check=True
            )
            rounds[version].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(version, rounds[version][-1], flush=True)
    print("\n| path | before s | after s | after vs before |\n|---|---|---|---|")
    for key, value in rounds["new"][0].items():
        if not isinstance(value, float):
            continue
        before = statistics.median(r[key] for r in rounds["old"])
        after = statistics.median(r[key] for r in rounds["new"])
        print(f"| {key} | {before:.3f} | {after:.3f} | {before / after:.2f}x |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"settings": vars(args), "rounds": rounds}, f, indent=1)


if __name__ == "__main__":
    main()

"""Subprocess side of the training fault tests: a tiny deterministic CPU run with fault hooks.

``python train_worker.py OUT_DIR DATA_ROOT [key=value ...]`` trains ``f4d_tiny`` on the synthetic
dataset at ``DATA_ROOT`` (extra dotted overrides go to the config). Hooks, by environment:

- ``F4D_REL_SLOW_REPLACE=<seconds>``: every ``os.replace`` first prints ``REPLACE <folder>/<name>``
  and sleeps, so the parent can kill the process at that point. A checkpoint save's commit is
  the replace of ``checkpoints/.saves/<tag>`` (printed ``REPLACE .saves/<tag>``), after all
  its files are written.
- Every optimizer step prints ``STEP <n>`` after the forward pass, so the parent can kill the
  process in the middle of a step.

Under torchrun the same script runs once per rank (``RANK``/``WORLD_SIZE`` from the agent);
``F4D_REL_DIE_RANK=<r>`` + ``F4D_REL_DIE_STEP=<n>`` make rank ``r`` SIGKILL itself at step ``n``
of its first attempt (``TORCHELASTIC_RESTART_COUNT`` = 0). ``F4D_REL_HANG_DUMP_S=<s>`` makes a
process that has not reached its first optimizer step ``s`` seconds after it entered
``init_process_group`` print its stacks and exit (a gloo rendezvous that hangs after an elastic
restart, see docs/reliability.md); the clock starts at the rendezvous, not at process start, so
a slow start-up on a loaded machine (imports, dataset, model) is never taken for a hang;
``F4D_REL_FRESH_STORE=1`` avoids that hang (`_fresh_store_per_attempt`). After training the
worker prints whether a process group is still alive (``train`` must have destroyed it, D5).
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import time
from pathlib import Path

import torch


def tiny_overrides(out_dir: str, data_root: str) -> list[str]:
    """Dotted overrides for a seconds-long, bit-reproducible CPU run."""
    return [
        f"data.root={data_root}", "data.format=csv", "data.units=2", "data.frames=2",
        "data.stride=1", "data.size=16", "data.scale_size=16", "data.test_units=2",
        "data.test_crops=1", "data.workers=0", "data.flip=false", "model.name=f4d_tiny",
        "optim.batch_size=2", "optim.epochs=4", "optim.lr=0.05", "optim.base_batch_size=2",
        "optim.schedule=constant", f"run.out_dir={out_dir}", "run.device=cpu",
        "run.deterministic=true", "run.resume=auto", "run.progress=false", "run.plots=false",
        "run.eval_every=0", "run.log_every=1", "run.seed=3", "test.views=single",
    ]  # fmt: skip


def _install_hooks() -> None:
    delay = float(os.environ.get("F4D_REL_SLOW_REPLACE", "0"))
    if delay:
        real_replace = os.replace

        def slow_replace(src, dst, *args, **kwargs):
            print(f"REPLACE {Path(dst).parent.name}/{Path(dst).name}", flush=True)
            time.sleep(delay)
            return real_replace(src, dst, *args, **kwargs)

        os.replace = slow_replace
    real_step = torch.optim.SGD.step
    die_rank = os.environ.get("F4D_REL_DIE_RANK")
    die_step = int(os.environ.get("F4D_REL_DIE_STEP", "-1"))
    first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"
    counter = {"n": 0}

    def step(self, *args, **kwargs):
        counter["n"] += 1
        faulthandler.cancel_dump_traceback_later()  # start-up (rendezvous) is over
        print(f"STEP {counter['n']}", flush=True)
        if die_rank == os.environ.get("RANK") and counter["n"] == die_step and first_attempt:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_step(self, *args, **kwargs)

    torch.optim.SGD.step = step


def _fresh_store_per_attempt() -> None:
    """Work around stale rendezvous keys after an elastic restart (torch 2.13, see the docs).

    torchrun keeps one agent TCPStore (same ``MASTER_PORT``) for every attempt and the workers
    read it without an attempt prefix, so a restarted rank can read the dead rank's gloo address
    ("Connection refused") or wait forever. Here rank 0 hosts a new store on a port of its own
    for each attempt instead.
    """
    attempt = int(os.environ["TORCHELASTIC_RESTART_COUNT"])
    os.environ["TORCHELASTIC_USE_AGENT_STORE"] = "False"
    os.environ["MASTER_PORT"] = str(int(os.environ["MASTER_PORT"]) + 1 + attempt)


def _guard_rendezvous(seconds: float) -> None:
    """Arm the hang guard when the process group is created (the rendezvous): a hang there
    prints the stacks and exits, so torchrun restarts; the first optimizer step cancels it."""
    import torch.distributed as dist

    real_init = dist.init_process_group

    def init_process_group(*args, **kwargs):
        faulthandler.dump_traceback_later(seconds, exit=True)
        return real_init(*args, **kwargs)

    dist.init_process_group = init_process_group


def main(argv: list[str]) -> int:
    from f4d.engine.config import load_config
    from f4d.engine.train import train

    torch.set_num_threads(1)
    hang_s = float(os.environ.get("F4D_REL_HANG_DUMP_S", "0"))
    if hang_s:
        _guard_rendezvous(hang_s)
    if os.environ.get("F4D_REL_FRESH_STORE") and "TORCHELASTIC_RESTART_COUNT" in os.environ:
        _fresh_store_per_attempt()
    _install_hooks()
    out_dir, data_root, *extra = argv
    cfg = load_config(None, [*tiny_overrides(out_dir, data_root), *extra])
    train(cfg)
    print(f"PG_ALIVE_AFTER_TRAIN {torch.distributed.is_initialized()}", flush=True)
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

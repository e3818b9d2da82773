"""DDP on CPU: 2 gloo processes with batch G/2 each == 1 process with batch G.

BatchNorm is frozen (``run.freeze_bn``): in training mode each rank would normalise with the
statistics of its own half batch, which legitimately differs from the full-batch statistics.
Dropout is 0. The remaining difference is float summation order in the gradient all-reduce,
hence the tolerance (rtol 1e-4, atol 1e-6) instead of exact equality.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import torch
import torch.multiprocessing as mp

from f4d.engine import checkpoint as ckpt
from f4d.engine.train import train

COMMON = ("optim.epochs=1", "run.max_steps=3", "run.freeze_bn=true", "model.name=f4d_tiny")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, cfg) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
        WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank),
    )  # fmt: skip
    torch.set_num_threads(1)
    train(cfg)
    assert not torch.distributed.is_initialized()  # train destroys the group it created (D5)


def test_two_gloo_ranks_match_one_process(make_cfg) -> None:
    single = make_cfg(*COMMON, "optim.batch_size=4", out="single")
    ddp = make_cfg(*COMMON, "optim.batch_size=2", "optim.global_batch_size=4", out="ddp")
    mp.start_processes(_worker, args=(2, _free_port(), ddp), nprocs=2, start_method="spawn")
    train(single)
    a = ckpt.load_weights(Path(single.run.out_dir) / "checkpoints" / "last")
    b = ckpt.load_weights(Path(ddp.run.out_dir) / "checkpoints" / "last")
    assert ckpt.load_meta(Path(ddp.run.out_dir) / "checkpoints" / "last")["step"] == 3
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-6)
    # the comparison can fail: a single process stepping on half batches ends elsewhere
    half = make_cfg(*COMMON, "optim.batch_size=2", "optim.base_batch_size=2", out="half")
    train(half)
    c = ckpt.load_weights(Path(half.run.out_dir) / "checkpoints" / "last")
    assert not torch.allclose(a["fc.weight"], c["fc.weight"], rtol=1e-4, atol=1e-6)

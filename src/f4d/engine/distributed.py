"""Process-group helpers for ``torchrun`` launches (DDP): NCCL on GPU, gloo on CPU.

``torchrun --nproc_per_node=N`` (and ``--nnodes/--rdzv_*`` for several nodes) sets ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`init_distributed` reads them. A plain ``python`` or
``f4d train`` launch is a world of one and needs no process group. Only rank 0 writes files,
logs and progress bars (:attr:`DistInfo.is_main`).
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

from f4d.errors import ConfigError

__all__ = [
    "DistInfo",
    "all_gather_objects",
    "all_reduce_sums",
    "any_across_ranks",
    "barrier",
    "cleanup_distributed",
    "init_distributed",
    "resolve_device",
]


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: global ``rank`` of ``world_size``, ``local_rank`` on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    owns_group: bool = False  # init_distributed created the process group (and must end it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """Turn ``auto | cpu | cuda | cuda:N`` into a device; ``cuda`` under torchrun -> its GPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"run.device={name!r} but CUDA is not available; use cpu or auto")
    if name == "cuda":
        return torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))
    return torch.device(name)


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group described by the torchrun environment (if any).

    Uses NCCL when the device is a GPU and gloo otherwise. Safe to call when a group already
    exists (tests that spawn processes themselves); then ``owns_group`` is False and
    :func:`cleanup_distributed` leaves that group alone. A group created here is also destroyed
    at interpreter exit if nobody did so before (a gloo rank that exits with a live group can
    abort with "terminate called without an active exception").
    """
    rank = int(os.environ.get("RANK", 0))
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if dist.is_available() and dist.is_initialized():
        rank, world_size = dist.get_rank(), dist.get_world_size()
    dev = resolve_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    owns_group = world_size > 1 and not dist.is_initialized()
    if owns_group:
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
        atexit.register(_destroy_at_exit, dist.group.WORLD)
    return DistInfo(rank, world_size, local_rank, dev, owns_group=owns_group)


def cleanup_distributed(info: DistInfo | None = None) -> None:
    """Destroy the default process group.

    With ``info`` (from :func:`init_distributed`) only when that call created the group, so a
    group made by the caller survives; without it, whenever one exists.
    """
    if info is not None and not info.owns_group:
        return
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _destroy_at_exit(group: Any) -> None:
    """atexit backstop: destroy the group :func:`init_distributed` made if it is still alive."""
    if dist.is_available() and dist.is_initialized() and dist.group.WORLD is group:
        dist.destroy_process_group()


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def barrier() -> None:
    if _active():
        dist.barrier()


def all_reduce_sums(values: Mapping[str, float], device: torch.device) -> dict[str, float]:
    """Sum each named number over all ranks (float64); identity in a world of one."""
    if not _active():
        return {k: float(v) for k, v in values.items()}
    keys = sorted(values)
    packed = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(packed, op=dist.ReduceOp.SUM)
    return dict(zip(keys, packed.tolist()))


def any_across_ranks(flag: bool, device: torch.device) -> bool:
    """True if ``flag`` is true on any rank (so every rank takes the same branch)."""
    if not _active():
        return bool(flag)
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def all_gather_objects(obj: Any) -> list[Any]:
    """Gather one picklable object from every rank, in rank order (``[obj]`` when alone)."""
    if not _active():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out

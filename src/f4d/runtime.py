"""Process tuning for CPU speed: one explicit call, :func:`tune_process`, never done at import.

``import f4d`` changes nothing outside f4d. The ``f4d`` command calls :func:`tune_process`
first thing, before anything imports torch; a library user who wants the same speed calls it
once, at the top of the program, before ``import torch``::

    import f4d.runtime
    f4d.runtime.tune_process()   # before torch is imported
    import torch

It does two things, each measured in ``docs/benchmarks.md`` and each with an opt-out:

- **Huge pages**: ``THP_MEM_ALLOC_ENABLE=1`` in the environment (unless already set; set it to
  ``0`` to opt out). PyTorch reads it once, at its first CPU allocation during ``import torch``:
  tensors of 2 MB and more are then backed by transparent huge pages, so a fresh activation costs
  a few page faults instead of one per 4 KB (CPU inference of f4d_r50 1.26x faster). Too late
  once torch is imported (the result says so); child processes inherit the environment, so
  DataLoader workers get it whether forked or spawned.
- **malloc keeps freed memory** (glibc only; ``F4D_MALLOC_TUNING=0`` opts out): freed blocks
  under 32 MB are kept for reuse and memory is handed back to the system only past 64 MB free at
  the heap's top, instead of glibc's default of returning each freed block of a few hundred KB
  and faulting fresh pages in for the next one. A training step frees and re-allocates the same
  activations every time (tiny models' CPU training step 11-13% faster). The cost is memory: up
  to 64 MB more may stay mapped and the heap fragments (f4d_r50 inference at 224²: peak RSS
  720-760 MB -> 800-830 MB). Process-wide and not undone; forked DataLoader workers (Linux's
  default) inherit it, spawned ones do not (call :func:`tune_process` in their
  ``worker_init_fn`` if they use the ``spawn`` start method).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

THP_ENV = "THP_MEM_ALLOC_ENABLE"
MALLOC_ENV = "F4D_MALLOC_TUNING"
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # <malloc.h>
MMAP_THRESHOLD = 32 << 20  # blocks below this come from (and return to) the heap
TRIM_THRESHOLD = 64 << 20  # free memory at the heap's top kept before handing it back


@dataclass(frozen=True)
class Tuning:
    """What :func:`tune_process` did.

    ``huge_pages``: ``THP_MEM_ALLOC_ENABLE`` is ``1`` in the environment (set now or by the
    user); ``torch_loaded``: torch was already imported, so this process's allocator ignores it
    (children still get it); ``malloc``: glibc's thresholds were set.
    """

    huge_pages: bool
    torch_loaded: bool
    malloc: bool


def tune_process() -> Tuning:
    """Apply the huge-page and malloc settings to this process (see the module docstring).

    Safe to call more than once; honours ``THP_MEM_ALLOC_ENABLE=0`` and ``F4D_MALLOC_TUNING=0``.
    """
    os.environ.setdefault(THP_ENV, "1")
    return Tuning(
        huge_pages=os.environ[THP_ENV] == "1",
        torch_loaded="torch" in sys.modules,
        malloc=keep_freed_memory(),
    )


def keep_freed_memory() -> bool:
    """Set glibc's malloc thresholds (32 MB mmap, 64 MB trim); False when opted out
    (``F4D_MALLOC_TUNING=0``) or not on glibc (macOS, musl, Windows)."""
    if os.environ.get(MALLOC_ENV, "1") == "0":
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )

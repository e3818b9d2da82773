"""f4d: factorized 4D CNNs with attention for video-level action recognition.

Data flows one way: files -> decode -> sample indices -> frames -> transforms ->
``(B, U, C, T, H, W)`` tensor -> model -> logits.
"""

import os as _os

# PyTorch reads THP_MEM_ALLOC_ENABLE once, at its first CPU allocation (during `import torch`):
# with it, tensors of 2 MB and more are backed by transparent huge pages, so a fresh activation
# costs a few page faults instead of one per 4 KB (measured: CPU inference of f4d_r50 1.26x
# faster, see docs/benchmarks.md). Effective when f4d is imported before torch, as the `f4d`
# command does; set THP_MEM_ALLOC_ENABLE=0 to opt out.
_os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")


def _keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed blocks below 32 MB for reuse (and to hand memory back to
    the system only past 64 MB free at the heap's top), instead of its default of returning each
    freed block of a few hundred KB and faulting fresh pages in for the next one. A training
    step frees and re-allocates the same activations every time, so by default most of its
    small-tensor cost was page faults (measured: the tiny models' CPU training step 11-13%
    faster, see docs/benchmarks.md). The cost is memory: up to 64 MB more may stay mapped,
    and blocks kept on the heap fragment it (f4d_r50 inference at 224²: peak RSS 720-760 MB
    -> 800-830 MB, two runs each). Heap-only allocation with no trimming was also measured:
    faster again on ResNet-50 under memory pressure, but 1.5x the peak RSS, so not the
    default. Set F4D_MALLOC_TUNING=0 to opt out. Returns whether the settings were applied
    (False off glibc)."""
    if _os.environ.get("F4D_MALLOC_TUNING", "1") == "0":
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl, Windows)
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    return bool(mallopt(m_mmap_threshold, 32 << 20)) and bool(mallopt(m_trim_threshold, 64 << 20))


_keep_freed_memory()

__version__ = "0.1.0"

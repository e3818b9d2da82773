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

__version__ = "0.1.0"

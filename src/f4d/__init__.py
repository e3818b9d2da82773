"""f4d: factorized 4D CNNs with attention for video-level action recognition.

Data flows one way: files -> decode -> sample indices -> frames -> transforms ->
``(B, U, C, T, H, W)`` tensor -> model -> logits.

Importing f4d changes nothing outside it. The ``f4d`` command tunes the process for CPU speed
(huge pages, malloc thresholds) before torch loads; library users get the same from one call,
:func:`f4d.runtime.tune_process`, made before ``import torch``.
"""

__version__ = "0.1.0"

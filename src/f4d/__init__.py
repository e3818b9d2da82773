"""f4d: factorized 4D CNNs with attention for video-level action recognition.

Data flows one way: files -> decode -> sample indices -> frames -> transforms ->
``(B, U, C, T, H, W)`` tensor -> model -> logits.
"""

__version__ = "0.1.0"

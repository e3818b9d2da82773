"""f4d.ops: 4D convolutions over `(B, C, U, T, H, W)` tensors (paper eqns 1-2, section 3.3)."""

from f4d.ops.conv4d import Conv4d, conv4d, conv4d_loop, conv4d_output_size
from f4d.ops.factorized import Factorized4d, factorized_width

__all__ = [
    "Conv4d",
    "Factorized4d",
    "conv4d",
    "conv4d_loop",
    "conv4d_output_size",
    "factorized_width",
]

"""An independent float64 4D convolution (eqn 1 by kernel offsets and einsum), for tests."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

from f4d.ops import conv4d_output_size


def reference_conv4d(x, weight, bias, stride, padding, dilation):
    """Eqn 1 directly: for every 4D kernel offset (s, p, q, r), an einsum over channels.

    Shares no code with f4d.ops (no conv3d): pad all four axes, take the strided/dilated window
    of each kernel offset, contract input channels with the weight at that offset.
    """
    x, weight = x.double(), weight.double()
    pads = [p for pad in reversed(padding) for p in (pad, pad)]
    padded = F.pad(x, pads)
    out = conv4d_output_size(x.shape[2:], weight.shape[2:], stride, padding, dilation)
    result = torch.zeros(x.shape[0], weight.shape[0], *out, dtype=torch.float64)
    for offset in itertools.product(*(range(k) for k in weight.shape[2:])):
        index = [slice(None), slice(None)]
        for k, n, s, d in zip(offset, out, stride, dilation):
            index.append(slice(k * d, k * d + (n - 1) * s + 1, s))
        window = padded[tuple(index)]  # (B, C, U', T', H', W')
        result += torch.einsum("bcuthw,oc->bouthw", window, weight[(Ellipsis, *offset)])
    if bias is not None:
        result += bias.double().view(1, -1, 1, 1, 1, 1)
    return result

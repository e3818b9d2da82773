"""Temporal shift (TSM): move a fraction of the channels one frame forward and one back."""

from __future__ import annotations

import torch
from torch import nn


def temporal_shift(x: torch.Tensor, rows: int, fold_div: int = 8) -> torch.Tensor:
    """Shift ``C // fold_div`` channels one step back in time and as many one step forward.

    ``x`` is ``(N, C, T, H, W)`` where each run of ``rows`` consecutive batch rows is one
    sequence, so a sequence has ``rows·T`` time steps (rows in order, then T). Steps shifted
    past either end are dropped and zeros come in, as in TSM. Returns the same shape.
    """
    n, c, t, h, w = x.shape
    if n % rows:
        raise ValueError(f"batch of {n} rows does not split into sequences of {rows} rows")
    fold = c // fold_div
    back, forward, rest = slice(0, fold), slice(fold, 2 * fold), slice(2 * fold, None)
    seq = x.view(n // rows, rows, c, t, h, w)  # (V, rows, C, T, H, W): step (r, τ) = r·T + τ
    out = torch.empty_like(x)  # in x's memory layout: channels-last stays channels-last
    dst = out.view(n // rows, rows, c, t, h, w)
    dst[:, :, back, :-1] = seq[:, :, back, 1:]  # back: step s sees s + 1 ...
    dst[:, :-1, back, -1] = seq[:, 1:, back, 0]  # ... across a row boundary too
    dst[:, -1, back, -1] = 0  # the last step sees past the end
    dst[:, :, forward, 1:] = seq[:, :, forward, :-1]  # forward: step s sees s - 1 ...
    dst[:, 1:, forward, 0] = seq[:, :-1, forward, -1]
    dst[:, 0, forward, 0] = 0
    dst[:, :, rest] = seq[:, :, rest]
    return out


class TemporalShift(nn.Module):
    """:func:`temporal_shift` as a module; ``forward(x, rows)`` with ``x`` ``(N, C, T, H, W)``."""

    def __init__(self, fold_div: int = 8) -> None:
        super().__init__()
        if fold_div < 2:
            raise ValueError(f"fold_div must be >= 2 (two folds are shifted), got {fold_div}")
        self.fold_div = fold_div

    def forward(self, x: torch.Tensor, rows: int) -> torch.Tensor:
        return temporal_shift(x, rows, self.fold_div)

    def extra_repr(self) -> str:
        return f"fold_div={self.fold_div}"

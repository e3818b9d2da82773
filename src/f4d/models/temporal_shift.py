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
    seq = x.view(n // rows, rows, c, t, h, w).transpose(1, 2).reshape(n // rows, c, rows * t, h, w)
    zeros = seq.new_zeros(n // rows, fold, 1, h, w)
    back = torch.cat((seq[:, :fold, 1:], zeros), dim=2)  # step s sees s + 1
    forward = torch.cat((zeros, seq[:, fold : 2 * fold, :-1]), dim=2)  # step s sees s - 1
    out = torch.cat((back, forward, seq[:, 2 * fold :]), dim=1)  # (V, C, rows·T, H, W)
    return out.view(n // rows, c, rows, t, h, w).transpose(1, 2).reshape(n, c, t, h, w)


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

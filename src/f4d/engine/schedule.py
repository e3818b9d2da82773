"""Per-step learning-rate schedules: step / cosine / constant, each with a linear warm-up.

The learning rate is a pure function of the optimizer step, so a schedule's whole state is
one integer and resuming a run reproduces it exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

__all__ = ["SCHEDULE_FUNCTIONS", "LRSchedule", "scaled_lr"]


def _step_factor(epoch: float, *, epochs: int, milestones: Sequence[int], gamma: float) -> float:
    return gamma ** sum(1 for m in milestones if epoch >= m)


def _cosine_factor(epoch: float, *, epochs: int, milestones: Sequence[int], gamma: float) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * min(epoch, epochs) / epochs))


def _constant_factor(
    epoch: float, *, epochs: int, milestones: Sequence[int], gamma: float
) -> float:
    return 1.0


SCHEDULE_FUNCTIONS: dict[str, Callable[..., float]] = {
    "step": _step_factor,
    "cosine": _cosine_factor,
    "constant": _constant_factor,
}


def scaled_lr(lr: float, *, global_batch: int, base_batch_size: int, scale: bool) -> float:
    """Linear scaling rule: ``lr * global_batch / base_batch_size`` (or ``lr`` if not ``scale``)."""
    return lr * global_batch / base_batch_size if scale else lr


class LRSchedule:
    """Set the learning rate of every param group once per optimizer step.

    ``lr(step) = base_lr * warmup(epoch) * factor(epoch)`` with ``epoch = step / steps_per_epoch``
    (fractional); the warm-up ramps linearly from ``base_lr / steps`` over ``warmup_epochs``.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        name: str,
        base_lr: float,
        steps_per_epoch: int,
        epochs: int,
        milestones: Sequence[int] = (),
        gamma: float = 0.1,
        warmup_epochs: float = 0.0,
    ) -> None:
        if name not in SCHEDULE_FUNCTIONS:
            raise ValueError(f"unknown schedule {name!r}; valid: {', '.join(SCHEDULE_FUNCTIONS)}")
        self.optimizer = optimizer
        self.factor = SCHEDULE_FUNCTIONS[name]
        self.base_lr = base_lr
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.epochs = epochs
        self.milestones = tuple(milestones)
        self.gamma = gamma
        self.warmup_steps = round(warmup_epochs * self.steps_per_epoch)
        self.last_step = 0
        self._apply()

    def lr_at(self, step: int) -> float:
        """The learning rate used by optimizer step number ``step`` (0-based)."""
        epoch = step / self.steps_per_epoch
        lr = self.base_lr * self.factor(
            epoch, epochs=self.epochs, milestones=self.milestones, gamma=self.gamma
        )
        if step < self.warmup_steps:
            lr *= (step + 1) / self.warmup_steps
        return lr

    def step(self) -> None:
        """Advance by one optimizer step and set the next learning rate."""
        self.last_step += 1
        self._apply()

    def get_last_lr(self) -> float:
        return self.lr_at(self.last_step)

    def _apply(self) -> None:
        lr = self.lr_at(self.last_step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def state_dict(self) -> dict[str, Any]:
        return {"last_step": self.last_step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last_step = int(state["last_step"])
        self._apply()

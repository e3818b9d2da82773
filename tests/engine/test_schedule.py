"""Per-step learning rates: step / cosine / constant with linear warm-up, and linear scaling."""

from __future__ import annotations

import pytest
import torch

from f4d.engine.schedule import LRSchedule, scaled_lr


def schedule(name: str, **kwargs) -> LRSchedule:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    args = dict(name=name, base_lr=0.01, steps_per_epoch=10, epochs=80,
                milestones=[20, 40, 60], gamma=0.1)  # fmt: skip
    return LRSchedule(opt, **{**args, **kwargs})


def test_paper_step_schedule() -> None:
    s = schedule("step")
    # epochs 0-19: 0.01, 20-39: 0.001, 40-59: 1e-4, 60-79: 1e-5 (10 steps per epoch)
    for step, lr in [(0, 0.01), (199, 0.01), (200, 1e-3), (399, 1e-3), (400, 1e-4), (600, 1e-5)]:
        assert s.lr_at(step) == pytest.approx(lr), step


def test_warmup_ramps_linearly_then_follows_the_schedule() -> None:
    s = schedule("cosine", warmup_epochs=1.0, base_lr=0.1, epochs=10)
    assert s.lr_at(0) == pytest.approx(0.1 * 0.5 * (1 + 1.0) / 10)  # 1/10 of the way
    assert s.lr_at(4) == pytest.approx(0.1 * 5 / 10 * 0.5 * (1 + torch.cos(torch.tensor(
        torch.pi * 0.4 / 10)).item()))  # fmt: skip
    assert s.lr_at(50) == pytest.approx(0.05)  # half way through cosine
    assert s.lr_at(100) == pytest.approx(0.0, abs=1e-12)


def test_optimizer_lr_follows_steps_and_state_round_trips() -> None:
    s = schedule("step", steps_per_epoch=1, milestones=[2], epochs=4)
    lrs = []
    for _ in range(4):
        lrs.append(s.optimizer.param_groups[0]["lr"])
        s.step()
    assert lrs == pytest.approx([0.01, 0.01, 0.001, 0.001])
    other = schedule("step", steps_per_epoch=1, milestones=[2], epochs=4)
    other.load_state_dict(s.state_dict())
    assert other.optimizer.param_groups[0]["lr"] == pytest.approx(0.001)


def test_constant_and_unknown_schedules() -> None:
    assert schedule("constant").lr_at(799) == 0.01
    with pytest.raises(ValueError, match="valid: step, cosine, constant"):
        schedule("poly")


def test_linear_scaling_rule() -> None:
    assert scaled_lr(0.01, global_batch=256, base_batch_size=128, scale=True) == 0.02
    assert scaled_lr(0.01, global_batch=256, base_batch_size=128, scale=False) == 0.01

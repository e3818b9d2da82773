"""`auto` runs bf16 only where the checkpoint's precision check passed (issue 23's guard)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import f4d.models.precision as precision_module
from f4d.engine import checkpoint as ckpt
from f4d.engine import predict
from f4d.engine.evaluate import evaluate
from f4d.engine.precision_check import (
    THRESHOLDS,
    compare_precisions,
    inference_precision,
    passes,
)
from f4d.engine.train import train
from f4d.models import create_model, for_inference


@pytest.fixture
def bf16_cpu(monkeypatch):
    """A CPU with bf16 hardware, whatever this one has (the bf16 path is correct anywhere)."""
    monkeypatch.setattr(precision_module, "cpu_supports_bf16", lambda: True)


def _batches(seed: int, count: int = 2, size: int = 8) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    return [
        (
            torch.randn(size, 2, 3, 4, 32, 32, generator=gen),
            torch.randint(0, 6, (size,), generator=gen),
        )
        for _ in range(count)
    ]


def _near_tie_model() -> torch.nn.Module:
    """tsn_tiny whose features ride on an offset of 1000 that its classifier's bias removes:
    the classes differ by O(1) on top of it, below bf16's spacing there (4), so bf16's logits
    are mostly rounding while fp32 sees the O(1) differences exactly."""
    torch.manual_seed(0)
    model = create_model("tsn_tiny", num_classes=6).eval()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    fc = model.get_classifier()
    with torch.no_grad():
        norms[-1].bias.fill_(1000.0)  # the last block's BN: the final map is ~1000 + O(1)
        fc.bias.copy_(-1000.0 * fc.weight.sum(1))
    return model


def test_compare_precisions_counts_against_its_own_fp32_and_bf16_runs():
    torch.manual_seed(0)
    model = create_model("tsn_tiny", num_classes=6).eval()
    batches = _batches(1)
    check = compare_precisions(model, batches, precision="bf16")
    video = torch.cat([v for v, _ in batches])
    labels = torch.cat([y for _, y in batches])
    ref = for_inference(model, "cpu", "fp32")(video).double()
    low = for_inference(model, "cpu", "bf16")(video).double()
    assert check["videos"] == 16
    assert check["agreement"] == pytest.approx(
        (ref.argmax(1) == low.argmax(1)).double().mean().item()
    )
    assert check["top1_fp32"] == pytest.approx((ref.argmax(1) == labels).double().mean().item())
    assert check["logit_error"] == pytest.approx(((low - ref).norm() / ref.norm()).item())
    assert 1e-4 < check["logit_error"] < THRESHOLDS["logit_error"]  # bf16 did round
    assert check["passed"] is passes(check)


def test_a_model_bf16_cannot_represent_fails_the_check():
    check = compare_precisions(_near_tie_model(), _batches(2), precision="bf16")
    assert check["logit_error"] > 10 * THRESHOLDS["logit_error"] and not check["passed"]


@pytest.mark.parametrize(
    ("agreement", "top1", "error", "ok"),
    [
        (0.99, 0.500, 0.02, True),  # every limit reached exactly
        (0.98, 0.500, 0.01, False),  # agreement
        (1.00, 0.510, 0.01, False),  # top-1 moved by a point
        (1.00, 0.495, 0.01, True),  # by half a point
        (1.00, 0.500, 0.021, False),  # logit error
    ],
)
def test_passes_uses_the_issue_limits(agreement, top1, error, ok):
    check = {"agreement": agreement, "top1": top1, "top1_fp32": 0.5, "logit_error": error}
    assert passes(check) is ok


FAILED = {"precision": "bf16", "videos": 60, "agreement": 0.983, "top1": 0.26,
          "top1_fp32": 0.267, "logit_error": 0.021, "passed": False}  # fmt: skip


def test_auto_falls_back_to_fp32_only_where_the_check_failed(bf16_cpu):
    assert inference_precision("auto", "cpu", {}) == ("bf16", None)  # no record: hardware rule
    assert inference_precision("auto", "cpu", {"precision_check": {**FAILED, "passed": True}}) == (
        "bf16", None,
    )  # fmt: skip
    precision, note = inference_precision("auto", "cpu", {"precision_check": FAILED})
    assert precision == "fp32"
    assert "changed 1.7% of this model's top-1 predictions" in note and "60 validation" in note
    assert inference_precision("bf16", "cpu", {"precision_check": FAILED}) == ("bf16", None)
    assert inference_precision("fp32", "cpu", {"precision_check": FAILED}) == ("fp32", None)


def test_without_bf16_hardware_auto_is_fp32_and_says_nothing(monkeypatch):
    monkeypatch.setattr(precision_module, "cpu_supports_bf16", lambda: False)
    assert inference_precision("auto", "cpu", {"precision_check": FAILED}) == ("fp32", None)


def test_amend_meta_rewrites_all_three_files_as_one_new_save(tmp_path):
    torch.manual_seed(0)
    model = create_model("tsn_tiny", num_classes=3)
    ckpt.save_checkpoint(
        tmp_path, model=model, optimizer=None, scheduler=None, scaler=None, epoch=2, step=8,
        best_metric=0.5, config={}, classes=["a", "b", "c"], tag="best",
    )  # fmt: skip
    before = ckpt.load_meta(tmp_path / "best")
    after = ckpt.amend_meta(tmp_path / "best", {"precision_check": FAILED})
    assert after["save_id"] != before["save_id"]
    assert {k: v for k, v in after.items() if k not in ("save_id", "precision_check")} == {
        k: v for k, v in before.items() if k != "save_id"
    }
    assert ckpt.load_meta(tmp_path / "best")["precision_check"] == FAILED
    assert json.loads((tmp_path / "best.json").read_text())["precision_check"] == FAILED
    state = ckpt.load_training_state(tmp_path / "best")  # same save_id: not "torn"
    assert state["meta"]["precision_check"] == FAILED and state["step"] == 8
    saved = ckpt.load_weights(tmp_path / "best")
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
    assert len(list((tmp_path / ckpt.SAVES_DIR).glob("best@*"))) == 1  # the old save is gone


def test_training_records_the_check_and_auto_obeys_it(make_cfg, bf16_cpu, capsys, monkeypatch):
    import f4d.engine.train as train_module

    runs = []
    real = train_module.compare_precisions
    monkeypatch.setattr(train_module, "compare_precisions",
                        lambda *a, **k: runs.append(1) or real(*a, **k))  # fmt: skip
    cfg = make_cfg("optim.epochs=1", "run.max_steps=2", "run.precision_check=5")
    result = train(cfg)
    assert len(runs) == 1  # best and last are the same step's weights: checked once
    out = capsys.readouterr().out
    folder = Path(cfg.run.out_dir) / "checkpoints"
    for tag in ("best", "last"):
        check = ckpt.load_meta(folder / tag)["precision_check"]
        assert check["precision"] == "bf16" and check["videos"] == 5
        assert check["passed"] is passes(check)
        assert f"precision check ({tag}): bf16 agrees with fp32 on" in out
    assert result["precision_check"]["best"]["videos"] == 5
    # what a later command does with it: the recorded verdict, then a failed one
    assert predict.load_predictor(folder / "best").model.precision == (
        "bf16" if check["passed"] else "fp32"
    )
    ckpt.amend_meta(folder / "best", {"precision_check": FAILED})
    loaded = predict.load_predictor(folder / "best")
    assert loaded.model.precision == "fp32" and "fp32, not bf16" in loaded.model.precision_note
    assert predict.load_predictor(folder / "best", precision="bf16").model.precision == "bf16"
    tested = evaluate(make_cfg(f"test.checkpoint={folder / 'best'}", "test.views=single"))
    assert tested["precision"] == "fp32" and "fp32, not bf16" in tested["precision_note"]


def test_the_check_is_off_with_zero_or_without_bf16(make_cfg, monkeypatch):
    cfg = make_cfg("optim.epochs=1", "run.max_steps=1", out="off")
    monkeypatch.setattr(precision_module, "cpu_supports_bf16", lambda: True)
    train(cfg)  # run.precision_check=0 (the tests' default)
    assert "precision_check" not in ckpt.load_meta(Path(cfg.run.out_dir) / "checkpoints" / "last")
    monkeypatch.setattr(precision_module, "cpu_supports_bf16", lambda: False)
    cfg = make_cfg("optim.epochs=1", "run.max_steps=1", "run.precision_check=4", out="nobf16")
    train(cfg)
    assert "precision_check" not in ckpt.load_meta(Path(cfg.run.out_dir) / "checkpoints" / "last")

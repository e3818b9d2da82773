"""The training loop on the tiny synthetic set: outputs, resume, accumulation, failure policies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from f4d.engine import checkpoint as ckpt
from f4d.engine import train as train_module
from f4d.engine.config import ConfigError
from f4d.engine.train import NonFiniteLossError, batch_plan, train


def weights(out_dir: str | Path) -> dict[str, torch.Tensor]:
    return ckpt.load_weights(Path(out_dir) / "checkpoints" / "last")


def test_run_writes_metrics_checkpoints_and_config(make_cfg) -> None:
    cfg = make_cfg("optim.epochs=3", "run.max_steps=6")  # 4 steps per epoch: stop in epoch 2
    result = train(cfg)
    out = Path(cfg.run.out_dir)
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2] and [r["step"] for r in lines] == [4, 6]
    for key in ("train_loss", "train_top1", "val_loss", "val_top1", "val_top5", "lr",
                "time", "videos_per_s"):  # fmt: skip
        assert key in lines[0], key
    assert result["step"] == 6 and result["accum_steps"] == 1
    names = {p.name for p in (out / "checkpoints").iterdir()}
    assert {"last.safetensors", "best.safetensors", "last.state.pt"} <= names
    assert (out / "config.yaml").is_file() and (out / "steps.jsonl").is_file()
    assert any((out / "tb").iterdir())
    # the training videos' median length: the default window of `f4d predict --timeline`
    length = ckpt.load_meta(out / "checkpoints" / "last")["video_length"]
    assert length["videos"] > 0 and length["median_s"] > 0


def test_resume_is_bit_exact(make_cfg) -> None:
    straight = make_cfg("optim.epochs=2", "optim.schedule=cosine", out="straight")
    train(straight)
    split = make_cfg("optim.epochs=1", "optim.schedule=cosine", out="split")
    # the schedule must see the full 2-epoch run from the start: same config but stop early
    split.optim.epochs = 2
    split.run.max_steps = 4  # 16 videos / batch 4 = 4 steps per epoch: stop after epoch 1
    train(split)
    split.run.max_steps = 0
    split.run.resume = "auto"
    result = train(split)
    assert result["epoch"] == 2 and result["step"] == 8
    a, b = weights(straight.run.out_dir), weights(split.run.out_dir)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_gradient_accumulation_matches_the_full_batch(make_cfg) -> None:
    """4 videos in one step == 2 micro-batches of 2 (BN frozen: its batch statistics differ)."""
    common = ("optim.epochs=1", "run.max_steps=2", "run.freeze_bn=true", "optim.weight_decay=0")
    full = make_cfg(*common, "optim.batch_size=4", out="full")
    accum = make_cfg(*common, "optim.batch_size=2", "optim.global_batch_size=4", out="accum")
    assert train(accum)["accum_steps"] == 2
    train(full)
    a, b = weights(full.run.out_dir), weights(accum.run.out_dir)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-6)


def test_batch_plan_and_linear_lr_scaling(make_cfg) -> None:
    cfg = make_cfg("optim.batch_size=8", "optim.global_batch_size=128", "optim.lr=0.01",
                   "optim.base_batch_size=128")  # fmt: skip
    plan = batch_plan(cfg.optim, world_size=4)
    assert (plan.accum_steps, plan.global_batch, plan.lr) == (4, 128, 0.01)
    cfg.optim.global_batch_size = 0
    assert batch_plan(cfg.optim, world_size=4).lr == pytest.approx(0.01 * 32 / 128)
    cfg.optim.global_batch_size = 48
    with pytest.raises(ConfigError, match="not a multiple"):
        batch_plan(cfg.optim, world_size=4)


def _nan_on_call(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    real = train_module.F.cross_entropy
    calls = {"n": 0}

    def fake(logits, labels, **kwargs):
        calls["n"] += 1
        loss = real(logits, labels, **kwargs)
        return loss * float("nan") if calls["n"] == n else loss

    monkeypatch.setattr(train_module.F, "cross_entropy", fake)


def test_non_finite_loss_stops_naming_epoch_and_step(make_cfg, monkeypatch) -> None:
    cfg = make_cfg("optim.epochs=2")
    _nan_on_call(7, monkeypatch)  # 4 train + 2 validation calls per epoch -> epoch 2, step 5
    with pytest.raises(NonFiniteLossError, match=r"epoch 2, step 5"):
        train(cfg)
    saved = weights(cfg.run.out_dir)  # epoch 1's checkpoint, untouched and finite
    assert all(torch.isfinite(v).all() for v in saved.values() if v.is_floating_point())
    assert ckpt.load_meta(Path(cfg.run.out_dir) / "checkpoints" / "last")["step"] == 4


def test_non_finite_loss_can_be_skipped_and_counted(make_cfg, monkeypatch) -> None:
    cfg = make_cfg("optim.epochs=1", "run.nonfinite=skip")
    _nan_on_call(2, monkeypatch)
    result = train(cfg)
    assert result["skipped_steps"] == 1 and result["step"] == 3
    assert all(torch.isfinite(v).all() for v in weights(cfg.run.out_dir).values())


def test_resume_refuses_another_architecture(make_cfg) -> None:
    cfg = make_cfg("optim.epochs=1", "run.max_steps=1")
    train(cfg)
    cfg.model.name = "f4d_tiny"
    cfg.run.resume = "auto"
    with pytest.raises(ckpt.CheckpointError, match=r"'tsn_tiny'.*'f4d_tiny'"):
        train(cfg)


def test_unit_pretraining_then_init_from(make_cfg, capsys) -> None:
    units = make_cfg("optim.epochs=1", "run.max_steps=2", out="units")
    result = train(units, task="units")
    assert result["num_classes"] == 4  # the four primitives
    meta = ckpt.load_meta(Path(units.run.out_dir) / "checkpoints" / "last")
    assert meta["task"] == "units" and meta["classes"] == ["unit_0", "unit_1", "unit_2", "unit_3"]
    order = make_cfg(
        "optim.epochs=1", "run.max_steps=1", "model.name=f4d_tiny",
        f"run.init_from={units.run.out_dir}/checkpoints/last.safetensors", out="order",
    )  # fmt: skip
    train(order)
    printed = capsys.readouterr().out
    assert "init_from" in printed and "missing" in printed and "blocks4d" in printed


@pytest.fixture
def broken_root(synth_root: Path, tmp_path: Path) -> Path:
    """A copy of the synthetic set whose first training video is garbage bytes."""
    import shutil

    root = tmp_path / "broken"
    shutil.copytree(synth_root, root)
    first = (root / "train.csv").read_text().splitlines()[1].split(",")[0]
    (root / first).write_bytes(b"not a video" * 10)
    return root


def test_bad_video_is_skipped_and_counted(make_cfg, broken_root: Path) -> None:
    cfg = make_cfg("optim.epochs=1", f"data.root={broken_root}", "data.max_bad_videos=1")
    result = train(cfg)
    assert result["bad_videos"] == 1 and result["step"] == 4  # the epoch went on


def test_bad_validation_videos_are_counted_in_the_summary(make_cfg, synth_root, tmp_path):
    """Issue 27 item 4: a missing validation video is skipped and counted (it said 0)."""
    import shutil

    root = tmp_path / "val_missing"
    shutil.copytree(synth_root, root)
    first = (root / "test.csv").read_text().splitlines()[1].split(",")[0]
    (root / first).unlink()
    cfg = make_cfg("optim.epochs=2", "run.max_steps=5", f"data.root={root}")
    result = train(cfg)
    assert result["bad_videos"] == 1  # the same video in both validations counts once
    assert list(result["bad_video_reasons"]) == [str(root / first)]
    saved = json.loads((Path(cfg.run.out_dir) / "train_summary.json").read_text())
    assert saved["bad_videos"] == 1 and str(root / first) in saved["bad_video_reasons"]
    strict = make_cfg("optim.epochs=1", f"data.root={root}", "data.max_bad_videos=0", out="x")
    with pytest.raises(train_module.TrainingError, match="at the validation of epoch 1"):
        train(strict)


def test_too_many_bad_videos_stop_with_a_summary(make_cfg, broken_root: Path) -> None:
    cfg = make_cfg("optim.epochs=1", f"data.root={broken_root}", "data.max_bad_videos=0")
    first = (broken_root / "train.csv").read_text().splitlines()[1].split(",")[0]
    with pytest.raises(train_module.TrainingError, match=first.replace(".", r"\.")):
        train(cfg)


def test_truncated_training_video_follows_the_bad_video_policy(make_cfg, cut_synth, capsys):
    """Skipped, counted and named by default; data.allow_truncated=true trains on its
    decodable part and names it once."""
    from f4d.cli.train import print_bad_videos

    root, cut = cut_synth("train")
    result = train(make_cfg("optim.epochs=1", f"data.root={root}", out="strict"))
    assert result["bad_videos"] == 1 and result["truncated_videos"] == {}
    assert "TruncatedVideoError" in result["bad_video_reasons"][str(cut)]
    lenient = make_cfg("optim.epochs=1", f"data.root={root}", "data.allow_truncated=true")
    result = train(lenient)
    assert result["bad_videos"] == 0 and list(result["truncated_videos"]) == [str(cut)]
    capsys.readouterr()
    print_bad_videos(result)
    printed = capsys.readouterr().out
    assert "truncated videos sampled from their decodable part (1)" in printed
    assert f"{cut}: truncated: decodes " in printed


def test_frozen_stages_and_bn_do_not_move(make_cfg) -> None:
    """freeze_stages=2 keeps conv1 (stem) and conv2 (layer1); freeze_bn keeps every BN."""
    from f4d.models import create_model

    cfg = make_cfg("optim.epochs=1", "run.max_steps=2", "run.freeze_stages=2",
                   "run.freeze_bn=true")  # fmt: skip
    train(cfg)
    after = weights(cfg.run.out_dir)
    torch.manual_seed(cfg.run.seed)
    before = create_model("tsn_tiny", 4, dropout=0.0).state_dict()
    for key in ("conv1.weight", "layer1.0.conv1.weight", "bn1.running_mean", "layer2.0.bn1.weight"):
        assert torch.equal(after[key], before[key]), key
    assert not torch.equal(after["layer2.0.conv1.weight"], before["layer2.0.conv1.weight"])


def test_a_typo_in_model_args_suggests_the_argument(make_cfg) -> None:
    """Issue 27 item 8: `model.args={dropuot: 0.1}` says "did you mean model.args.dropout"."""
    cfg = make_cfg("model.args={dropuot: 0.1}", "optim.epochs=1", "run.max_steps=1")
    with pytest.raises(ConfigError, match=r"'dropuot'; did you mean model\.args\.dropout\?"):
        train(cfg)
    assert not Path(cfg.run.out_dir).exists()


def test_training_starts_with_a_banner(make_cfg, capsys) -> None:
    """Issue 27 item 8: videos, classes, validation split, device, precision, scaled lr."""
    cfg = make_cfg("optim.epochs=1", "run.max_steps=1", "optim.lr=0.01", "optim.base_batch_size=8")
    train(cfg)
    out = capsys.readouterr().out
    banner = out[out.index("train: starting") :].splitlines()[:5]
    assert banner[0] == f"train: starting, 1 epochs x 4 steps -> {cfg.run.out_dir}"
    assert banner[1].startswith("  data: 16 training videos of ") and "4 classes" in banner[1]
    assert banner[2].startswith("  validation: 8 videos of ") and "test" in banner[2]
    assert "device cpu, precision: fp32 (auto on cpu) (run.amp=auto)" in banner[3]
    assert banner[4] == (
        "  batch: 4 videos per step = 4 x 1 process(es) x 1 accumulation; "
        "lr 0.005 (optim.lr=0.01 x global batch 4 / optim.base_batch_size=8)"
    )


def test_training_says_which_split_validates(make_cfg, synth_root, capsys) -> None:
    """The synthetic set has train.csv and test.csv, no val.csv: the split resolver picks
    test.csv for validation and training says so (issue 27.6)."""
    train(make_cfg("optim.epochs=1", "run.max_steps=1"))
    assert f"validation uses test.csv ({synth_root} has no val.csv)" in capsys.readouterr().out


def test_cpu_bf16_training_autocasts_with_float32_master_weights(
    make_cfg, monkeypatch, capsys
) -> None:
    calls: list[tuple[str, torch.dtype]] = []
    real = torch.autocast

    def spy(device_type: str, dtype: torch.dtype | None = None, **kwargs):
        calls.append((device_type, dtype))
        return real(device_type, dtype=dtype, **kwargs)

    monkeypatch.setattr(torch, "autocast", spy)
    cfg = make_cfg("optim.epochs=1", "run.max_steps=2", "run.amp=bf16", "model.name=f4d_tiny")
    result = train(cfg)
    assert ("cpu", torch.bfloat16) in calls
    assert "precision: bf16" in capsys.readouterr().out
    assert result["step"] == 2
    saved = weights(cfg.run.out_dir)
    assert all(v.dtype in (torch.float32, torch.int64) for v in saved.values())


def test_cpu_auto_trains_in_float32_and_fp16_is_refused(make_cfg, monkeypatch, capsys) -> None:
    import f4d.models.precision as precision_module

    monkeypatch.setattr(precision_module, "cpu_supports_bf16", lambda: True)
    train(make_cfg("optim.epochs=1", "run.max_steps=1", out="auto"))
    assert "precision: fp32 (auto on cpu)" in capsys.readouterr().out
    with pytest.raises(ConfigError, match=r"run\.amp=fp16.*bf16, fp32 or auto"):
        train(make_cfg("optim.epochs=1", "run.max_steps=1", "run.amp=fp16", out="fp16"))

"""The experiment tables: every row builds and runs, names are checked, aggregation is right."""

from __future__ import annotations

import math

import pytest
import torch

from f4d.experiments import EXPERIMENTS, aggregate, get_experiment
from f4d.experiments.recipe import _merge_args
from f4d.experiments.runner import epoch_leaving_chance, smoke_variants, validation_area
from f4d.models import create_model, list_models

TRAIN_ROWS = [
    pytest.param(v, id=f"{e.name}-{v.name}")
    for e in EXPERIMENTS.values()
    if e.kind == "train"
    for v in e.variants
]


def test_every_issue_experiment_is_defined() -> None:
    assert set(EXPERIMENTS) == {"headline", "figure4", "scratch", "table1", "table2", "table3",
                                "table4", "table5"}  # fmt: skip
    assert [v.name for v in EXPERIMENTS["table4"].variants] == [
        "none", "CA", "STA", "CA+STA", "TA", "TA+CA", "TA+CA+STA"]  # fmt: skip


@pytest.mark.parametrize("variant", TRAIN_ROWS)
def test_every_training_row_builds_and_runs_a_video(variant) -> None:
    assert variant.model in list_models()
    model = create_model(variant.model, 12, **variant.args).eval()
    units = int(dict(o.split("=") for o in variant.overrides).get("data.units", 4))
    with torch.no_grad():
        logits = model(torch.randn(1, units, 3, 4, 32, 32))
    assert logits.shape == (1, 12)
    assert torch.isfinite(logits).all()


def test_attention_rows_really_change_the_block() -> None:
    """The Table 5 STM row must put an STM block in place of TA+CA+STA, not silently keep it."""
    stm = next(v for v in EXPERIMENTS["table5"].variants if v.name == "STM block")
    model = create_model(stm.model, 12, **stm.args)
    kinds = {type(m).__name__ for m in model.modules()}
    assert "STMBlock" in kinds
    assert "TemporalAttention" not in kinds


def test_unknown_experiment_lists_the_valid_names() -> None:
    with pytest.raises(ValueError, match=r"table9.*headline, figure4, scratch, table1"):
        get_experiment("table9")


def test_smoke_keeps_first_last_and_compared_rows() -> None:
    names = [v.name for v in smoke_variants(EXPERIMENTS["headline"])]
    assert names == ["f4d_tiny", "v4d_tiny", "i3d_tiny"]


def test_aggregate_mean_and_sample_std() -> None:
    runs = [{"tests": {"top1": x}, "train_seconds": 2.0, "history": [{"epoch": 1, "val_top1": x}]}
            for x in (10.0, 20.0, 30.0)]  # fmt: skip
    result = aggregate(runs)
    assert result["mean"]["top1"] == pytest.approx(20.0)
    assert result["std"]["top1"] == pytest.approx(10.0)
    assert aggregate(runs[:1])["std"]["top1"] == 0.0
    assert result["n"] == 3 and math.isclose(result["train_seconds_mean"], 2.0)
    assert result["left_chance_epoch"] == [None, 1, 1]  # 10% is under twice chance (16.7%)
    assert result["val_area"]["mean"] == pytest.approx(20.0)
    assert result["val_area"]["std"] == pytest.approx(10.0)


def test_validation_area_is_the_mean_validation_accuracy_over_epochs() -> None:
    history = [{"epoch": 1, "val_top1": 10.0}, {"epoch": 2, "train_top1": 50.0},
               {"epoch": 3, "val_top1": 40.0}, {"epoch": 4, "val_top1": 100.0}]  # fmt: skip
    assert validation_area(history) == pytest.approx(50.0)  # epoch 2 has no validation
    assert validation_area([{"epoch": 1, "train_top1": 5.0}]) is None


def test_variant_block_options_update_the_recipe_ones() -> None:
    merged = _merge_args({"block4d": {"zero_init": False}, "dropout": 0.2},
                         {"block4d": {"attention": ["se"]}})  # fmt: skip
    assert merged == {"block4d": {"zero_init": False, "attention": ["se"]}, "dropout": 0.2}


def test_epoch_leaving_chance_is_the_first_epoch_at_twice_chance() -> None:
    history = [{"epoch": 1, "val_top1": 9.0}, {"epoch": 2, "val_top1": 16.0},
               {"epoch": 3, "val_top1": 17.5}, {"epoch": 4, "val_top1": 12.0}]  # fmt: skip
    assert epoch_leaving_chance(history) == 3
    assert epoch_leaving_chance(history[:2]) is None
    assert epoch_leaving_chance([{"epoch": 1, "train_top1": 90.0}]) is None  # no validation


def test_scratch_rows_train_end_to_end_and_pretrained_rows_do_not() -> None:
    for variant in EXPERIMENTS["scratch"].variants:
        end_to_end = "run.freeze_stages=0" in variant.overrides
        assert end_to_end == (variant.init == "scratch"), variant.name
    assert all(v.init == "pretrained" for v in EXPERIMENTS["headline"].variants)


def test_run_key_ignores_the_output_folder_and_spelled_out_defaults(tmp_path) -> None:
    from omegaconf import OmegaConf

    from f4d.experiments.recipe import SCALES, recipe_config, run_key

    def key(variant, seed: int = 0, out: str = "a") -> str:
        overrides = ["data.root=d", f"run.seed={seed}", f"run.out_dir={out}", *variant.overrides]
        cfg = recipe_config(variant.model, overrides, SCALES["smoke"], 1, model=variant.model)
        cfg.model.args = _merge_args(OmegaConf.to_container(cfg.model.args), variant.args)
        return run_key(cfg, None)

    default = EXPERIMENTS["headline"].variants[0]
    spelled = EXPERIMENTS["table4"].variants[-1]  # attention: [ta, ca, sta], F4D's default
    none = EXPERIMENTS["table4"].variants[0]
    assert key(default) == key(spelled) == key(default, out="b")
    assert len({key(default), key(default, seed=1), key(none)}) == 3
    init = tmp_path / "init.safetensors"
    init.write_bytes(b"one")
    cfg = recipe_config("f4d_tiny", ["data.root=d"], SCALES["smoke"], 1, model="f4d_tiny")
    first = run_key(cfg, str(init))
    init.write_bytes(b"two")  # a redone pretraining: other bytes, another run
    assert run_key(cfg, str(init)) != first != run_key(cfg, None)


def test_reported_params_are_those_of_the_model_that_trains() -> None:
    """The recipe puts F4D's block after conv5 (configs/demo/f4d_tiny.yaml), not the zoo's conv4:
    the table must count the trained model."""
    from f4d.experiments.runner import _describe
    from f4d.models.profile import count_parameters

    row = _describe(EXPERIMENTS["headline"].variants[0])
    trained = create_model("f4d_tiny", 12, block4d_at={"conv5": [0]})
    assert row["params"] == count_parameters(trained)
    assert row["params"] != count_parameters(create_model("f4d_tiny", 12))  # zoo default
    none = _describe(EXPERIMENTS["table4"].variants[0])  # attention [] keeps the conv5 place
    assert (
        none["args"]["block4d_at"] == {"conv5": [0]} and none["args"]["block4d"]["attention"] == []
    )

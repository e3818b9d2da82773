"""The demo recipe as public steps: synthetic data, shared unit-level pretraining, one run.

The same engine calls as ``f4d demo`` (``configs/demo/*.yaml``, :func:`f4d.data.synthetic.generate`,
:func:`f4d.engine.train.train`, :func:`f4d.engine.evaluate.evaluate`), at a :class:`Scale`:
``small`` is the demo's full budget and ``quick`` its ``--quick`` one (``f4d demo`` runs these
steps, so demo and experiments cannot drift apart); ``smoke`` takes seconds (tests).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

__all__ = [
    "CONFIG_DIR",
    "SCALES",
    "Scale",
    "pretrain",
    "synthesize",
    "train_variant",
]

CONFIG_DIR = Path(__file__).resolve().parents[3] / "configs" / "demo"


@dataclass(frozen=True)
class Scale:
    """Dataset size and training lengths of one experiment scale."""

    num_train: int
    num_test: int
    frames: int  # frames per synthetic video
    pretrain_epochs: int
    epochs: int
    max_steps: int = 0  # 0 -> whole epochs
    batch_size: int = 0  # 0 -> the recipe's optim.batch_size
    synth_workers: int = 2
    smoke: bool = False  # no plots, no progress bars


SCALES = {
    "small": Scale(num_train=2000, num_test=300, frames=48, pretrain_epochs=2, epochs=12),
    "quick": Scale(num_train=16, num_test=8, frames=16, pretrain_epochs=1, epochs=1,
                   max_steps=2, batch_size=4, synth_workers=1),
    "smoke": Scale(num_train=4, num_test=4, frames=8, pretrain_epochs=1, epochs=1,
                   max_steps=1, batch_size=4, synth_workers=1, smoke=True),
}  # fmt: skip


def synthesize(root: Path, scale: Scale) -> Path:
    """Write (or reuse, if identical) the long-range-order dataset under ``root``."""
    from f4d.data.synthetic import generate

    args = dict(num_train=scale.num_train, num_test=scale.num_test, size=32,
                frames=scale.frames, units=4, seed=0)  # fmt: skip
    meta = root / "synth.json"
    if meta.is_file() and (root / "test.csv").is_file():
        saved = json.loads(meta.read_text())
        if all(saved.get(key) == value for key, value in args.items()):
            return root
    return generate(root, **args, workers=scale.synth_workers)


def recipe_config(
    recipe: str, overrides: list[str], scale: Scale, epochs: int, *, model: str | None = None
) -> DictConfig:
    """``configs/demo/<recipe>.yaml`` (``base.yaml`` if absent) at ``scale``, ``model`` if given."""
    from f4d.engine.config import ConfigError, load_config

    own = CONFIG_DIR / f"{recipe}.yaml"
    path = own if own.is_file() else CONFIG_DIR / "base.yaml"
    if not path.is_file():
        raise ConfigError(f"demo recipe {path} not found (run experiments from a source checkout)")
    scaled = [f"optim.epochs={epochs}", f"run.max_steps={scale.max_steps}"]
    if scale.batch_size:
        scaled += [f"optim.batch_size={scale.batch_size}", f"test.batch_size={scale.batch_size}"]
    if scale.smoke:
        scaled += ["run.plots=false", "run.progress=false"]
    named = [f"model.name={model}"] if model else []
    return load_config(path, [*named, *scaled, *overrides])


def pretrain(out: Path, data: Path, scale: Scale) -> dict[str, Any]:
    """The unit-level pretraining of ``configs/demo/pretrain_units.yaml``.

    Reused when a finished one with the same resolved config is in ``out``; redone (overwritten)
    when the recipe has changed since.
    """
    from f4d.engine.train import train

    run_dir = out / "pretrain_units"
    done = run_dir / "experiment_pretrain.json"
    cfg = recipe_config("pretrain_units", [f"data.root={data}", f"run.out_dir={run_dir}"],
                        scale, scale.pretrain_epochs)  # fmt: skip
    config = OmegaConf.to_container(cfg, resolve=True)
    if done.is_file():
        saved = json.loads(done.read_text())
        if saved.get("config") == config:
            return saved
    result = train(cfg)
    summary = {"model": cfg.model.name, "checkpoint": str(result["checkpoint"]),
               "unit_top1": result.get("val_top1"), "wall_time_s": result["wall_time_s"],
               "scale": asdict(scale), "config": config}  # fmt: skip
    done.write_text(json.dumps(summary, indent=2))
    return summary


def train_variant(
    variant: Any, *, run_dir: Path, data: Path, init_from: str | None, seed: int, scale: Scale
) -> dict[str, Any]:
    """Train one :class:`~f4d.experiments.specs.Variant` and test it on every test column.

    ``run_dir`` is emptied first: a rerun replaces the earlier run (its metrics would otherwise
    be appended to).
    """
    from f4d.engine.evaluate import evaluate
    from f4d.engine.train import train

    if run_dir.exists():
        shutil.rmtree(run_dir)

    overrides = [f"data.root={data}", f"run.out_dir={run_dir}", f"run.seed={seed}",
                 f"run.init_from={init_from or 'null'}", *variant.overrides]  # fmt: skip
    cfg = recipe_config(variant.model, overrides, scale, scale.epochs, model=variant.model)
    cfg.model.args = _merge_args(OmegaConf.to_container(cfg.model.args), variant.args)
    result = train(cfg)
    tests = {}
    for column, test_overrides in variant.tests.items():
        test_cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(test_overrides)))
        test_cfg.test.checkpoint = str(result["checkpoint"])
        tests[column] = float(evaluate(test_cfg, quiet=True)["top1"])
    history = _read_jsonl(run_dir / "metrics.jsonl")
    return {"seed": seed, "tests": tests, "train_seconds": float(result["wall_time_s"]),
            "steps": int(result["step"]), "history": history, "run_dir": str(run_dir)}  # fmt: skip


def _merge_args(recipe: dict[str, Any], variant: dict[str, Any]) -> dict[str, Any]:
    """Variant args replace the recipe's, except ``block4d``, whose options update them."""
    merged = {**recipe, **variant}
    if "block4d" in recipe and "block4d" in variant:
        merged["block4d"] = {**recipe["block4d"], **variant["block4d"]}
    return merged


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

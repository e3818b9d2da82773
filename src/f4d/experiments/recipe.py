"""The demo recipe as public steps: synthetic data, shared unit-level pretraining, one run.

The same engine calls as ``f4d demo`` (``configs/demo/*.yaml``, :func:`f4d.data.synthetic.generate`,
:func:`f4d.engine.train.train`, :func:`f4d.engine.evaluate.evaluate`), at a :class:`Scale`:
``small`` is the demo's full budget and ``quick`` its ``--quick`` one (``f4d demo`` runs these
steps, so demo and experiments cannot drift apart); ``smoke`` takes seconds (tests).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

__all__ = [
    "CONFIG_DIR",
    "SCALES",
    "Scale",
    "pretrain",
    "run_key",
    "synthesize",
    "train_variant",
    "variant_args",
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
    num_classes: int = 12  # orders of the four primitives that become classes (12 or 24)
    folder: str = ""  # results go to OUT/<experiment><folder>/ ("" for small and smoke)


SCALES = {
    "small": Scale(num_train=2000, num_test=300, frames=48, pretrain_epochs=2, epochs=12),
    "quick": Scale(num_train=16, num_test=8, frames=16, pretrain_epochs=1, epochs=1,
                   max_steps=2, batch_size=4, synth_workers=1),
    "smoke": Scale(num_train=4, num_test=4, frames=8, pretrain_epochs=1, epochs=1,
                   max_steps=1, batch_size=4, synth_workers=1, smoke=True),
    # The small budget on every order of the four primitives: 24 classes, two of which can
    # differ in only two slots (one swap), with half the videos per class of the 12-class set.
    "hard": Scale(num_train=2000, num_test=300, frames=48, pretrain_epochs=2, epochs=12,
                  num_classes=24, folder="_hard"),
}  # fmt: skip


def synthesize(root: Path, scale: Scale) -> Path:
    """Write (or reuse, if identical) the long-range-order dataset under ``root``."""
    from f4d.data.synthetic import generate

    args = dict(num_train=scale.num_train, num_test=scale.num_test, size=32,
                frames=scale.frames, units=4, seed=0)  # fmt: skip
    meta = root / "synth.json"
    if meta.is_file() and (root / "test.csv").is_file():
        saved = json.loads(meta.read_text())
        same = all(saved.get(key) == value for key, value in args.items())
        if same and len(saved.get("classes", ())) == scale.num_classes:
            return root
    return generate(root, **args, num_classes=scale.num_classes, workers=scale.synth_workers)


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
    result = train(cfg, overwrite=True)  # a stale or half-finished pretraining is redone
    summary = {"model": cfg.model.name, "checkpoint": str(result["checkpoint"]),
               "unit_top1": result.get("val_top1"), "wall_time_s": result["wall_time_s"],
               "scale": asdict(scale), "config": config}  # fmt: skip
    done.write_text(json.dumps(summary, indent=2))
    return summary


def train_variant(
    variant: Any, *, runs: Path, data: Path, init_from: str | None, seed: int, scale: Scale,
    fresh: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Train one :class:`~f4d.experiments.specs.Variant` and test it on every test column.

    Runs are cached by what determines them: the run lives in ``runs/<model>-<key>/`` where
    ``key`` hashes the resolved training config (seed included, output folder excluded) and the
    bytes of the ``init_from`` checkpoint. Identical rows of different experiments (the default
    F4D is a row of the headline and of Tables 2-5) and reruns therefore train once; test
    columns are cached per set of test overrides. ``fresh`` retrains even when cached. A
    process that finds another one training the same run waits for it (file lock).
    """
    from f4d.engine.train import train

    overrides = [f"data.root={data}", f"run.seed={seed}",
                 f"run.init_from={init_from or 'null'}", *variant.overrides]  # fmt: skip
    cfg = recipe_config(variant.model, overrides, scale, scale.epochs, model=variant.model)
    cfg.model.args = _merge_args(OmegaConf.to_container(cfg.model.args), variant.args)
    key = run_key(cfg, init_from)
    run_dir = runs / f"{variant.model}-{key}"
    cfg.run.out_dir = str(run_dir)
    record_path = run_dir / "run.json"
    runs.mkdir(parents=True, exist_ok=True)
    with _locked(runs / f"{run_dir.name}.lock"):
        record = _read_record(record_path, key)
        if record is None or fresh:
            if run_dir.exists():  # a half-finished or stale run: its metrics would be appended to
                shutil.rmtree(run_dir)
            result = train(cfg)
            record = {"key": key, "seed": seed, "checkpoint": str(result["checkpoint"]),
                      "train_seconds": float(result["wall_time_s"]), "steps": int(result["step"]),
                      "config": OmegaConf.to_container(cfg, resolve=True), "tests": {}}  # fmt: skip
        tests = {col: _test(cfg, record, list(extra)) for col, extra in variant.tests.items()}
        _write_json(record_path, record)
    history = _read_jsonl(run_dir / "metrics.jsonl")
    return {"seed": seed, "tests": tests, "train_seconds": record["train_seconds"],
            "steps": record["steps"], "history": history, "run_dir": str(run_dir),
            "cached": not fresh and record.get("reused", False)}  # fmt: skip


def run_key(cfg: DictConfig, init_from: str | None) -> str:
    """12 hex digits naming a training run: its resolved config without ``run.out_dir`` plus
    the SHA-256 of the ``init_from`` checkpoint's bytes (a redone pretraining changes it).

    ``model.args`` enter as the model's own resolved build arguments (``model_args``), so
    spelling out a default (``attention: [ta, ca, sta]`` for F4D) names the same run.
    """
    from f4d.models import create_model

    config = OmegaConf.to_container(cfg, resolve=True)
    config["run"].pop("out_dir", None)
    # The class count does not enter model_args; 12 only builds the model to read them.
    model = create_model(cfg.model.name, 12, **config["model"]["args"])
    config["model"]["args"] = getattr(model, "model_args", config["model"]["args"])
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    if init_from:
        digest.update(hashlib.sha256(Path(init_from).read_bytes()).digest())
    return digest.hexdigest()[:12]


def _test(cfg: DictConfig, record: dict[str, Any], extra: list[str]) -> float:
    """Test top-1 of the run's checkpoint with ``extra`` test overrides (cached in ``record``)."""
    from f4d.engine.evaluate import evaluate

    name = json.dumps(extra)
    if name not in record["tests"]:
        test_cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(extra))
        test_cfg.test.checkpoint = record["checkpoint"]
        record["tests"][name] = float(evaluate(test_cfg, quiet=True)["top1"])
    return record["tests"][name]


def _read_record(path: Path, key: str) -> dict[str, Any] | None:
    """The finished run's record, marked ``reused``; None when absent, unreadable or stale."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if record.get("key") != key or not Path(record.get("checkpoint", "")).is_file():
        return None
    return {**record, "reused": True}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` atomically (temp file + rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({k: v for k, v in data.items() if k != "reused"}, indent=2))
    os.replace(tmp, path)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if absent) for the block."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def variant_args(variant: Any) -> dict[str, Any]:
    """The ``create_model`` arguments a variant trains with: its recipe's ``model.args``
    (``configs/demo/<model>.yaml``) updated by the variant's own (see :func:`_merge_args`)."""
    cfg = recipe_config(variant.model, list(variant.overrides), SCALES["smoke"], 1,
                        model=variant.model)  # fmt: skip
    return _merge_args(OmegaConf.to_container(cfg.model.args), variant.args)


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

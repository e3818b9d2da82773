"""Typed run configuration: one dataclass per concern, YAML files of overrides, CLI ``key=value``.

A YAML file holds only the values that differ from the defaults below; it may name base files
with a top-level ``base:`` key (a path or a list of paths, relative to the file), merged first.
Command-line overrides are dotted ``key=value`` strings merged last. An unknown key, a value of
the wrong type or a value outside its allowed set raises :class:`ConfigError` naming the key and
the file (or "command line") before any work starts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from f4d.errors import ConfigError

__all__ = [
    "AMP_MODES",
    "DATA_FORMATS",
    "SCHEDULES",
    "Config",
    "ConfigError",
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "RunConfig",
    "TestConfig",
    "config_from_dict",
    "default_config",
    "load_config",
    "save_config",
    "validate_config",
]

DATA_FORMATS = ("csv", "folder", "sthv1", "sthv2", "k400", "ucf101", "hmdb51")
SCHEDULES = ("step", "cosine", "constant")
AMP_MODES = ("auto", "fp32", "bf16", "fp16", "none")  # none: old name of fp32 (engine/amp.py)
VIEW_MODES = ("multi", "single")
NONFINITE_POLICIES = ("stop", "skip")
TASKS = ("video", "units")
_DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


@dataclass
class ModelConfig:
    """Which network to build (:func:`f4d.models.create_model`)."""

    name: str = "f4d_tiny"
    num_classes: int = 0  # 0 -> number of classes in the dataset
    args: dict[str, Any] = field(default_factory=dict)  # extra create_model kwargs
    pretrained_2d: str | None = None  # local torchvision-layout 2D ResNet state dict to inflate


@dataclass
class DataConfig:
    """Where the videos are and how clips are sampled and augmented."""

    format: str = "csv"
    root: str = MISSING
    train_list: str | None = None  # relative to root unless absolute
    val_list: str | None = None
    classes: str | None = None
    train_unit_labels: str | None = None  # per-unit labels csv (path,e0..eU-1), run.task=units
    val_unit_labels: str | None = None
    split: int = 1
    units: int = 4  # U at training
    frames: int = 8  # T per unit
    stride: int = 4  # frame stride inside a unit
    size: int = 224  # crop size
    scale_size: int = 256  # short side at test
    test_units: int = 10  # U at test (multi-view)
    test_crops: int = 3  # 1 (centre) or 3
    flip: bool = True
    flip_label_map: str | None = None
    workers: int | None = None  # loader workers; None: one per available core, minus one
    max_bad_videos: int = 50
    allow_truncated: bool = False  # sample truncated files from their decodable part (else: bad)
    scales: list[float] = field(default_factory=lambda: [1.0, 0.875, 0.75, 0.66])  # crop scales
    cache: bool = False  # decode each video once and keep all its frames in memory (small sets)
    mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])


@dataclass
class OptimConfig:
    """SGD, learning-rate schedule and batch arithmetic (paper section 4.2)."""

    lr: float = 0.01  # for `base_batch_size` videos; linearly scaled if scale_lr
    base_batch_size: int = 128
    scale_lr: bool = True
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False
    schedule: str = "step"  # step | cosine | constant
    milestones: list[int] = field(default_factory=lambda: [20, 40, 60])
    gamma: float = 0.1
    warmup_epochs: float = 0.0
    epochs: int = 80
    batch_size: int = 8  # per device, per step
    global_batch_size: int = 0  # 0 -> batch_size * world; else accumulate to reach it
    clip_grad: float | None = None
    label_smoothing: float = 0.0


@dataclass
class RunConfig:
    """Devices, precision, checkpoints, logging and the failure policies of one run."""

    out_dir: str = "runs/${model.name}"
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: str = "auto"  # auto | fp32 | bf16 | fp16 (none = fp32); f4d.models.precision
    channels_last: bool = True  # channels_last_3d weights/activations (CPU and GPU); false: NCTHW
    compile: bool = False
    cudnn_benchmark: bool = True
    deterministic: bool = False
    resume: str | None = None  # None (new run) | latest (--resume) | auto | checkpoint path
    init_from: str | None = None  # same-arch checkpoint; classifier re-init if K differs
    init_exclude: list[str] = field(default_factory=list)  # key prefixes init_from leaves fresh
    freeze_bn: bool = False
    freeze_stages: int = 0
    checkpoint_every_steps: int = 0
    keep_last: int = 3
    eval_every: int = 1  # epochs; 0 -> only at the end
    log_every: int = 10  # steps
    nonfinite: str = "stop"  # stop | skip
    max_steps: int = 0  # 0 -> no limit
    task: str = "video"  # video | units (classify every unit by its unit label)
    progress: bool = True  # tqdm progress bar on rank 0
    plots: bool = True  # PNG plots at the end of training
    # validation videos on which bf16 inference is compared with fp32 at the end of training;
    # `auto` runs bf16 only where that check passed (f4d.engine.precision_check); 0: off
    precision_check: int = 256


@dataclass
class TestConfig:
    """How `f4d test` evaluates a checkpoint."""

    checkpoint: str | None = None
    views: str = "multi"  # multi (test_units x test_crops) | single (units x 1 centre crop)
    batch_size: int = 4
    output: str | None = None  # predictions json/csv stem


@dataclass
class Config:
    """The whole run: model, data, optimiser, run policy, test settings."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    test: TestConfig = field(default_factory=TestConfig)


def default_config() -> DictConfig:
    """Return the schema with its defaults as a typed (structured) ``DictConfig``."""
    return OmegaConf.structured(Config)


def load_config(
    path: str | Path | None, overrides: Sequence[str] = (), *, require_data: bool = True
) -> DictConfig:
    """Merge defaults, the YAML file at ``path`` (with its bases) and dotted overrides.

    Raises :class:`ConfigError` for a missing file, an unknown key, a wrong type or a bad value;
    ``require_data=False`` allows ``data.root`` to stay unset (inference, export).
    """
    cfg = default_config()
    if path is not None:
        cfg = _merge_file(cfg, Path(path), chain=())
    cfg = _merge_overrides(cfg, overrides)
    source = str(path) if path is not None else "defaults"
    if overrides:
        source += " + command line"
    validate_config(cfg, source=source, require_data=require_data)
    return cfg


def config_from_dict(values: dict[str, Any], *, source: str = "checkpoint") -> DictConfig:
    """Rebuild a typed config from a plain (resolved) dict, e.g. the copy stored in a checkpoint."""
    return _merge(default_config(), OmegaConf.create(values), source)


def save_config(cfg: DictConfig, path: str | Path) -> Path:
    """Write the resolved config as YAML to ``path`` and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(OmegaConf.to_yaml(cfg, resolve=True))
    return path


def validate_config(cfg: DictConfig, *, source: str = "config", require_data: bool = True) -> None:
    """Check values that can be checked before any work; raise :class:`ConfigError` if not."""
    if require_data and OmegaConf.is_missing(cfg.data, "root"):
        raise ConfigError(f"{source}: data.root is required (the dataset root folder)")
    _check_choice(cfg.data.format, DATA_FORMATS, "data.format", source)
    _check_choice(cfg.optim.schedule, SCHEDULES, "optim.schedule", source)
    _check_choice(cfg.run.amp, AMP_MODES, "run.amp", source)
    _check_choice(cfg.test.views, VIEW_MODES, "test.views", source)
    _check_choice(cfg.run.nonfinite, NONFINITE_POLICIES, "run.nonfinite", source)
    _check_choice(cfg.run.task, TASKS, "run.task", source)
    _check_choice(cfg.data.test_crops, (1, 3), "data.test_crops", source)
    if not _DEVICE_PATTERN.match(cfg.run.device):
        raise ConfigError(
            f"{source}: run.device={cfg.run.device!r} is not one of auto, cpu, cuda, cuda:N"
        )
    _check_positive(cfg, source)
    _check_batch_arithmetic(cfg, source)
    if len(cfg.data.mean) != 3 or len(cfg.data.std) != 3:
        raise ConfigError(f"{source}: data.mean and data.std need 3 values (RGB)")


# ---------------------------------------------------------------------------------- internals


def _merge_file(cfg: DictConfig, path: Path, chain: tuple[Path, ...]) -> DictConfig:
    """Merge the bases named by ``path`` (recursively) and then ``path`` itself into ``cfg``."""
    path = path.resolve()
    if path in chain:
        cycle = " -> ".join(str(p) for p in (*chain, path))
        raise ConfigError(f"config files include each other: {cycle}")
    data = _read_yaml(path)
    for base in _base_paths(data.pop("base", None), path):
        cfg = _merge_file(cfg, base, (*chain, path))
    return _merge(cfg, data, str(path))


def _read_yaml(path: Path) -> DictConfig:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = OmegaConf.load(path)
    except Exception as err:  # yaml.YAMLError and friends
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, DictConfig):
        raise ConfigError(f"{path}: a config file must hold a mapping of sections, not a list")
    return data


def _base_paths(base: Any, path: Path) -> list[Path]:
    if base is None:
        return []
    names = [base] if isinstance(base, str) else list(base)
    if not all(isinstance(name, str) for name in names):
        raise ConfigError(f"{path}: 'base' must be a path or a list of paths, got {base!r}")
    return [(path.parent / name) for name in names]


def _merge_overrides(cfg: DictConfig, overrides: Sequence[str]) -> DictConfig:
    for item in overrides:
        if "=" not in item or item.startswith("="):
            raise ConfigError(f"command line: override {item!r} is not of the form key=value")
    try:
        dotlist = OmegaConf.from_dotlist(list(overrides))
    except OmegaConfBaseException as err:
        raise ConfigError(f"command line: cannot parse overrides {list(overrides)}: {err}") from err
    return _merge(cfg, dotlist, "command line")


def _merge(cfg: DictConfig, other: DictConfig, source: str) -> DictConfig:
    """``OmegaConf.merge`` that turns schema violations into a :class:`ConfigError`."""
    try:
        return OmegaConf.merge(cfg, other)  # type: ignore[return-value]
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "?"
        reason = str(getattr(err, "msg", None) or err).splitlines()[0]
        raise ConfigError(f"{source}: invalid key '{key}': {reason}") from err


def _check_choice(value: Any, allowed: Sequence[Any], key: str, source: str) -> None:
    if value not in allowed:
        valid = ", ".join(str(a) for a in allowed)
        raise ConfigError(f"{source}: {key}={value!r} is not one of: {valid}")


_POSITIVE_KEYS = (
    "data.units",
    "data.frames",
    "data.stride",
    "data.size",
    "data.scale_size",
    "data.test_units",
    "optim.epochs",
    "optim.batch_size",
    "optim.base_batch_size",
    "test.batch_size",
    "run.log_every",
)
# Refuse a mistyped number before it becomes a huge allocation (the CLI options' bound too).
_AT_MOST_4096 = ("data.units", "data.frames", "data.stride", "data.size", "data.scale_size",
                 "data.test_units")  # fmt: skip
_NON_NEGATIVE_KEYS = (
    "model.num_classes",
    "data.workers",
    "data.max_bad_videos",
    "optim.lr",
    "optim.weight_decay",
    "optim.warmup_epochs",
    "optim.global_batch_size",
    "optim.label_smoothing",
    "run.freeze_stages",
    "run.checkpoint_every_steps",
    "run.keep_last",
    "run.eval_every",
    "run.max_steps",
)


def _check_positive(cfg: DictConfig, source: str) -> None:
    for key in _POSITIVE_KEYS:
        if OmegaConf.select(cfg, key) <= 0:
            raise ConfigError(f"{source}: {key}={OmegaConf.select(cfg, key)} must be > 0")
    for key in _NON_NEGATIVE_KEYS:
        if (OmegaConf.select(cfg, key) or 0) < 0:
            raise ConfigError(f"{source}: {key}={OmegaConf.select(cfg, key)} must be >= 0")
    if not 0.0 <= cfg.optim.label_smoothing < 1.0:
        raise ConfigError(f"{source}: optim.label_smoothing must be in [0, 1)")
    for key in _AT_MOST_4096:
        if OmegaConf.select(cfg, key) > 4096:
            raise ConfigError(f"{source}: {key}={OmegaConf.select(cfg, key)} is above 4096")
    if cfg.data.size > cfg.data.scale_size:
        raise ConfigError(
            f"{source}: data.size={cfg.data.size} (the crop) is larger than data.scale_size="
            f"{cfg.data.scale_size} (the short side frames are resized to before cropping)"
        )


def _check_batch_arithmetic(cfg: DictConfig, source: str) -> None:
    """A non-zero global batch must be a multiple of the per-device batch."""
    gbs, bs = cfg.optim.global_batch_size, cfg.optim.batch_size
    if gbs and gbs % bs:
        raise ConfigError(
            f"{source}: optim.global_batch_size={gbs} is not a multiple of optim.batch_size={bs}"
        )

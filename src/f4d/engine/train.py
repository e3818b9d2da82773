"""The training loop (paper section 4.2): SGD with momentum, lr schedule, accumulation, DDP.

``train(cfg)`` runs one experiment end to end: parse the splits, build the model (optionally
initialised from another run with ``run.init_from``), resume if asked, train with a global
batch of ``optim.global_batch_size`` videos per optimizer step on any number of processes,
validate, checkpoint (``last``, ``best``, keep-N), log to ``metrics.jsonl`` and TensorBoard and
draw the plots. ``run.task=units`` trains a unit classifier instead (each action unit of a
video labelled by its own event) -- the demo's analogue of ImageNet pretraining.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from torch import nn

from f4d.engine import checkpoint as ckpt
from f4d.engine import runs
from f4d.engine.amp import amp_dtype, precision_line
from f4d.engine.config import ConfigError, save_config
from f4d.engine.distributed import (
    DistInfo,
    all_reduce_sums,
    any_across_ranks,
    cleanup_distributed,
    init_distributed,
)
from f4d.engine.loaders import build_eval_loader, build_train_loader, load_split
from f4d.engine.metrics import RunningAverage, topk_correct
from f4d.engine.precision_check import compare_precisions
from f4d.engine.progress import progress_bar
from f4d.engine.schedule import LRSchedule, scaled_lr
from f4d.errors import InputError, RunError
from f4d.models.precision import resolve_precision

__all__ = [
    "NonFiniteLossError",
    "Trainer",
    "TrainingError",
    "batch_plan",
    "draw_plots",
    "prepare_batch",
    "train",
]

CHECKPOINT_DIR = runs.CHECKPOINT_DIR
METRICS_FILE = runs.METRICS_FILE
STEPS_FILE = runs.STEPS_FILE


class TrainingError(RunError, RuntimeError):
    """The run cannot go on (too many bad videos, a dataset without unit labels, ...)."""


class NonFiniteLossError(TrainingError):
    """The loss became NaN or infinite and ``run.nonfinite=stop``."""


@dataclass(frozen=True)
class BatchPlan:
    """How a global batch is reached: ``batch_size x world_size x accum_steps``."""

    batch_size: int
    world_size: int
    accum_steps: int
    lr: float

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.world_size * self.accum_steps


def batch_plan(optim: Any, world_size: int) -> BatchPlan:
    """Work out gradient accumulation and the linearly scaled lr; ConfigError if it cannot."""
    per_step = optim.batch_size * world_size
    target = optim.global_batch_size or per_step
    if target % per_step:
        raise ConfigError(
            f"optim.global_batch_size={target} is not a multiple of optim.batch_size x world "
            f"= {optim.batch_size} x {world_size} = {per_step}"
        )
    lr = scaled_lr(
        optim.lr, global_batch=target, base_batch_size=optim.base_batch_size, scale=optim.scale_lr
    )
    return BatchPlan(optim.batch_size, world_size, target // per_step, lr)


def prepare_batch(
    batch: dict[str, Any], *, task: str, device: torch.device, mean: Any, std: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """Move a collated batch to ``device``, normalise it and pick the labels of ``task``.

    ``video`` is ``(B, U, C, T, H, W)`` uint8 (one view in training). For ``task="units"`` every
    unit becomes its own clip: ``(B·U, 1, C, T, H, W)`` with labels ``unit_labels (B·U,)``.
    """
    from f4d.data.transforms import normalize

    video = batch["video"].to(device, non_blocking=True)
    video = normalize(video, mean, std)  # (B, U, C, T, H, W) float
    if task == "units":
        if "unit_labels" not in batch:
            raise TrainingError("run.task=units needs per-unit labels (unit_labels) in the data")
        b, u = video.shape[:2]
        video = video.reshape(b * u, 1, *video.shape[2:])  # (B·U, 1, C, T, H, W)
        labels = batch["unit_labels"].reshape(b * u)
    else:
        labels = batch["label"]
    return video, labels.to(device, non_blocking=True)


def train(cfg: DictConfig, *, task: str | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Train the model described by ``cfg``; return the final metrics (rank 0's view).

    ``task`` overrides ``cfg.run.task`` (``video`` or ``units``). A new run (``run.resume``
    unset) refuses a ``run.out_dir`` that already holds a run (:class:`runs.RunExistsError`)
    unless ``overwrite``, which removes the old run's files first. Resuming a run that is
    already complete trains nothing and returns its summary with ``already_complete: True``.
    A process group that this call creates (under ``torchrun``) is destroyed again before it
    returns or raises; one the caller created is left alone.
    """
    if task is not None:
        cfg = cfg.copy()
        cfg.run.task = task
    info = init_distributed(cfg.run.device)
    try:
        trainer = Trainer(cfg, info, overwrite=overwrite)
        try:
            return trainer.fit()
        finally:
            trainer.close()
    finally:
        cleanup_distributed(info)


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Trainer:
    """One training run; see :func:`train`. Attributes are the run's live objects."""

    def __init__(self, cfg: DictConfig, info: DistInfo, *, overwrite: bool = False) -> None:
        self.cfg, self.info, self.device = cfg, info, info.device
        self.task = cfg.run.task
        self.out_dir = Path(cfg.run.out_dir)
        self.ckpt_dir = self.out_dir / CHECKPOINT_DIR
        self._resume_from = self._claim_run_folder(overwrite)
        self.plan = batch_plan(cfg.optim, info.world_size)
        _seed_all(cfg.run.seed)
        self._configure_backends()
        self.train_index = load_split(cfg.data, "train")
        self.val_index = self._try_val_split()
        self.classes = self._class_names()
        self.video_length = _training_video_length(self.train_index) if info.is_main else {}
        self.model = self._build_model()
        self.loader, self.sampler, self.dataset = build_train_loader(
            cfg.data, self.train_index, batch_size=self.plan.batch_size, seed=cfg.run.seed,
            rank=info.rank, world_size=info.world_size,
        )  # fmt: skip
        self.steps_per_epoch = len(self.loader) // self.plan.accum_steps
        if self.steps_per_epoch == 0:
            raise TrainingError(
                f"{len(self.train_index)} training videos are fewer than one global batch of "
                f"{self.plan.global_batch}; lower optim.batch_size / global_batch_size"
            )
        self.optimizer = self._build_optimizer()
        self.scheduler = LRSchedule(
            self.optimizer, name=cfg.optim.schedule, base_lr=self.plan.lr,
            steps_per_epoch=self.steps_per_epoch, epochs=cfg.optim.epochs,
            milestones=list(cfg.optim.milestones), gamma=cfg.optim.gamma,
            warmup_epochs=cfg.optim.warmup_epochs,
        )  # fmt: skip
        self.amp_dtype = self._amp_dtype()
        self.scaler = torch.amp.GradScaler(
            "cuda", enabled=self.amp_dtype == torch.float16 and self.device.type == "cuda"
        )
        from f4d.data.dataset import SkipCounter

        self.skips = SkipCounter(cfg.data.max_bad_videos)
        self.epoch, self.step, self.batch_in_epoch = 0, 0, 0
        self.best_metric: float | None = None
        self.skipped_steps = 0
        self.history: list[dict[str, Any]] = []
        self.writer: Any = None
        self._rng_to_restore: dict | None = None
        self._val_loader: Any = None
        self._maybe_resume()
        self.complete = self._resume_from is not None and self._done()
        self.net = self._wrap_model()
        if not self.complete:
            self._prepare_output()

    # ------------------------------------------------------------------------------- set-up
    def _configure_backends(self) -> None:
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = self.cfg.run.cudnn_benchmark
        if self.cfg.run.deterministic:
            torch.backends.cudnn.benchmark = False
            torch.use_deterministic_algorithms(True, warn_only=True)

    def _try_val_split(self) -> Any:
        try:
            index = load_split(self.cfg.data, "val")
        except FileNotFoundError as err:
            self._log(f"no validation split ({err}); training without validation")
            return None
        if index.split is not None and index.split.note:  # e.g. "validation uses test/ (...)"
            self._log(index.split.note)
        return index

    def _class_names(self) -> list[str]:
        if self.task == "video":
            return list(self.train_index.classes)
        labels = [
            u
            for index in (self.train_index, self.val_index)
            if index is not None
            for record in index.records
            for u in (record.unit_labels or ())
        ]
        if not labels:
            raise TrainingError(
                f"run.task=units but {self.train_index.source} has no per-unit labels"
            )
        return [f"unit_{i}" for i in range(max(labels) + 1)]

    def _build_model(self) -> nn.Module:
        from f4d.models import create_model

        cfg = self.cfg
        num_classes = len(self.classes)
        if self.task == "video" and cfg.model.num_classes not in (0, num_classes):
            raise ConfigError(
                f"model.num_classes={cfg.model.num_classes} but the dataset has "
                f"{num_classes} classes"
            )
        args = OmegaConf.to_container(cfg.model.args, resolve=True)
        try:
            model = create_model(cfg.model.name, num_classes, **args)
        except (ValueError, TypeError) as err:  # unknown name or attention, unknown argument
            raise ConfigError(
                f"model.name={cfg.model.name!r}, model.args={args}: {err}"
                f"{_did_you_mean(cfg.model.name, err)}"
            ) from err
        if cfg.model.pretrained_2d:
            _inflate(model, cfg.model.pretrained_2d)
        if cfg.run.init_from:
            self._init_from(model, cfg.run.init_from)
        _freeze(model, freeze_bn=cfg.run.freeze_bn, stages=cfg.run.freeze_stages)
        model.to(self.device)
        # models are built channels_last_3d (the fast layout on CPU and GPU); false opts out
        layout = torch.channels_last_3d if cfg.run.channels_last else torch.contiguous_format
        model.to(memory_format=layout)
        return model

    def _init_from(self, model: nn.Module, path: str) -> None:
        meta = ckpt.load_meta(path)
        reset = meta.get("task", "video") != self.task
        ckpt.init_from_checkpoint(
            model, path, reset_classifier=reset, exclude=list(self.cfg.run.init_exclude),
            print_report=self.info.is_main,
        )  # fmt: skip

    def _build_optimizer(self) -> torch.optim.Optimizer:
        params = [p for p in self.model.parameters() if p.requires_grad]
        optim = self.cfg.optim
        return torch.optim.SGD(
            params, lr=self.plan.lr, momentum=optim.momentum,
            weight_decay=optim.weight_decay, nesterov=optim.nesterov,
        )  # fmt: skip

    def _amp_dtype(self) -> torch.dtype | None:
        amp = self.cfg.run.amp  # autocast on CPU too; auto = fp32 there (docs/training.md)
        try:
            dtype = amp_dtype(amp, self.device, training=True)
        except ValueError as err:  # fp16 on a CPU
            raise ConfigError(f"run.amp={amp}: {err}") from err
        return dtype

    def _wrap_model(self) -> nn.Module:
        net: nn.Module = self.model
        if self.info.distributed:
            device_ids = [self.device] if self.device.type == "cuda" else None
            net = nn.parallel.DistributedDataParallel(net, device_ids=device_ids)
        if self.cfg.run.compile:
            net = torch.compile(net)
        return net

    def _prepare_output(self) -> None:
        if not self.info.is_main:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if self._resume_from is None:  # a new run: no steps of a start that saved nothing
            (self.out_dir / STEPS_FILE).unlink(missing_ok=True)
        # the run as it is, not how it was launched: `f4d train <out_dir>/config.yaml
        # run.out_dir=...` must start a new run, not resume one
        described = self.cfg.copy()
        described.run.resume = None
        save_config(described, self.out_dir / "config.yaml")
        (self.out_dir / "classes.json").write_text(json.dumps(self.classes))
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(self.out_dir / "tb"))

    # ------------------------------------------------------------------------------- resume
    def _claim_run_folder(self, overwrite: bool) -> Path | None:
        """Apply the run-folder policy (:mod:`f4d.engine.runs`); return the checkpoint to
        resume from, or ``None`` for a new run."""
        path = self._resume_path()
        if path is not None:
            return path
        held = runs.existing_run(self.out_dir)
        if held is not None and not overwrite:
            raise runs.run_exists_error(held)
        if held is not None and self.info.is_main:
            runs.remove_run(self.out_dir, log=self._log)
        return None

    def _resume_path(self) -> Path | None:
        resume = self.cfg.run.resume
        if not resume:
            return None
        if resume not in (runs.RESUME_AUTO, runs.RESUME_LATEST):
            return ckpt.resolve_checkpoint(resume)
        # the newest checkpoint whose files are all from one save
        path = ckpt.latest_complete_checkpoint(self.ckpt_dir, log=self._log)
        if path is None and resume == runs.RESUME_LATEST:
            raise runs.missing_checkpoint_error(self.out_dir)
        if path is None:
            self._log(f"run.resume=auto: no checkpoint in {self.ckpt_dir}; starting a new run")
        return path

    def _maybe_resume(self) -> None:
        path = self._resume_from
        if path is None:
            return
        meta = ckpt.load_meta(path)
        ckpt.check_compatible(self.model, meta, source=str(path))
        if meta.get("task", "video") != self.task:
            raise ckpt.CheckpointError(
                f"checkpoint {path} was trained with run.task={meta.get('task')} but this run "
                f"has run.task={self.task}"
            )
        state = ckpt.load_training_state(path)  # refuses state and weights of two saves
        self.model.load_state_dict(ckpt.load_weights(path), strict=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.step = state["epoch"], state["step"]
        self.batch_in_epoch = int(meta.get("batch_in_epoch", 0))
        self.best_metric = state["best_metric"]
        self.skipped_steps = int(meta.get("skipped_steps", 0))
        self._rng_to_restore = state["rng"]
        self._log(f"resumed from {path}: epoch {self.epoch}, step {self.step}")
        self._note_changed_config(state.get("config") or {}, path)

    def _note_changed_config(self, saved: dict[str, Any], path: Path) -> None:
        """Say which config keys differ from the ones the checkpoint was trained with."""
        current = OmegaConf.to_container(self.cfg, resolve=True)
        changed = runs.changed_keys(saved, current, ignore=("run.resume",)) if saved else {}
        if changed:
            rows = "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items())
            self._log(f"note: resuming {path} with a config that differs from the one it was "
                      f"trained with ({len(changed)} keys; the new values apply from here on): "
                      f"{rows}")  # fmt: skip

    def _banner(self) -> str:
        """What is about to run: data, validation split, model, device, precision, batch, lr."""
        cfg, plan = self.cfg, self.plan
        val = (f"{len(self.val_index)} videos of {self.val_index.source or 'the val split'}"
               if self.val_index is not None else "none (no validation split)")  # fmt: skip
        params = sum(p.numel() for p in self.model.parameters())
        precision = precision_line(cfg.run.amp, self.device, training=True)
        lr = f"lr {plan.lr:.4g}"
        if cfg.optim.scale_lr and plan.lr != cfg.optim.lr:
            lr += (f" (optim.lr={cfg.optim.lr:g} x global batch {plan.global_batch} / "
                   f"optim.base_batch_size={cfg.optim.base_batch_size})")  # fmt: skip
        start = "starting" if self._resume_from is None else f"resuming at epoch {self.epoch + 1}"
        return "\n".join([
            f"train: {start}, {cfg.optim.epochs} epochs x {self.steps_per_epoch} steps -> "
            f"{self.out_dir}",
            f"  data: {len(self.train_index)} training videos of "
            f"{self.train_index.source or cfg.data.root}, {len(self.classes)} classes",
            f"  validation: {val}",
            f"  model: {cfg.model.name} ({params:,} parameters); device {self.device}, "
            f"{precision} (run.amp={cfg.run.amp})",
            f"  batch: {plan.global_batch} videos per step = {plan.batch_size} x "
            f"{plan.world_size} process(es) x {plan.accum_steps} accumulation; {lr}",
        ])  # fmt: skip

    def _done(self) -> bool:
        return self.epoch >= self.cfg.optim.epochs or self._step_limit_reached()

    def _already_complete(self) -> dict[str, Any]:
        """The summary of a resumed run that has nothing left to train, with a note saying so."""
        summary_file = self.out_dir / runs.SUMMARY_FILE
        saved = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
        limit = f"optim.epochs={self.cfg.optim.epochs}"
        if self.cfg.run.max_steps:
            limit += f" / run.max_steps={self.cfg.run.max_steps}"
        message = (
            f"{self.out_dir} is already complete: {self.epoch} epochs, {self.step} steps "
            f"({limit}); nothing to train. To train longer, resume with a larger optim.epochs."
        )
        self._log(message)
        return {**saved, "epoch": self.epoch, "step": self.step, "best_metric": self.best_metric,
                "out_dir": str(self.out_dir), "already_complete": True,
                "message": message}  # fmt: skip

    # ------------------------------------------------------------------------------- loop
    def fit(self) -> dict[str, Any]:
        """Train until ``optim.epochs`` (or ``run.max_steps``); return the final metrics."""
        cfg = self.cfg
        if self.complete:
            return self._already_complete()
        self._log(self._banner())
        start = time.perf_counter()
        if self._rng_to_restore is not None:
            ckpt.restore_rng_state(self._rng_to_restore)
        last: dict[str, Any] = {}
        while self.epoch < cfg.optim.epochs and not self._step_limit_reached():
            train_stats = self._train_epoch()
            finished = self.epoch >= cfg.optim.epochs or self._step_limit_reached()
            last = {**train_stats, **self._maybe_validate(finished)}
            self._end_epoch(last)
        last.update(
            wall_time_s=time.perf_counter() - start,
            best_metric=self.best_metric,
            skipped_steps=self.skipped_steps,
            bad_videos=self.skips.count,
            bad_video_reasons=dict(self.skips.reasons),
            truncated_videos=dict(self.skips.truncated),
            out_dir=str(self.out_dir),
            checkpoint=str(self.ckpt_dir / f"last{ckpt.WEIGHTS_SUFFIX}"),
            num_classes=len(self.classes),
            global_batch=self.plan.global_batch,
            accum_steps=self.plan.accum_steps,
        )
        check = self._check_precision()
        if check:
            last["precision_check"] = check
        self._finish(last)
        return last

    def _step_limit_reached(self) -> bool:
        return bool(self.cfg.run.max_steps) and self.step >= self.cfg.run.max_steps

    def _train_epoch(self) -> dict[str, Any]:
        """One pass over the training split (or the rest of it after a mid-epoch resume)."""
        self.net.train()
        _freeze(self.model, freeze_bn=self.cfg.run.freeze_bn, stages=self.cfg.run.freeze_stages)
        self.sampler.set_epoch(self.epoch)
        self.dataset.set_epoch(self.epoch)
        self.sampler.skip = self.batch_in_epoch * self.plan.batch_size
        stats = RunningAverage()
        micro_batches = len(self.loader)
        usable = (micro_batches // self.plan.accum_steps) * self.plan.accum_steps
        bar = self._progress(usable)
        tic = time.perf_counter()
        finite = True
        for i, batch in enumerate(self.loader):
            if i >= usable:
                break
            finite &= self._forward_backward(
                batch, stats, last=(i + 1) % self.plan.accum_steps == 0
            )
            self.batch_in_epoch += 1
            if (i + 1) % self.plan.accum_steps:
                continue
            self._optimizer_step(finite)
            finite = True
            self._after_step(stats, tic, bar)
            if self._step_limit_reached():
                break
        if bar is not None:
            bar.close()
        self.epoch += 1
        self.batch_in_epoch = 0
        return self._epoch_train_stats(stats, time.perf_counter() - tic)

    def _forward_backward(
        self, batch: dict[str, Any], stats: RunningAverage, *, last: bool
    ) -> bool:
        """Forward + backward of one micro-batch; return whether its loss was finite."""
        self._count_bad_videos(batch)
        if batch["video"].shape[0] == 0:
            return True
        video, labels = prepare_batch(
            batch, task=self.task, device=self.device, mean=self.cfg.data.mean,
            std=self.cfg.data.std,
        )  # fmt: skip
        sync = nullcontext() if last or not self.info.distributed else self.net.no_sync()
        with sync, self._autocast():
            logits = self.net(video)  # (B, K)
            loss = F.cross_entropy(
                logits.float(), labels, label_smoothing=self.cfg.optim.label_smoothing
            )
        self._last_loss = float(loss.detach())
        if not math.isfinite(self._last_loss):
            self._zero_grad_after_bad_loss(sync, loss)
            return False
        with sync:
            self.scaler.scale(loss / self.plan.accum_steps).backward()
        hits = topk_correct(logits.detach().float(), labels, (1,))[1]
        n = labels.shape[0]
        stats.add(loss=self._last_loss * n, correct=hits, count=n, videos=batch["label"].shape[0])
        return True

    def _zero_grad_after_bad_loss(self, sync: Any, loss: torch.Tensor) -> None:
        """Keep DDP ranks in step: run a zero backward so every rank all-reduces the same."""
        if self.info.distributed:
            with sync:
                (loss.nan_to_num(0.0, 0.0, 0.0) * 0.0).backward()

    def _count_bad_videos(self, batch: dict[str, Any]) -> None:
        from f4d.data.dataset import TooManyBadVideos

        try:
            self.skips.update(batch)
        except TooManyBadVideos as err:
            raise TrainingError(
                f"stopping at epoch {self.epoch + 1}: more than data.max_bad_videos="
                f"{self.cfg.data.max_bad_videos} videos could not be read.\n{err}"
            ) from err

    def _optimizer_step(self, finite: bool) -> None:
        """Apply the accumulated gradients, or handle a non-finite loss per ``run.nonfinite``."""
        if any_across_ranks(not finite, self.device):
            if self.cfg.run.nonfinite == "stop":
                raise NonFiniteLossError(
                    f"non-finite loss ({self._last_loss}) at epoch {self.epoch + 1}, step "
                    f"{self.step + 1}; stopped without saving a checkpoint (last good one: "
                    f"{self.ckpt_dir / 'last.safetensors'}). Try a lower optim.lr, "
                    f"optim.clip_grad, or run.nonfinite=skip."
                )
            self.skipped_steps += 1
            self.optimizer.zero_grad(set_to_none=True)
            self._log(f"skipped step {self.step + 1} (non-finite loss {self._last_loss})")
            return
        if self.cfg.optim.clip_grad:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.clip_grad)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self.step += 1
        every = self.cfg.run.checkpoint_every_steps
        if every and self.step % every == 0:
            self._save(f"step_{self.step:07d}", periodic=True)

    def _after_step(self, stats: RunningAverage, tic: float, bar: Any) -> None:
        elapsed = max(time.perf_counter() - tic, 1e-9)
        speed = stats.sums.get("videos", 0.0) * self.info.world_size / elapsed
        lr = self.scheduler.get_last_lr()
        if bar is not None:
            bar.set_postfix(loss=f"{self._last_loss:.4f}", lr=f"{lr:.2e}", vps=f"{speed:.1f}")
            bar.update(self.plan.accum_steps)
        if self.step % self.cfg.run.log_every == 0 and self.info.is_main:
            record = {"step": self.step, "epoch": self.epoch + 1, "loss": self._last_loss,
                      "lr": lr, "videos_per_s": speed}  # fmt: skip
            _append_jsonl(self.out_dir / STEPS_FILE, record)
            self.writer.add_scalar("step/loss", self._last_loss, self.step)
            self.writer.add_scalar("step/lr", lr, self.step)

    def _epoch_train_stats(self, stats: RunningAverage, seconds: float) -> dict[str, Any]:
        sums = all_reduce_sums(
            {k: stats.sums.get(k, 0.0) for k in ("loss", "correct", "count", "videos")},
            self.device,
        )
        count = max(sums["count"], 1.0)
        return {
            "epoch": self.epoch,
            "step": self.step,
            "train_loss": sums["loss"] / count,
            "train_top1": 100.0 * sums["correct"] / count,
            "lr": self.scheduler.get_last_lr(),
            "time": seconds,
            "videos_per_s": sums["videos"] / max(seconds, 1e-9),
        }

    # ------------------------------------------------------------------------------- eval
    def _maybe_validate(self, finished: bool) -> dict[str, float]:
        every = self.cfg.run.eval_every
        due = finished or (every and self.epoch % every == 0)
        if self.val_index is None or not due:
            return {}
        return self.validate()

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Single-view loss / top-1 / top-5 on the validation split, reduced over ranks.

        Bad validation videos are skipped and counted with the training ones (``bad_videos``
        in the summary; the same ``data.max_bad_videos`` limit).
        """
        from f4d.engine.evaluate import count_skips, log_skips, new_skip_log

        if self._val_loader is None:
            self._val_loader = build_eval_loader(
                self.cfg.data, self.val_index, views="single",
                batch_size=self.cfg.test.batch_size, rank=self.info.rank,
                world_size=self.info.world_size, seed=self.cfg.run.seed,
            )  # fmt: skip
        loader = self._val_loader
        self.net.eval()
        sums = {"loss": 0.0, "top1": 0.0, "top5": 0.0, "count": 0.0}
        seen = new_skip_log()
        bar = self._progress(len(loader), "validation")
        for batch in loader:
            log_skips(seen, batch)
            if bar is not None:
                bar.update(1)
            if batch["video"].shape[0] == 0:
                continue
            video, labels = prepare_batch(
                batch, task=self.task, device=self.device, mean=self.cfg.data.mean,
                std=self.cfg.data.std,
            )  # fmt: skip
            with self._autocast():
                logits = self.model(video).float()  # (B, K)
            hits = topk_correct(logits, labels, (1, 5))
            sums["loss"] += float(F.cross_entropy(logits, labels, reduction="sum"))
            sums["top1"] += hits[1]
            sums["top5"] += hits[5]
            sums["count"] += labels.shape[0]
        if bar is not None:
            bar.close()
        count_skips(self.skips, seen, what=f"at the validation of epoch {self.epoch}")
        sums = all_reduce_sums(sums, self.device)
        count = max(sums["count"], 1.0)
        self.net.train()
        return {
            "val_loss": sums["loss"] / count,
            "val_top1": 100.0 * sums["top1"] / count,
            "val_top5": 100.0 * sums["top5"] / count,
        }

    # ------------------------------------------------------------------------------- outputs
    def _end_epoch(self, record: dict[str, Any]) -> None:
        self.history.append(record)
        metric = record.get("val_top1", record["train_top1"])
        improved = self.best_metric is None or metric > self.best_metric
        if improved:
            self.best_metric = metric
        if self.info.is_main:
            _append_jsonl(self.out_dir / METRICS_FILE, record)
            for key, value in record.items():
                if key not in ("epoch", "step") and isinstance(value, (int, float)):
                    self.writer.add_scalar(f"epoch/{key}", value, record["epoch"])
            self.writer.flush()
            self._log(_epoch_line(record))
        self._save("last")
        self._save(f"epoch_{self.epoch:04d}", periodic=True)
        if improved:
            self._save("best")

    def _save(self, tag: str, *, periodic: bool = False) -> None:
        if not self.info.is_main or (periodic and self.cfg.run.keep_last == 0):
            return
        extra = {"task": self.task, "batch_in_epoch": self.batch_in_epoch,
                 "skipped_steps": self.skipped_steps,
                 "video_length": self.video_length}  # fmt: skip
        ckpt.save_checkpoint(
            self.ckpt_dir, model=self.model, optimizer=self.optimizer, scheduler=self.scheduler,
            scaler=self.scaler, epoch=self.epoch, step=self.step, best_metric=self.best_metric,
            config=OmegaConf.to_container(self.cfg, resolve=True), classes=self.classes,
            tag=tag, extra=extra,
        )  # fmt: skip
        if periodic:
            ckpt.prune_checkpoints(self.ckpt_dir, self.cfg.run.keep_last)

    def _check_precision(self) -> dict[str, Any]:
        """Compare bf16 with fp32 inference on the validation videos for the ``best`` and
        ``last`` checkpoints; record it in their meta (``precision_check``, which ``auto``
        obeys: :mod:`f4d.engine.precision_check`). Rank 0, after training; ``{}`` when off,
        without a validation split, or where ``auto`` would not run bf16 on this device."""
        limit = self.cfg.run.precision_check
        if not self.info.is_main or limit <= 0 or self.val_index is None or self.task != "video":
            return {}
        if resolve_precision("auto", self.device) == "fp32":
            return {}
        records = self.val_index.records
        picked = sorted({i * len(records) // limit for i in range(min(limit, len(records)))})
        index = dataclasses.replace(self.val_index, records=tuple(records[i] for i in picked))
        loader = build_eval_loader(
            self.cfg.data, index, views="single", batch_size=self.cfg.test.batch_size,
            seed=self.cfg.run.seed,
        )  # fmt: skip

        def batches() -> Any:  # streamed: 256 videos at 224² would be gigabytes at once
            for batch in loader:
                if batch["video"].shape[0]:
                    yield prepare_batch(batch, task="video", device=self.device,
                                        mean=self.cfg.data.mean, std=self.cfg.data.std)  # fmt: skip

        checks: dict[str, Any] = {}
        by_step: dict[int, dict[str, Any]] = {}  # best saved at the last step: same weights
        for tag in ("best", "last"):
            path = self.ckpt_dir / tag
            if not ckpt.checkpoint_paths(path)["weights"].is_file():
                continue
            model, _, meta = ckpt.load_for_inference(path, device=self.device)
            check = by_step.get(meta["step"])
            if check is None:
                try:
                    check = compare_precisions(
                        model, batches(), device=self.device, precision="bf16"
                    )
                except ValueError:  # no validation video could be read
                    return {}
                by_step[meta["step"]] = check
            ckpt.amend_meta(path, {"precision_check": check})
            checks[tag] = check
        self._log(_precision_line(checks))
        return checks

    def _finish(self, last: dict[str, Any]) -> None:
        if not self.info.is_main:
            return
        (self.out_dir / "train_summary.json").write_text(json.dumps(last, indent=2))
        if self.cfg.run.plots:
            last["plots"] = [str(p) for p in draw_plots(self.out_dir)]

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    # ------------------------------------------------------------------------------- helpers
    def _autocast(self) -> Any:
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _progress(self, total: int, what: str = "epoch") -> Any:
        """A bar for the epoch in progress, or for the validation after the epoch just done."""
        epoch = self.epoch + 1 if what == "epoch" else self.epoch
        return progress_bar(
            total, desc=f"{what} {epoch}/{self.cfg.optim.epochs}", unit="batch",
            enabled=self.info.is_main and self.cfg.run.progress,
        )  # fmt: skip

    def _log(self, message: str) -> None:
        if self.info.is_main:
            print(message, flush=True)


def _precision_line(checks: dict[str, Any]) -> str:
    """One line per checked checkpoint: bf16 against fp32, and what ``auto`` will run."""
    lines = []
    for tag, c in checks.items():
        verdict = "auto runs bf16" if c["passed"] else "auto runs fp32 (bf16 outside the limits)"
        lines.append(
            f"precision check ({tag}): bf16 agrees with fp32 on {100 * c['agreement']:.1f}% of "
            f"{c['videos']} validation videos, top-1 {100 * c['top1']:.1f}% vs "
            f"{100 * c['top1_fp32']:.1f}%, logit error {100 * c['logit_error']:.2f}% -> {verdict}"
        )
    return "\n".join(lines)


def _did_you_mean(name: str, err: Exception) -> str:
    """For ``unexpected keyword argument 'dropuot'``: the model's arguments closest to it."""
    import difflib
    import re

    from f4d.models import create_model

    match = re.search(r"unexpected keyword argument '(\w+)'", str(err))
    if match is None:
        return ""
    try:
        valid = sorted(getattr(create_model(name, 2), "model_args", {}))
    except Exception:  # the model itself cannot be built: nothing to compare with
        return ""
    close = difflib.get_close_matches(match.group(1), valid, n=3, cutoff=0.5)
    hint = f"; did you mean model.args.{close[0]}?" if close else ""
    return f"{hint} (model.args of {name}: {', '.join(valid)})"


def _training_video_length(index: Any) -> dict[str, Any]:
    """The training videos' median length, for the default window of ``f4d predict
    --timeline`` (checkpoint meta ``video_length``; see :mod:`f4d.engine.timeline`)."""
    from f4d.engine.timeline import typical_video_length

    return typical_video_length([record.path for record in index.records])


def _inflate(model: nn.Module, path: str) -> None:
    """``model.pretrained_2d``: inflate a 2D ResNet state dict; a file that is not one is an
    :class:`InputError` naming it (a missing file stays a ``FileNotFoundError``)."""
    from f4d.models import inflate_from_2d

    try:
        inflate_from_2d(model, path)
    except OSError:
        raise
    except Exception as err:  # a pickle with code, another layout, other shapes, torn bytes
        raise InputError(
            f"model.pretrained_2d={path} is not a usable 2D ResNet state dict: "
            f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err) else ''}",
            hint="a torchvision-layout ResNet state dict (.pth with weights only, or .safetensors)",
        ) from err


def _freeze(model: nn.Module, *, freeze_bn: bool, stages: int) -> None:
    """Freeze BatchNorm layers (eval mode, no gradients) and the first ``stages`` stages.

    Stages follow the paper's naming: 1 = conv1 (the stem), 2 = conv2 (``layer1``), ... 5 =
    conv5. A model may define its own ``freeze_stages(n)``.
    """
    if freeze_bn:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                _freeze_module(module)
    if stages:
        custom = getattr(model, "freeze_stages", None)
        if callable(custom):
            custom(stages)
            return
        for module in _stage_modules(model, stages):
            _freeze_module(module)


def _stage_modules(model: nn.Module, stages: int) -> list[nn.Module]:
    names = [["conv1", "bn1"], *[[f"layer{i}"] for i in range(1, 5)]]
    if stages > len(names):
        raise ConfigError(f"run.freeze_stages={stages} but the model has {len(names)} stages")
    found = [getattr(model, n, None) for group in names[:stages] for n in group]
    if any(m is None for m in found):
        raise ConfigError(
            f"run.freeze_stages={stages}: model '{getattr(model, 'model_name', '?')}' has no "
            "conv1/bn1/layerN stages and no freeze_stages() method"
        )
    return found


def _freeze_module(module: nn.Module) -> None:
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)


def _append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a") as handle:
        handle.write(json.dumps(record) + "\n")


def _epoch_line(record: dict[str, Any]) -> str:
    parts = [f"epoch {record['epoch']}", f"step {record['step']}"]
    for key in ("train_loss", "train_top1", "val_loss", "val_top1", "val_top5", "videos_per_s"):
        if key in record:
            parts.append(f"{key} {record[key]:.4g}")
    return " | ".join(parts)


def draw_plots(out_dir: Path) -> list[Path]:
    """Draw the run's PNG plots if :mod:`f4d.engine.plots` is available; never fail the run."""
    try:
        from f4d.engine.plots import plot_run
    except ImportError:
        return []
    try:
        return list(plot_run(out_dir))
    except Exception as err:  # plotting must not lose a finished run
        print(f"warning: plots for {out_dir} failed: {err}", flush=True)
        return []

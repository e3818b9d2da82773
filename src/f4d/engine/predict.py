"""Top-k prediction for single video files, and attention explanations (``f4d predict``).

One video at a time, opened once: ``open_video`` -> ``sample_segments(mode="test")`` -> ``read`` ->
:class:`~f4d.data.transforms.TestTransform` (short side to ``scale_size``, 1 or 3 crops) ->
``normalize`` -> model -> logits averaged over the ``V`` crops (views) -> softmax -> top-k.

Views mirror ``f4d test`` (:func:`f4d.engine.loaders.build_eval_loader`) so that a video gets
the scores ``f4d test`` ranks it by (:func:`f4d.engine.evaluate.predict_loader`):

- ``views="single"`` (default, ``test.views=single``): ``data.units`` units, one plain
  ``size`` x ``size`` centre crop;
- ``views="multi"`` (``test.views=multi``, the paper's "U=10 x 3 crops"): ``data.test_units``
  units and ``data.test_crops`` crops of ``scale_size`` squares resized to ``size``.

Test-time views in f4d are spatial crops; the U units of one clip already cover the whole
video, so there are no extra temporal clips. Precedence: explicit ``units``/``crops`` >
the view mode's keys in the checkpoint's training config > the :class:`f4d.engine.config.DataConfig`
defaults. ``crops=3`` always uses ``f4d test``'s three crops (``scale_size`` squares).

``explain`` draws the attention maps of the clip's centre crop (:mod:`f4d.engine.explain`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf
from torch import nn

from f4d.data.decode import FrameFolder, VideoFile, open_video
from f4d.data.sampling import sample_segments
from f4d.data.transforms import IMAGENET_MEAN, IMAGENET_STD, TestTransform, normalize
from f4d.engine.checkpoint import (
    CheckpointError,
    load_for_inference,
    load_training_state,
    resolve_checkpoint,
)
from f4d.engine.config import DataConfig
from f4d.engine.explain import (  # re-exported: their public home was this module
    attention_modules,
    overlay_frames,
    recording,
    save_gif,
    save_grid,
    save_ta_plot,
    sta_map,
    ta_map,
    upsample_map,
    write_explanation,
)
from f4d.engine.precision_check import inference_precision
from f4d.models.inference import for_inference

__all__ = [
    "ClipSettings",
    "Prediction",
    "Predictor",
    "attention_modules",
    "batch_probabilities",
    "class_probabilities",
    "clip_settings",
    "decode_clip",
    "explain_dirs",
    "load_clip",
    "load_predictor",
    "overlay_frames",
    "predict_clip",
    "predict_video",
    "predictions_table",
    "recording",
    "save_gif",
    "save_grid",
    "save_ta_plot",
    "sta_map",
    "ta_map",
    "top_k",
    "training_data_config",
    "upsample_map",
    "view_settings",
    "with_views",
    "write_explanation",
]

VIEW_MODES = ("single", "multi")
CROP_COUNTS = (1, 3)


@dataclass(frozen=True)
class ClipSettings:
    """How a video becomes model input: U units of T frames ``stride`` apart, ``crops`` views.

    ``views`` is the ``f4d test`` view mode the settings follow (``"single"`` or ``"multi"``);
    it decides the crop geometry (:attr:`crop_size`), while ``units``/``crops`` are counts.
    """

    units: int = 4
    frames: int = 8
    stride: int = 4
    size: int = 224
    scale_size: int = 256
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    views: str = "single"
    crops: int = 1

    @property
    def crop_size(self) -> int:
        """Side of the square crops before resizing to ``size``, as ``f4d test`` crops.

        One single-view crop: ``size`` (a plain centre crop). Multi view, or 3 crops:
        ``scale_size`` (the paper's 256 squares covering the frame, resized to 224).
        """
        return self.size if self.views == "single" and self.crops == 1 else self.scale_size

    def describe(self) -> str:
        """One line, e.g. ``multi view: U=10 x T=8 frames at stride 4, 3 crops of 256 -> 224``."""
        crops = "centre crop" if self.crops == 1 else "crops"
        return (
            f"{self.views} view: U={self.units} x T={self.frames} frames at stride "
            f"{self.stride}, short side {self.scale_size}, {self.crops} {crops} of "
            f"{self.crop_size} -> {self.size}"
        )


@dataclass
class Prediction:
    """Top-k result for one video: ``topk`` holds ``(class index, class name, probability)``."""

    video: str
    topk: list[tuple[int, str, float]]
    explain: list[Path] = field(default_factory=list)
    views: str = "single"  # the f4d test view mode: single | multi
    units: int = 0  # U per view
    crops: int = 1  # spatial crops = number of views averaged
    truncated: str | None = None  # why, when a truncated file was read (allow_truncated)

    @property
    def num_views(self) -> int:
        """Model inputs averaged for this prediction (one per crop)."""
        return self.crops

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"video", "views", "units", "crops", "num_views",
        "topk": [{"index", "class", "prob"}], "explain"}``, plus ``"truncated"`` when set."""
        topk = [{"index": i, "class": name, "prob": p} for i, name, p in self.topk]
        out = {
            "video": self.video, "views": self.views, "units": self.units, "crops": self.crops,
            "num_views": self.num_views, "topk": topk, "explain": [str(p) for p in self.explain],
        }  # fmt: skip
        return out if self.truncated is None else {**out, "truncated": self.truncated}


@dataclass
class Predictor:
    """A model loaded for inference with its class names and clip settings."""

    model: nn.Module
    classes: list[str]
    settings: ClipSettings
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    settings_source: str = "defaults"  # where the clip settings were read from
    data: dict[str, Any] = field(default_factory=dict)  # training config ``data`` section
    meta: dict[str, Any] = field(default_factory=dict)  # checkpoint meta (model_name, save_id, ...)


# ------------------------------------------------------------------------------- loading


def load_predictor(
    checkpoint: str | Path,
    *,
    units: int | None = None,
    frames: int | None = None,
    stride: int | None = None,
    views: str = "single",
    crops: int | None = None,
    device: str = "auto",
    precision: str = "auto",
) -> Predictor:
    """Load a checkpoint for prediction; clip settings come from its training config.

    The training config is found by :func:`training_data_config`; without one, the
    :class:`ClipSettings` defaults (the paper's 8 x 4, U=4, 224) apply. ``views`` picks the
    ``f4d test`` view mode (see :func:`view_settings`); ``units``/``crops`` override its unit
    and crop counts, ``frames``/``stride`` the trained values (U at test may differ from U at
    training). ``device="auto"`` picks CUDA when available; ``precision`` is that of
    :func:`f4d.models.for_inference` (``auto``: bf16 on CUDA and AMX CPUs). Raises
    ``CheckpointError`` for a missing or foreign checkpoint, ``ValueError`` for a bad view
    mode, crop count or size or precision.
    """
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model, classes, meta = load_for_inference(checkpoint, device=device)
    # auto: bf16 only where the checkpoint's precision check passed (engine/precision_check)
    precision, note = inference_precision(precision, device, meta)
    model = for_inference(model, device, precision, inplace=True)
    model.precision_note = note  # why auto runs fp32, for the commands to say
    num_classes = int(meta.get("num_classes", len(classes)))
    if len(classes) != num_classes:
        classes = [str(i) for i in range(num_classes)]
    data, source = training_data_config(checkpoint, meta)
    overrides = {"frames": frames, "stride": stride}
    base = clip_settings(data, **{k: v for k, v in overrides.items() if v is not None})
    settings = view_settings(base, data, views=views, crops=crops, units=units)
    return Predictor(model, classes, settings, torch.device(device), source, data, meta)


def training_data_config(checkpoint: str | Path, meta: Mapping[str, Any]) -> tuple[dict, str]:
    """The ``data`` section of the run config the checkpoint was trained with, and its source.

    Looks in the checkpoint's meta, then its ``<tag>.state.pt``, then ``config.yaml`` in the
    checkpoint's folder or the run folder above it; ``({}, "defaults")`` if none has one.
    """
    weights = resolve_checkpoint(checkpoint)
    if isinstance(meta.get("config"), Mapping):
        return dict(meta["config"].get("data", {})), f"{weights} (meta)"
    state_file = weights.with_name(weights.name.removesuffix(".safetensors") + ".state.pt")
    if state_file.is_file():
        try:
            config = load_training_state(weights).get("config") or {}
        except CheckpointError:
            config = {}
        if isinstance(config.get("data"), Mapping):
            return dict(config["data"]), str(state_file)
    for run_config in (weights.parent / "config.yaml", weights.parent.parent / "config.yaml"):
        if run_config.is_file():
            data = OmegaConf.to_container(OmegaConf.load(run_config)).get("data", {})
            return dict(data), str(run_config)
    return {}, "defaults"


def clip_settings(data: Mapping[str, Any], **overrides: int) -> ClipSettings:
    """Build :class:`ClipSettings` from a config ``data`` dict plus explicit overrides."""
    names = ("units", "frames", "stride", "size", "scale_size", "mean", "std")
    values = {k: data[k] for k in names if data.get(k) is not None}
    values.update(overrides)
    for key in ("mean", "std"):
        if key in values:
            values[key] = tuple(float(v) for v in values[key])
    settings = ClipSettings(**values)
    for key in ("units", "frames", "stride", "size", "scale_size"):
        if getattr(settings, key) < 1:
            raise ValueError(f"{key} must be >= 1, got {getattr(settings, key)}")
    return settings


def view_settings(
    settings: ClipSettings,
    data: Mapping[str, Any],
    *,
    views: str | None = None,
    crops: int | None = None,
    units: int | None = None,
) -> ClipSettings:
    """``settings`` switched to a view mode and/or other unit and crop counts.

    A new ``views`` takes its counts from the training config ``data``, as ``f4d test`` does:
    ``"single"`` -> ``data.units`` units, 1 crop; ``"multi"`` -> ``data.test_units`` units,
    ``data.test_crops`` crops (``DataConfig`` defaults 10 and 3 when the config has none).
    ``views=None`` keeps the mode and counts of ``settings``. Explicit ``units``/``crops``
    win over both. Raises ``ValueError`` naming a bad mode, crop count or unit count.
    """
    views = settings.views if views is None else views
    if views not in VIEW_MODES:
        raise ValueError(f"views must be one of {', '.join(VIEW_MODES)}; got {views!r}")
    counts = {"units": settings.units, "crops": settings.crops}
    if views != settings.views:
        counts = _view_counts(views, data)
    counts.update({k: v for k, v in (("units", units), ("crops", crops)) if v is not None})
    if counts["crops"] not in CROP_COUNTS:
        raise ValueError(f"crops must be 1 (centre) or 3 (f4d test's three), got {counts['crops']}")
    if isinstance(counts["units"], bool) or counts["units"] < 1:
        raise ValueError(f"units must be >= 1, got {counts['units']}")
    return replace(settings, views=views, units=int(counts["units"]), crops=int(counts["crops"]))


def _view_counts(views: str, data: Mapping[str, Any]) -> dict[str, int]:
    """Unit and crop counts of ``f4d test``'s view mode ``views`` for the config ``data``."""
    if views == "single":
        return {"units": int(data.get("units") or DataConfig.units), "crops": 1}
    return {
        "units": int(data.get("test_units") or DataConfig.test_units),
        "crops": int(data.get("test_crops") or DataConfig.test_crops),
    }


def load_clip(
    path: str | Path,
    settings: ClipSettings,
    *,
    timeout_s: float | None = None,
    allow_truncated: bool = False,
) -> torch.Tensor:
    """Open ``path`` once and decode it (:func:`decode_clip`): uint8 ``(V, U, C, T, s, s)``.

    Raises ``VideoDecodeError`` (a ``ValueError``) naming the file if it cannot be read or
    decoding takes longer than ``timeout_s``, and its subclass ``TruncatedVideoError`` for a
    truncated file unless ``allow_truncated`` (then the units are spread over the part that
    decodes).
    """
    with open_video(path, allow_truncated=allow_truncated) as video:
        return decode_clip(video, settings, timeout_s=timeout_s)


def decode_clip(
    video: VideoFile | FrameFolder, settings: ClipSettings, *, timeout_s: float | None = None
) -> torch.Tensor:
    """Sample and transform an open video: uint8 ``(V, U, C, T, size, size)``, ``V = crops``.

    ``sample_segments(mode="test")`` over ``video.info.num_frames``, one read, then
    :class:`~f4d.data.transforms.TestTransform`; crops in view order left/top, centre,
    right/bottom. ``timeout_s`` bounds the decoding (``VideoDecodeError`` past it).
    """
    indices = sample_segments(
        video.info.num_frames, settings.units, settings.frames, settings.stride, mode="test"
    )  # (U, T)
    frames = video.read(indices, timeout_s=timeout_s)  # (U·T, H, W, 3)
    clip = frames.reshape(settings.units, settings.frames, *frames.shape[1:])  # (U, T, H, W, 3)
    transform = TestTransform(
        size=settings.size, scale_size=settings.scale_size, num_crops=settings.crops,
        crop_size=settings.crop_size,
    )  # fmt: skip
    views, _ = transform(clip, 0)
    return views  # (V, U, C, T, size, size)


# ------------------------------------------------------------------------------ predicting


@torch.no_grad()
def class_probabilities(predictor: Predictor, clip: torch.Tensor) -> torch.Tensor:
    """Class probabilities ``(K,)`` of the views ``(V, U, C, T, H, W)`` of one video.

    The logits ``(V, K)`` are averaged over the views, then softmax: the same scores, in the
    same order, that ``f4d test`` ranks the video by (it averages logits over views too).
    """
    x = normalize(clip.to(predictor.device), predictor.settings.mean, predictor.settings.std)
    logits = predictor.model(x).float()  # (V, K)
    return logits.mean(dim=0).softmax(dim=-1).cpu()


def top_k(probs: torch.Tensor, classes: Sequence[str], k: int) -> list[tuple[int, str, float]]:
    """The ``k`` most probable classes (fewer if there are fewer), most probable first."""
    if k < 1:
        raise ValueError(f"topk must be >= 1, got {k}")
    values, indices = probs.topk(min(k, probs.numel()))
    return [(int(i), classes[int(i)], float(v)) for v, i in zip(values, indices)]


def predict_video(
    predictor: Predictor,
    path: str | Path,
    *,
    topk: int = 5,
    explain_dir: str | Path | None = None,
    views: str | None = None,
    crops: int | None = None,
    units: int | None = None,
    timeout_s: float | None = None,
    allow_truncated: bool = False,
) -> Prediction:
    """Predict the top-k classes of one video; with ``explain_dir`` also write explanations.

    ``views``/``crops``/``units`` change the predictor's view settings for this call only
    (:func:`view_settings`). The prediction averages all views; the explanation is drawn from
    one view, the centre crop (the only one with ``crops=1``). ``timeout_s`` bounds the
    decoding (``VideoDecodeError`` past it). A truncated file raises ``TruncatedVideoError``
    unless ``allow_truncated``; then the prediction says why in ``truncated``.
    """
    predictor = with_views(predictor, views=views, crops=crops, units=units)
    with open_video(path, allow_truncated=allow_truncated) as video:  # one open per video
        clip = decode_clip(video, predictor.settings, timeout_s=timeout_s)
        truncation = video.info.truncation
    prediction = predict_clip(predictor, clip, str(path), topk=topk, explain_dir=explain_dir)
    if truncation is not None:
        prediction = replace(prediction, truncated=str(truncation))
    return prediction


def with_views(
    predictor: Predictor,
    *,
    views: str | None = None,
    crops: int | None = None,
    units: int | None = None,
) -> Predictor:
    """``predictor`` with its view settings changed by :func:`view_settings` (same model)."""
    settings = view_settings(
        predictor.settings, predictor.data, views=views, crops=crops, units=units
    )
    return predictor if settings == predictor.settings else replace(predictor, settings=settings)


def predict_clip(
    predictor: Predictor,
    clip: torch.Tensor,
    video: str,
    *,
    topk: int = 5,
    explain_dir: str | Path | None = None,
) -> Prediction:
    """Top-k of the decoded views ``(V, U, C, T, size, size)`` of ``video`` (see predict_video)."""
    files: list[Path] = []
    if explain_dir is None:
        probs = class_probabilities(predictor, clip)
    else:
        middle = clip.shape[0] // 2
        centre = clip[middle : middle + 1]  # (1, U, C, T, size, size): the centre crop
        with recording(predictor.model) as (ta_modules, sta_modules):
            probs = class_probabilities(predictor, centre)  # records the maps of this view
            files = write_explanation(centre[0], ta_modules, sta_modules, Path(explain_dir))
        if clip.shape[0] > 1:
            probs = class_probabilities(predictor, clip)  # the prediction uses every view
    settings = predictor.settings
    return Prediction(
        video, top_k(probs, predictor.classes, topk), files, views=settings.views,
        units=settings.units, crops=settings.crops,
    )  # fmt: skip


@torch.no_grad()
def batch_probabilities(predictor: Predictor, clips: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Class probabilities ``(K,)`` of several videos' views ``(V_i, U, C, T, H, W)`` at once.

    One forward over the concatenated views ``(sum V_i, U, C, T, H, W)``, then per video the
    logits are averaged and softmaxed as in :func:`class_probabilities` (equal up to float
    rounding: kernels may sum in another order for another batch size).
    """
    x = normalize(torch.cat(list(clips)).to(predictor.device), predictor.settings.mean,
                  predictor.settings.std)  # fmt: skip
    logits = predictor.model(x).float()  # (sum V_i, K)
    parts = logits.split([c.shape[0] for c in clips])
    return [part.mean(dim=0).softmax(dim=-1).cpu() for part in parts]


def explain_dirs(paths: Sequence[str | Path], out_dir: str | Path) -> list[Path]:
    """One sub-folder of ``out_dir`` per video, named by its stem (numbered if stems repeat)."""
    stems = [Path(p).stem or "video" for p in paths]
    repeated = {s for s in stems if stems.count(s) > 1}
    return [Path(out_dir) / (f"{i:02d}_{s}" if s in repeated else s) for i, s in enumerate(stems)]


def predictions_table(predictions: Sequence[Prediction]) -> str:
    """Plain-text table: one block per video, rank / probability / class index / class name."""
    lines = []
    for prediction in predictions:
        p = prediction
        lines.append(f"{p.video}  ({p.num_views} view{'s' * (p.num_views > 1)}: "
                     f"{p.views}, U={p.units} x {p.crops} crop{'s' * (p.crops > 1)})")  # fmt: skip
        lines.append(f"  {'rank':>4}  {'prob':>7}  {'index':>5}  class")
        for rank, (index, name, prob) in enumerate(prediction.topk, start=1):
            lines.append(f"  {rank:>4}  {prob:7.4f}  {index:>5}  {name}")
        lines.extend(f"  explain: {path}" for path in prediction.explain)
    return "\n".join(lines)


def __getattr__(name: str) -> Any:
    """``predict_timeline`` lives in :mod:`f4d.engine.timeline` (imported on first use)."""
    if name == "predict_timeline":
        from f4d.engine.timeline import predict_timeline

        return predict_timeline
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

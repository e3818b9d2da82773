"""Attention explanations for ``f4d predict --explain`` and ``f4d serve``: record, draw, write.

``explain`` switches on ``record`` in the model's :class:`~f4d.nn.TemporalAttention` (TA) and
:class:`~f4d.nn.SpatioTemporalAttention` (STA) modules, runs the clip's centre crop (one view,
also when the prediction averages three) and writes, per video:

- ``ta.png``: for every TA module, the map ``M_T`` ``(U, T')`` as a heat-map over units and frames
  and as a line over the ``U·T'`` frame sequence (unit boundaries dashed);
- ``sta_<i>.png`` / ``sta_<i>.gif`` for STA module ``i``: the map ``M_ST`` ``(U, T', H', W')``
  upsampled (trilinear) to the clip's ``(U, T, h, w)``, min-max scaled over the whole clip,
  coloured and blended over the sampled frames: a ``U`` rows × ``T`` columns grid and an
  animation of ``U·T`` frames (a bar along the bottom shows the position in the clip);
- ``explain.json``: the TA weights, each STA map's raw range, and the files written.

matplotlib is imported only when a plot or an overlay is drawn, so ``import f4d.engine.predict``
(and ``f4d serve`` at start) does not load it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from f4d.nn import SpatioTemporalAttention, TemporalAttention

if TYPE_CHECKING:
    from matplotlib.figure import Figure

GIF_FRAME_MS = 125
OVERLAY_ALPHA = 0.5
COLORMAP = "jet"


def attention_modules(model: nn.Module) -> tuple[list[nn.Module], list[nn.Module]]:
    """The model's TA and STA modules, in forward (registration) order."""
    ta = [m for m in model.modules() if isinstance(m, TemporalAttention)]
    sta = [m for m in model.modules() if isinstance(m, SpatioTemporalAttention)]
    return ta, sta


@contextmanager
def recording(model: nn.Module) -> Iterator[tuple[list[nn.Module], list[nn.Module]]]:
    """Switch ``record`` on for every TA/STA module of ``model``; restore it on exit."""
    ta, sta = attention_modules(model)
    modules = ta + sta
    before = [m.record for m in modules]
    for m in modules:
        m.record = True
    try:
        yield ta, sta
    finally:
        for m, flag in zip(modules, before):
            m.record = flag


def write_explanation(
    clip: torch.Tensor,
    ta_modules: Sequence[nn.Module],
    sta_modules: Sequence[nn.Module],
    out_dir: Path,
) -> list[Path]:
    """Write the TA plot, STA grids/GIFs and ``explain.json`` for one clip ``(U, C, T, h, w)``.

    Must be called after a forward pass with recording on. Raises ``ValueError`` if the model
    has neither TA nor STA modules.
    """
    if not ta_modules and not sta_modules:
        raise ValueError(
            "the model has no TemporalAttention (TA) or SpatioTemporalAttention (STA) modules, "
            "so there is no attention to explain (F4D models with attention have them)"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    units = clip.shape[0]
    frames = clip.permute(0, 2, 3, 4, 1).numpy()  # (U, T, h, w, 3) uint8
    summary: dict[str, Any] = {"units": units, "frames_per_unit": int(clip.shape[2])}
    files: list[Path] = []
    if ta_modules:
        ta_maps = [ta_map(m, units) for m in ta_modules]
        files.append(save_ta_plot(ta_maps, out_dir / "ta.png"))
        summary["ta"] = [m.tolist() for m in ta_maps]
    summary["sta"] = []
    for i, module in enumerate(sta_modules):
        raw = sta_map(module, units)
        overlay = overlay_frames(frames, upsample_map(raw, frames.shape[1:4]))
        files.append(save_grid(overlay, out_dir / f"sta_{i}.png"))
        files.append(save_gif(overlay, out_dir / f"sta_{i}.gif"))
        summary["sta"].append({"shape": list(raw.shape), "min": float(raw.min()),
                               "max": float(raw.max())})  # fmt: skip
    summary["files"] = [p.name for p in files]
    json_path = out_dir / "explain.json"
    json_path.write_text(json.dumps(summary, indent=2))
    return [*files, json_path]


def ta_map(module: nn.Module, units: int) -> np.ndarray:
    """The first video's TA map ``M_T`` as ``(U, T')`` from ``last_map`` ``(B, 1, U, T', 1, 1)``."""
    last = _last_map(module)
    if last.dim() != 6 or last.shape[2] != units:
        raise ValueError(f"TA map of shape {tuple(last.shape)} does not have U={units} units")
    return last[0, 0, :, :, 0, 0].float().cpu().numpy()


def sta_map(module: nn.Module, units: int) -> np.ndarray:
    """The first video's STA map ``(U, T', H', W')`` from ``last_map`` ``(B·U, 1, T', H', W')``."""
    last = _last_map(module)
    if last.dim() != 5 or last.shape[0] < units:
        raise ValueError(f"STA map of shape {tuple(last.shape)} holds fewer than U={units} rows")
    return last[:units, 0].float().cpu().numpy()


def _last_map(module: nn.Module) -> torch.Tensor:
    last = getattr(module, "last_map", None)
    if last is None:
        raise RuntimeError(f"{type(module).__name__} recorded no map; run a forward pass first")
    return last


def upsample_map(maps: np.ndarray, size: tuple[int, int, int]) -> np.ndarray:
    """Trilinear resize of ``(U, T', H', W')`` to ``(U, T, h, w)``, min-max scaled to [0, 1]."""
    grid = torch.from_numpy(maps).float()[:, None]  # (U, 1, T', H', W')
    up = F.interpolate(grid, size=size, mode="trilinear", align_corners=False)[:, 0]
    low, high = float(up.min()), float(up.max())
    scaled = (up - low) / (high - low) if high > low else torch.zeros_like(up)
    return scaled.numpy()  # (U, T, h, w)


def overlay_frames(frames: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """Blend colour-mapped ``heat`` ``(U, T, h, w)`` in [0, 1] over frames ``(U, T, h, w, 3)``."""
    import matplotlib

    colours = matplotlib.colormaps[COLORMAP](heat)[..., :3] * 255.0  # (U, T, h, w, 3)
    mixed = (1.0 - OVERLAY_ALPHA) * frames.astype(np.float64) + OVERLAY_ALPHA * colours
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def save_grid(images: np.ndarray, path: Path, gap: int = 2) -> Path:
    """Tile ``(U, T, h, w, 3)`` uint8 images as U rows × T columns (``gap`` px white lines)."""
    units, length, h, w, _ = images.shape
    canvas = np.full((units * (h + gap) - gap, length * (w + gap) - gap, 3), 255, np.uint8)
    for u in range(units):
        for t in range(length):
            top, left = u * (h + gap), t * (w + gap)
            canvas[top : top + h, left : left + w] = images[u, t]
    Image.fromarray(canvas).save(path, format="PNG")
    return path


def save_gif(images: np.ndarray, path: Path) -> Path:
    """Animate ``(U, T, h, w, 3)`` as ``U·T`` GIF frames with a progress bar along the bottom."""
    sequence = images.reshape(-1, *images.shape[2:])  # (U·T, h, w, 3)
    count, h, w = sequence.shape[:3]
    bar = max(2, h // 32)
    pictures = []
    for i, image in enumerate(sequence):
        framed = np.concatenate([image, np.zeros((bar, w, 3), np.uint8)])
        framed[h:, : max(1, round(w * (i + 1) / count))] = 255
        pictures.append(Image.fromarray(framed))
    pictures[0].save(
        path, format="GIF", save_all=True, append_images=pictures[1:], duration=GIF_FRAME_MS,
        loop=0, disposal=1,
    )  # fmt: skip
    return path


def save_ta_plot(maps: Sequence[np.ndarray], path: Path) -> Path:
    """Heat-map ``(U, T')`` and line over the ``U·T'`` sequence for each TA module's map."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 2.8 * len(maps)))
    axes = fig.subplots(len(maps), 2, squeeze=False)
    for row, weights in enumerate(maps):
        _ta_heatmap(fig, axes[row, 0], weights, title=f"TA module {row}: M_T over units × frames")
        _ta_line(axes[row, 1], weights, title=f"TA module {row}: M_T along the video")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    return path


def _ta_heatmap(fig: Figure, ax: Any, weights: np.ndarray, *, title: str) -> None:
    image = ax.imshow(weights, aspect="auto", cmap="viridis", interpolation="nearest")
    fig.colorbar(image, ax=ax)
    ax.set_xlabel("frame t (feature time)")
    ax.set_ylabel("action unit u")
    ax.set_xticks(range(weights.shape[1]))
    ax.set_yticks(range(weights.shape[0]))
    ax.set_title(title, fontsize=9)


def _ta_line(ax: Any, weights: np.ndarray, *, title: str) -> None:
    units, length = weights.shape
    ax.plot(np.arange(units * length), weights.reshape(-1), marker="o", markersize=3)
    for u in range(1, units):
        ax.axvline(u * length - 0.5, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("frame index u·T' + t")
    ax.set_ylabel("attention weight")
    ax.set_title(title, fontsize=9)
    ax.grid(True, alpha=0.3)

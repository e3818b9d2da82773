"""PNG plots of a training run: loss / top-1 curves, train vs test error, confusion matrix.

A run folder holds ``metrics.jsonl`` (one JSON object per epoch with any of ``epoch``,
``train_loss``, ``train_top1``, ``val_loss``, ``val_top1``, ``val_top5``, ``lr``; accuracies in
percent, as :mod:`f4d.engine.train` writes them) and, after
evaluation, ``confusion.npy`` (``(K, K)`` counts, rows = true class, columns = predicted) with
the class names in ``classes.json`` or ``classes.txt``. Missing keys are tolerated: a series is
drawn from the epochs that have it.

Each figure has a builder (``loss_figure``, ``top1_figure``, ``error_figure``,
``confusion_figure``, ``compare_figure``, ``seeds_error_figure``, ``results_figure``) that
returns a ``matplotlib.figure.Figure`` so that the plotted data can be checked;
:func:`plot_run` and :func:`plot_compare` save them as PNG files.
Figures are built without ``pyplot`` (no global state, no GUI) and rendered by the Agg canvas.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

METRICS_FILE = "metrics.jsonl"
CONFUSION_FILE = "confusion.npy"
PLOTS_DIR = "plots"
MAX_NAMED_CLASSES = 30  # class names are written on the confusion-matrix axes up to this count

Series = tuple[list[float], list[float]]  # (epochs, values)


def read_metrics(path: str | Path) -> list[dict]:
    """Read a ``metrics.jsonl`` file: one dict per non-empty line, in file order.

    Raises ``FileNotFoundError`` if the file is missing and ``ValueError`` naming the file
    and line for a line that is not a JSON object.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"metrics file not found: {path}")
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{number}: not valid JSON ({err.msg})") from err
        if not isinstance(record, dict):
            raise ValueError(
                f"{path}:{number}: expected a JSON object, got {type(record).__name__}"
            )
        records.append(record)
    return records


def series(records: Sequence[Mapping], key: str) -> Series:
    """Return ``(epochs, values)`` for the records that have a finite number under ``key``.

    A record without ``epoch`` takes its 1-based position in ``records``.
    """
    epochs, values = [], []
    for position, record in enumerate(records, start=1):
        value = record.get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        if not math.isfinite(value):
            continue
        epochs.append(float(record.get("epoch", position)))
        values.append(float(value))
    return epochs, values


def loss_figure(records: Sequence[Mapping]) -> Figure:
    """Train and validation loss against epoch (lines labelled ``train`` and ``val``)."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    _plot_series(ax, records, {"train": "train_loss", "val": "val_loss"})
    _decorate(ax, title="Loss", ylabel="cross-entropy loss")
    return fig


def top1_figure(records: Sequence[Mapping]) -> Figure:
    """Train / val top-1 (and val top-5) accuracy in percent against epoch."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    labels = {"train top-1": "train_top1", "val top-1": "val_top1", "val top-5": "val_top5"}
    _plot_series(ax, records, labels)
    _decorate(ax, title="Accuracy", ylabel="accuracy (%)")
    return fig


def error_figure(records: Sequence[Mapping], *, title: str = "Train vs test error") -> Figure:
    """Train and test top-1 error (``100 - top-1``, percent) against epoch, as in Figure 4."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    _plot_error(ax, records)
    _decorate(ax, title=title, ylabel="top-1 error (%)")
    return fig


def confusion_figure(matrix: np.ndarray, classes: Sequence[str] | None = None) -> Figure:
    """Row-normalised confusion matrix ``(K, K)`` (rows true, columns predicted) as an image.

    Class names label the axes when ``classes`` is given and ``K <= 30``.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"confusion matrix must be square (K, K), got shape {matrix.shape}")
    if classes is not None and len(classes) != matrix.shape[0]:
        raise ValueError(f"{len(classes)} class names for a {matrix.shape[0]}-class matrix")
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    k = matrix.shape[0]
    side = min(4 + 0.3 * k, 16) if k <= MAX_NAMED_CLASSES else 8
    fig = Figure(figsize=(side + 1, side))
    ax = fig.subplots()
    image = ax.imshow(normalised, vmin=0.0, vmax=1.0, cmap="Blues", interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    if classes is not None and k <= MAX_NAMED_CLASSES:
        ax.set_xticks(range(k), labels=list(classes), rotation=90, fontsize=7)
        ax.set_yticks(range(k), labels=list(classes), fontsize=7)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"Confusion matrix ({k} classes, row-normalised)")
    fig.tight_layout()
    return fig


def compare_figure(runs: Mapping[str, Sequence[Mapping]]) -> Figure:
    """One panel per run (train and test top-1 error vs epoch) with a shared y axis (Figure 4)."""
    if not runs:
        raise ValueError("compare_figure needs at least one run")
    fig = Figure(figsize=(5 * len(runs), 4))
    axes = fig.subplots(1, len(runs), sharey=True, squeeze=False)
    for ax, (name, records) in zip(axes[0], runs.items()):
        _plot_error(ax, records)
        _decorate(ax, title=name, ylabel="top-1 error (%)")
    return fig


def seeds_error_figure(runs: Mapping[str, Sequence[Sequence[Mapping]]], *, title: str) -> Figure:
    """Figure 4 in one panel: per model, train (dashed) and test (solid) top-1 error vs epoch,
    the mean over its seeds with a ±1 sample-std band.

    ``runs`` maps a model name to one record list per seed. Epochs missing from some seed are
    averaged over the seeds that have them.
    """
    if not runs:
        raise ValueError("seeds_error_figure needs at least one model")
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    colors = [f"C{i}" for i in range(10)]
    for color, (name, seeds) in zip(colors, runs.items()):
        for key, style, what in (("train_top1", "--", "train"), ("val_top1", "-", "test")):
            epochs, mean, std = _seed_stats(seeds, key)
            if not epochs:
                continue
            errors = 100.0 - np.asarray(mean)
            ax.plot(epochs, errors, style, color=color, label=f"{name} {what} (n={len(seeds)})")
            ax.fill_between(epochs, errors - std, errors + std, color=color, alpha=0.15)
    _decorate(ax, title=title, ylabel="top-1 error (%)")
    return fig


def _seed_stats(seeds: Sequence[Sequence[Mapping]], key: str) -> tuple[list, list, np.ndarray]:
    by_epoch: dict[float, list[float]] = {}
    for records in seeds:
        for epoch, value in zip(*series(records, key)):
            by_epoch.setdefault(epoch, []).append(value)
    epochs = sorted(by_epoch)
    mean = [float(np.mean(by_epoch[e])) for e in epochs]
    std = np.asarray([float(np.std(by_epoch[e], ddof=1)) if len(by_epoch[e]) > 1 else 0.0
                      for e in epochs])  # fmt: skip
    return epochs, mean, std


def results_figure(
    rows: Sequence[Mapping], *, title: str, chance: float | None = None, column: str = "top1"
) -> Figure:
    """Horizontal bars of each row's mean ``column`` (%) with ±1 sample-std error bars and one
    dot per seed; ``rows`` are :func:`f4d.experiments.runner.aggregate`-style dicts with
    ``name``, ``mean``, ``std`` and ``runs`` (each with ``tests``)."""
    if not rows:
        raise ValueError("results_figure needs at least one row")
    fig = Figure(figsize=(7, 0.45 * len(rows) + 1.4))
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1]
    means = [row["mean"][column] for row in rows]
    ax.barh(y, means, xerr=[row["std"][column] for row in rows], color="C0", alpha=0.6,
            capsize=3)  # fmt: skip
    for yi, row in zip(y, rows):
        dots = [run["tests"][column] for run in row["runs"]]
        ax.plot(dots, [yi] * len(dots), "o", color="k", markersize=3)
        right = max([row["mean"][column] + row["std"][column], *dots])
        ax.text(right + 1.5, yi, f"{row['mean'][column]:.1f}", va="center", fontsize=8)
    if chance is not None:
        ax.axvline(chance, color="C3", linestyle=":", label=f"chance {chance:.1f}%")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_yticks(y, labels=[row["name"] for row in rows])
    ax.set_xlim(0, 112)
    ax.set_xlabel(f"test {column} (%): mean ± std over seeds, dots = seeds")
    ax.set_title(title, fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_run(out_dir: str | Path) -> list[Path]:
    """Write the PNG plots of the run in ``out_dir`` to ``<out_dir>/plots/`` and return their paths.

    Writes ``loss.png``, ``top1.png`` and ``error.png`` from ``metrics.jsonl`` (if it exists)
    and ``confusion.png`` from ``confusion.npy`` (if it exists). Raises ``FileNotFoundError``
    when the folder has neither.
    """
    out_dir = Path(out_dir)
    metrics_path, confusion_path = out_dir / METRICS_FILE, out_dir / CONFUSION_FILE
    if not metrics_path.is_file() and not confusion_path.is_file():
        raise FileNotFoundError(f"{out_dir} has neither {METRICS_FILE} nor {CONFUSION_FILE}")
    plots_dir = out_dir / PLOTS_DIR
    plots_dir.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Figure] = {}
    if metrics_path.is_file():
        records = read_metrics(metrics_path)
        figures["loss.png"] = loss_figure(records)
        figures["top1.png"] = top1_figure(records)
        figures["error.png"] = error_figure(records)
    if confusion_path.is_file():
        figures["confusion.png"] = confusion_figure(np.load(confusion_path), read_classes(out_dir))
    return [save_figure(fig, plots_dir / name) for name, fig in figures.items()]


def plot_compare(runs: Mapping[str, str | Path], out_png: str | Path) -> Path:
    """Write a Figure-4-style side-by-side train/test error plot of several run folders.

    ``runs`` maps a display name (e.g. ``"V4D"``) to a run folder holding ``metrics.jsonl``.
    """
    records = {name: read_metrics(Path(folder) / METRICS_FILE) for name, folder in runs.items()}
    return save_figure(compare_figure(records), out_png)


def read_classes(out_dir: str | Path) -> list[str] | None:
    """Class names from ``classes.json`` (a list) or ``classes.txt`` (one per line), else None."""
    out_dir = Path(out_dir)
    json_path, txt_path = out_dir / "classes.json", out_dir / "classes.txt"
    if json_path.is_file():
        names = json.loads(json_path.read_text())
        if not isinstance(names, list):
            raise ValueError(f"{json_path}: expected a JSON list of class names")
        return [str(name) for name in names]
    if txt_path.is_file():
        return [line.strip() for line in txt_path.read_text().splitlines() if line.strip()]
    return None


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Save ``fig`` as a PNG at ``path`` (parent folders created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100)
    return path


def _plot_series(ax: Axes, records: Sequence[Mapping], labels: Mapping[str, str]) -> None:
    for label, key in labels.items():
        epochs, values = series(records, key)
        if values:
            ax.plot(epochs, values, marker="o", markersize=3, label=label)


def _plot_error(ax: Axes, records: Sequence[Mapping]) -> None:
    for label, key in {"train error": "train_top1", "test error": "val_top1"}.items():
        epochs, values = series(records, key)
        if values:
            errors = [100.0 - v for v in values]
            ax.plot(epochs, errors, marker="o", markersize=3, label=label)


def _decorate(ax: Axes, *, title: str, ylabel: str) -> None:
    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if ax.lines:
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    ax.figure.tight_layout()

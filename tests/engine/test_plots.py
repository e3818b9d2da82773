"""Tests for f4d.engine.plots: PNG files exist, are real images, and show the logged numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from f4d.engine import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Epoch 2 has no validation (eval_every=2 style); epoch 4 misses train_top1.
RECORDS = [
    {"epoch": 1, "train_loss": 2.3, "train_top1": 10.0, "val_loss": 2.2, "val_top1": 12.0,
     "val_top5": 50.0, "lr": 0.01},
    {"epoch": 2, "train_loss": 1.9, "train_top1": 30.0, "lr": 0.01},
    {"epoch": 3, "train_loss": 1.2, "train_top1": 55.0, "val_loss": 1.4, "val_top1": 48.0,
     "val_top5": 90.0, "lr": 0.001},
    {"epoch": 4, "train_loss": 0.8, "val_loss": 1.1, "val_top1": 61.0, "val_top5": 95.0},
]  # fmt: skip


def write_run(folder: Path, records: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r) for r in records]
    (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def assert_png(path: Path, min_bytes: int = 5000) -> None:
    assert path.is_file(), path
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert path.stat().st_size > min_bytes
    with Image.open(path) as image:
        assert image.width > 200 and image.height > 200
        # Not a blank canvas: many distinct colours are drawn.
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 20


def line_data(fig, label: str, axis: int = 0) -> tuple[list[float], list[float]]:
    (line,) = [ln for ln in fig.axes[axis].lines if ln.get_label() == label]
    return list(line.get_xdata()), list(line.get_ydata())


def test_plot_run_writes_three_curve_pngs(tmp_path):
    run = write_run(tmp_path / "run", RECORDS)
    paths = plots.plot_run(run)
    assert [p.name for p in paths] == ["loss.png", "top1.png", "error.png"]
    for path in paths:
        assert path.parent == run / "plots"
        assert_png(path)


def test_loss_figure_plots_the_logged_losses_skipping_missing_epochs():
    fig = plots.loss_figure(RECORDS)
    assert line_data(fig, "train") == ([1, 2, 3, 4], [2.3, 1.9, 1.2, 0.8])
    assert line_data(fig, "val") == ([1, 3, 4], [2.2, 1.4, 1.1])


def test_top1_figure_plots_percent_values():
    fig = plots.top1_figure(RECORDS)
    x, y = line_data(fig, "train top-1")
    assert x == [1, 2, 3]
    np.testing.assert_allclose(y, [10.0, 30.0, 55.0])
    np.testing.assert_allclose(line_data(fig, "val top-5")[1], [50.0, 90.0, 95.0])


def test_small_percentages_are_not_rescaled():
    records = [{"epoch": 1, "val_top1": 0.5}, {"epoch": 2, "val_top1": 0.9}]  # at chance, 174 cl.
    assert line_data(plots.top1_figure(records), "val top-1") == ([1, 2], [0.5, 0.9])
    assert line_data(plots.error_figure(records), "test error") == ([1, 2], [99.5, 99.1])


def test_error_figure_is_hundred_minus_top1():
    fig = plots.error_figure(RECORDS)
    x, y = line_data(fig, "test error")
    assert x == [1, 3, 4]
    np.testing.assert_allclose(y, [88.0, 52.0, 39.0])


def test_records_without_epoch_use_their_position():
    assert plots.series([{"train_loss": 3.0}, {"train_loss": 2.0}], "train_loss") == (
        [1.0, 2.0],
        [3.0, 2.0],
    )


def test_non_finite_values_are_not_plotted(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"epoch": 1, "train_loss": NaN}\n{"epoch": 2, "train_loss": 1.5}\n')
    assert plots.series(plots.read_metrics(path), "train_loss") == ([2.0], [1.5])


def test_bad_metrics_line_names_file_and_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"epoch": 1}\n{"epoch": 2,\n')
    with pytest.raises(ValueError, match=r"metrics\.jsonl:2"):
        plots.read_metrics(path)


def test_plot_run_on_empty_folder_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"metrics\.jsonl"):
        plots.plot_run(tmp_path)


def test_confusion_png_with_class_names(tmp_path):
    run = write_run(tmp_path / "run", RECORDS[:1])
    matrix = np.array([[5, 1, 0], [0, 4, 2], [1, 0, 7]])
    np.save(run / "confusion.npy", matrix)
    (run / "classes.json").write_text(json.dumps(["push", "pull", "lift"]))
    paths = plots.plot_run(run)
    assert paths[-1].name == "confusion.png"
    assert_png(paths[-1])
    fig = plots.confusion_figure(matrix, ["push", "pull", "lift"])
    shown = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(shown, matrix / matrix.sum(axis=1, keepdims=True))
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["push", "pull", "lift"]


def test_confusion_names_hidden_above_thirty_classes():
    matrix = np.eye(31, dtype=np.int64)
    fig = plots.confusion_figure(matrix, [f"c{i}" for i in range(31)])
    assert "c0" not in [t.get_text() for t in fig.axes[0].get_xticklabels()]


def test_confusion_rejects_wrong_class_count():
    with pytest.raises(ValueError, match="2 class names for a 3-class matrix"):
        plots.confusion_figure(np.eye(3), ["a", "b"])


def test_plot_compare_side_by_side(tmp_path):
    v4d = write_run(tmp_path / "v4d", RECORDS)
    f4d = write_run(tmp_path / "f4d", [{"epoch": 1, "train_top1": 50.0, "val_top1": 40.0}])
    out = plots.plot_compare({"V4D": v4d, "F4D": f4d}, tmp_path / "fig4" / "compare.png")
    assert_png(out)
    fig = plots.compare_figure({"V4D": RECORDS, "F4D": plots.read_metrics(f4d / "metrics.jsonl")})
    assert [ax.get_title() for ax in fig.axes] == ["V4D", "F4D"]
    np.testing.assert_allclose(line_data(fig, "train error", axis=1)[1], [50.0])
    np.testing.assert_allclose(line_data(fig, "test error", axis=1)[1], [60.0])


def test_seeds_error_figure_draws_the_mean_error_over_seeds(tmp_path):
    seeds = [[{"epoch": 1, "train_top1": 10.0, "val_top1": 20.0},
              {"epoch": 2, "train_top1": 50.0, "val_top1": 40.0}],
             [{"epoch": 1, "train_top1": 30.0, "val_top1": 40.0},
              {"epoch": 2, "train_top1": 70.0}]]  # fmt: skip
    fig = plots.seeds_error_figure({"F4D": seeds, "V4D": seeds[:1]}, title="fig 4")
    lines = {line.get_label(): line for line in fig.axes[0].lines}
    assert set(lines) == {"F4D train (n=2)", "F4D test (n=2)", "V4D train (n=1)", "V4D test (n=1)"}
    assert list(lines["F4D train (n=2)"].get_ydata()) == pytest.approx([80.0, 40.0])
    # epoch 2 has a test value in one seed only: the mean of what exists
    assert list(lines["F4D test (n=2)"].get_ydata()) == pytest.approx([70.0, 60.0])
    assert list(lines["V4D test (n=1)"].get_ydata()) == pytest.approx([80.0, 60.0])
    assert plots.save_figure(fig, tmp_path / "f.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="at least one model"):
        plots.seeds_error_figure({}, title="x")


def test_results_figure_bars_are_the_row_means():
    rows = [{"name": "F4D", "mean": {"top1": 90.0}, "std": {"top1": 5.0},
             "runs": [{"tests": {"top1": 85.0}}, {"tests": {"top1": 95.0}}]},
            {"name": "V4D", "mean": {"top1": 20.0}, "std": {"top1": 0.0},
             "runs": [{"tests": {"top1": 20.0}}]}]  # fmt: skip
    fig = plots.results_figure(rows, title="headline", chance=8.3)
    ax = fig.axes[0]
    assert [bar.get_width() for bar in ax.patches] == pytest.approx([90.0, 20.0])
    where = {t.get_text(): t.get_position()[1] for t in ax.get_yticklabels()}
    assert where["F4D"] > where["V4D"]  # the first row is drawn on top
    dots = [line for line in ax.lines if line.get_marker() == "o"]
    assert sorted(dots[0].get_xdata()) == [85.0, 95.0]
    with pytest.raises(ValueError, match="at least one row"):
        plots.results_figure([], title="x")

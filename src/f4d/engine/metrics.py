"""Classification metrics from logits and labels: top-k, per-class accuracy, confusion matrix."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["RunningAverage", "classification_report", "confusion_matrix", "topk_correct"]


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> dict:
    """Number of rows whose label is among the ``k`` largest logits, for each ``k``.

    ``logits`` is ``(N, K)``, ``labels`` ``(N,)``; ``k`` is clipped to ``K``.
    """
    num_classes = logits.shape[1]
    top = logits.topk(min(max(ks), num_classes), dim=1).indices  # (N, kmax)
    hits = top == labels[:, None]
    return {k: int(hits[:, : min(k, num_classes)].any(dim=1).sum()) for k in ks}


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """``(K, K)`` int64 counts; rows are true classes, columns predicted classes."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels, dtype=np.int64), np.asarray(preds, dtype=np.int64)), 1)
    return matrix


def classification_report(logits: np.ndarray, labels: np.ndarray) -> dict:
    """Top-1 / top-5 / mean class accuracy (percent), per-class accuracy and confusion matrix.

    ``logits`` is ``(N, K)``, ``labels`` ``(N,)``. Classes without test videos get accuracy
    ``nan`` and are left out of the mean class accuracy.
    """
    num = len(labels)
    if num == 0:
        raise ValueError("classification_report needs at least one prediction")
    hits = topk_correct(torch.as_tensor(logits), torch.as_tensor(labels), (1, 5))
    matrix = confusion_matrix(labels, logits.argmax(axis=1), logits.shape[1])
    support = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(support > 0, 100.0 * np.diag(matrix) / support, np.nan)
    return {
        "top1": 100.0 * hits[1] / num,
        "top5": 100.0 * hits[5] / num,
        "mean_class_accuracy": float(np.nanmean(per_class)) if (support > 0).any() else 0.0,
        "per_class_accuracy": per_class,
        "confusion": matrix,
        "num_videos": num,
    }


class RunningAverage:
    """Sums of named quantities over samples, for epoch averages (reducible across ranks)."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}

    def add(self, **values: float) -> None:
        for key, value in values.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value)

    def mean(self, key: str, count_key: str = "count") -> float:
        count = self.sums.get(count_key, 0.0)
        return self.sums.get(key, 0.0) / count if count else float("nan")

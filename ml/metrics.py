"""Evaluation metrics with bootstrap confidence intervals: AUROC, average precision, calibration error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


def ece(y: np.ndarray, p: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error: the bin-weighted gap between mean probability and positive rate."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.mean() * abs(p[inside].mean() - y[inside].mean())
    return float(total)


def auroc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p))


def average_precision(y: np.ndarray, p: np.ndarray) -> float:
    return float(average_precision_score(y, p))


@dataclass(frozen=True)
class Estimate:
    """A metric on the full sample and its 95% bootstrap interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def bootstrap(
    metric: Callable[[np.ndarray, np.ndarray], float], y: np.ndarray, p: np.ndarray,
    resamples: int = 200, seed: int = 0,
) -> Estimate:
    """The metric with a percentile bootstrap interval (resamples with one class only are skipped)."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        pick = rng.integers(0, len(y), len(y))
        if y[pick].min() == y[pick].max():
            continue
        values.append(metric(y[pick], p[pick]))
    low, high = np.percentile(values, [2.5, 97.5]) if values else (np.nan, np.nan)
    return Estimate(metric(y, p), float(low), float(high))

"""Probability calibration fitted on the validation cutoffs: temperature scaling or isotonic regression."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.isotonic import IsotonicRegression

METHODS = ("temperature", "isotonic")


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


class Calibrator:
    """Maps a model's logits to calibrated probabilities; `fit` on validation, `apply` anywhere."""

    def __init__(self, method: str = "isotonic") -> None:
        if method not in METHODS:
            raise ValueError(f"calibration method {method!r} is not one of {', '.join(METHODS)}")
        self.method = method
        self.temperature = 1.0
        self._isotonic: IsotonicRegression | None = None

    def fit(self, logits: np.ndarray, y: np.ndarray) -> Calibrator:
        if self.method == "temperature":
            # One parameter keeps the ranking (AUROC) exactly; it fixes over- or under-confidence only.
            def nll(log_t: float) -> float:
                p = np.clip(sigmoid(logits / np.exp(log_t)), 1e-12, 1 - 1e-12)
                return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

            self.temperature = float(np.exp(minimize_scalar(nll, bounds=(-5, 5), method="bounded").x))
        else:
            self._isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(logits, y)
        return self

    def apply(self, logits: np.ndarray) -> np.ndarray:
        if self.method == "temperature":
            return sigmoid(logits / self.temperature)
        assert self._isotonic is not None, "fit the calibrator first"
        return np.asarray(self._isotonic.predict(logits), dtype=np.float64)

"""Probability calibration fitted on the validation cutoffs: temperature, Platt scaling or isotonic regression.

Platt scaling (a slope and a bias on the logit) keeps the ranking and fixes both over-confidence and the
shift a class-weighted loss leaves; isotonic regression is more flexible but ties scores on plateaus.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression

METHODS = ("temperature", "platt", "isotonic")


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def sigmoid(z: np.ndarray) -> np.ndarray:
    return expit(z)


class Calibrator:
    """Maps a model's logits to calibrated probabilities; `fit` on validation, `apply` anywhere."""

    def __init__(self, method: str = "isotonic") -> None:
        if method not in METHODS:
            raise ValueError(f"calibration method {method!r} is not one of {', '.join(METHODS)}")
        self.method = method
        self.temperature = 1.0
        self.slope, self.bias = 1.0, 0.0
        self._isotonic: IsotonicRegression | None = None

    def fit(self, logits: np.ndarray, y: np.ndarray) -> Calibrator:
        if self.method == "temperature":
            # One parameter keeps the ranking (AUROC) exactly; it fixes over- or under-confidence only.
            def nll(log_t: float) -> float:
                p = np.clip(sigmoid(logits / np.exp(log_t)), 1e-12, 1 - 1e-12)
                return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

            self.temperature = float(np.exp(minimize_scalar(nll, bounds=(-5, 5), method="bounded").x))
        elif self.method == "platt":
            def nll_platt(params: np.ndarray) -> float:
                z = params[0] * logits + params[1]
                # log(1 + e^z) - y z, written to stay finite for large |z|.
                return float(np.mean(np.logaddexp(0.0, z) - y * z))

            fit = minimize(nll_platt, np.array([1.0, 0.0]), method="L-BFGS-B")
            self.slope, self.bias = float(fit.x[0]), float(fit.x[1])
        else:
            self._isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(logits, y)
        return self

    def apply(self, logits: np.ndarray) -> np.ndarray:
        if self.method == "temperature":
            return sigmoid(logits / self.temperature)
        if self.method == "platt":
            return sigmoid(self.slope * logits + self.bias)
        assert self._isotonic is not None, "fit the calibrator first"
        return np.asarray(self._isotonic.predict(logits), dtype=np.float64)

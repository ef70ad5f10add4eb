"""Calibration and its metrics: scores fitted on one sample are probabilities on a fresh one (no database needed)."""

from __future__ import annotations

import numpy as np
import pytest

from kgcrm.ml.calibration import Calibrator, sigmoid
from kgcrm.ml.metrics import auroc, bootstrap, ece


def _sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits of an over-confident model trained with a class-weighted loss: too steep and shifted up.

    The true probability is sigmoid(z - 2.2); the model reports 3 * z + 1, as a pos_weight of ~9 would.
    """
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.2, n)
    y = (rng.random(n) < sigmoid(z - 2.2)).astype(float)
    return 3.0 * z + 1.0, y


@pytest.mark.parametrize("method", ["temperature", "platt", "isotonic"])
def test_calibration_fitted_on_validation_holds_on_test(method: str) -> None:
    val_logits, val_y = _sample(20_000, seed=1)
    test_logits, test_y = _sample(20_000, seed=2)
    raw = ece(test_y, sigmoid(test_logits))
    assert raw > 0.2, raw  # the uncalibrated scores are far from probabilities
    calibrated = Calibrator(method).fit(val_logits, val_y).apply(test_logits)
    assert np.all((calibrated >= 0.0) & (calibrated <= 1.0))
    if method == "temperature":
        # One parameter cannot undo the shift, only the steepness: better, not good.
        assert ece(test_y, calibrated) < raw
    else:
        assert ece(test_y, calibrated) <= 0.03, ece(test_y, calibrated)
        assert abs(calibrated.mean() - test_y.mean()) < 0.01


@pytest.mark.parametrize("method", ["temperature", "platt"])
def test_parametric_calibration_keeps_the_ranking(method: str) -> None:
    logits, y = _sample(5_000, seed=3)
    calibrated = Calibrator(method).fit(logits, y).apply(logits)
    assert auroc(y, calibrated) == pytest.approx(auroc(y, logits), abs=1e-12)


def test_ece_is_zero_for_perfect_probabilities_and_large_for_constant_wrong_ones() -> None:
    rng = np.random.default_rng(4)
    p = rng.random(200_000)
    y = (rng.random(len(p)) < p).astype(float)
    assert ece(y, p) < 0.01
    assert ece(y, np.full(len(p), 0.9)) == pytest.approx(0.4, abs=0.01)


def test_bootstrap_interval_contains_the_estimate_and_narrows_with_more_data() -> None:
    small_logits, small_y = _sample(300, seed=5)
    large_logits, large_y = _sample(30_000, seed=5)
    small = bootstrap(auroc, small_y, small_logits, resamples=100)
    large = bootstrap(auroc, large_y, large_logits, resamples=100)
    assert small.low <= small.value <= small.high and large.low <= large.value <= large.high
    assert (large.high - large.low) < (small.high - small.low) / 3

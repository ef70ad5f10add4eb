"""Flat baselines on the same split: LightGBM on a node's own features, and with one-hop aggregates."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np

from kgcrm.ml.calibration import logit
from kgcrm.ml.dataset import PointInTimeDataset, tabular

logger = logging.getLogger(__name__)


@dataclass
class Scores:
    """A model's raw logits on the validation and test rows, and their labels."""

    name: str
    val_logits: np.ndarray
    val_y: np.ndarray
    test_logits: np.ndarray
    test_y: np.ndarray


def train_lightgbm(dataset: PointInTimeDataset, neighbours: bool, seed: int = 0, threads: int = 2) -> Scores:
    """Gradient-boosted trees with early stopping on the validation cutoffs."""
    x_train, y_train, names = tabular(dataset, "train", neighbours)
    x_val, y_val, _ = tabular(dataset, "val", neighbours)
    x_test, y_test, _ = tabular(dataset, "test", neighbours)
    model = lgb.LGBMClassifier(
        n_estimators=500, learning_rate=0.05, num_leaves=31, min_child_samples=20,
        subsample=0.8, subsample_freq=1, colsample_bytree=0.8,
        random_state=seed, deterministic=True, force_row_wise=True, n_jobs=threads, verbose=-1,
    )
    model.fit(
        x_train, y_train, eval_X=(x_val,), eval_y=(y_val,), eval_metric="auc",
        callbacks=[lgb.early_stopping(30, verbose=False)],
    )
    logger.info("lightgbm (%s features) stopped at %s trees", len(names), model.best_iteration_)
    name = "LightGBM own+1hop" if neighbours else "LightGBM own"
    return Scores(
        name,
        logit(model.predict_proba(x_val)[:, 1]), y_val,
        logit(model.predict_proba(x_test)[:, 1]), y_test,
    )

"""The GNN and both flat baselines on the same split, calibrated on validation, side by side on test."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kgcrm.ml.baselines import Scores, train_lightgbm
from kgcrm.ml.calibration import Calibrator, sigmoid
from kgcrm.ml.dataset import PointInTimeDataset
from kgcrm.ml.metrics import Estimate, auroc, average_precision, bootstrap, ece
from kgcrm.ml.train import GnnConfig, train_gnn

logger = logging.getLogger(__name__)


@dataclass
class Row:
    """One model's test metrics; AUROC and AP rank the calibrated probabilities, ECE measures them."""

    model: str
    auroc: Estimate
    ap: Estimate
    ece: Estimate
    ece_uncalibrated: float
    val_auroc: float


def evaluate(scores: Scores, calibration: str, seed: int = 0, resamples: int = 200) -> Row:
    """Fit the calibrator on validation logits, then measure on test with bootstrap intervals."""
    calibrator = Calibrator(calibration).fit(scores.val_logits, scores.val_y)
    # Ranking metrics on the raw logits: isotonic calibration ties scores and would blur the ranking.
    return Row(
        scores.name,
        bootstrap(auroc, scores.test_y, scores.test_logits, resamples, seed),
        bootstrap(average_precision, scores.test_y, scores.test_logits, resamples, seed),
        bootstrap(ece, scores.test_y, calibrator.apply(scores.test_logits), resamples, seed),
        ece(scores.test_y, sigmoid(scores.test_logits)),
        auroc(scores.val_y, scores.val_logits),
    )


def compare(
    dataset: PointInTimeDataset, gnn: GnnConfig = GnnConfig(), calibration: str = "isotonic",
    resamples: int = 200,
) -> list[Row]:
    """Train the two LightGBM baselines and the GNN on the same cutoffs; one row each."""
    scores = [
        train_lightgbm(dataset, neighbours=False, seed=gnn.seed, threads=gnn.threads),
        train_lightgbm(dataset, neighbours=True, seed=gnn.seed, threads=gnn.threads),
        train_gnn(dataset, gnn),
    ]
    return [evaluate(s, calibration, gnn.seed, resamples) for s in scores]


def format_table(rows: list[Row]) -> str:
    """A plain-text table: test AUROC, AP and ECE with 95% bootstrap intervals."""
    header = f"{'model':<22} {'test AUROC [95% CI]':<24} {'test AP [95% CI]':<24} {'test ECE [95% CI]':<24} {'raw ECE':>8} {'val AUROC':>10}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r.model:<22} {str(r.auroc):<24} {str(r.ap):<24} {str(r.ece):<24} {r.ece_uncalibrated:>8.3f} {r.val_auroc:>10.3f}"
        )
    return "\n".join(lines)

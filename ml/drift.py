"""Drift between the training window and a scoring run: PSI of scores, top features and graph structure.

The population stability index compares two distributions over the same bins:
PSI = sum((current - reference) * ln(current / reference)). Below 0.1 is stable, 0.1 to 0.25 a shift
worth watching, above 0.25 (KGCRM_DRIFT_PSI_THRESHOLD) is flagged. Bins are the reference's deciles,
so each holds a tenth of the training window.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kgcrm.graph.model import Label
from kgcrm.ml.features import Snapshot

BINS = 10
_FLOOR = 1e-4
# Degrees are heavy-tailed: fixed, roughly logarithmic bins instead of deciles.
DEGREE_EDGES = [0.5, 1.5, 2.5, 4.5, 8.5, 16.5, 32.5, 64.5, 128.5]


def reference_histogram(values: np.ndarray, bins: int = BINS) -> dict[str, list[float]]:
    """Decile edges of the reference values and the share of values between them."""
    values = np.asarray(values, dtype=np.float64)
    edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])) if len(values) else np.zeros(0)
    return {"edges": edges.tolist(), "shares": _shares(values, edges).tolist()}


def _shares(values: np.ndarray, edges: np.ndarray | list[float]) -> np.ndarray:
    counts = np.bincount(np.searchsorted(np.asarray(edges), values, side="right"), minlength=len(edges) + 1)
    return counts / max(counts.sum(), 1)


def psi(reference: dict[str, list[float]], values: np.ndarray) -> float:
    """PSI of `values` against a reference histogram."""
    ref = np.maximum(np.asarray(reference["shares"], dtype=np.float64), _FLOOR)
    cur = np.maximum(_shares(np.asarray(values, dtype=np.float64), reference["edges"]), _FLOOR)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def categorical_psi(reference: dict[str, float], counts: dict[str, float]) -> float:
    """PSI over named categories (relationship types), each side as shares of its total."""
    names = sorted(set(reference) | set(counts))
    total = max(sum(counts.values()), 1.0)
    ref = np.maximum(np.asarray([reference.get(n, 0.0) for n in names]), _FLOOR)
    cur = np.maximum(np.asarray([counts.get(n, 0.0) / total for n in names]), _FLOOR)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def target_degrees(snapshot: Snapshot, target: Label, index: np.ndarray) -> np.ndarray:
    """Relationships (other than activities) of each scored node alive in the snapshot."""
    n = len(snapshot.alive[target])
    degree = np.zeros(n)
    for (src_label, _, dst_label), (src, dst) in snapshot.edges.items():
        if Label.ACTIVITY in (src_label, dst_label):
            continue
        if dst_label == target:
            degree += np.bincount(dst, minlength=n)
        if src_label == target:
            degree += np.bincount(src, minlength=n)
    return degree[index]


def relationship_counts(snapshot: Snapshot) -> dict[str, float]:
    """Alive relationships per type and end labels, such as `Contact-WORKS_AT->Account`."""
    return {f"{s.value}-{r.value}->{d.value}": float(len(src)) for (s, r, d), (src, _) in snapshot.edges.items()}


def top_features(x: np.ndarray, y: np.ndarray, names: list[str], k: int = 5) -> list[int]:
    """Columns most correlated (in absolute value) with the label: the features drift watches."""
    x = x - x.mean(axis=0)
    denom = np.sqrt((x**2).sum(axis=0) * ((y - y.mean()) ** 2).sum())
    corr = np.abs((x * (y - y.mean())[:, None]).sum(axis=0) / np.where(denom > 0, denom, np.inf))
    return [int(i) for i in np.argsort(-corr, kind="stable")[:k] if corr[i] > 0]


def build_reference(
    scores: np.ndarray, features: dict[str, np.ndarray], degrees: np.ndarray, rel_counts: dict[str, float]
) -> dict[str, Any]:
    """What drift is measured against, kept in the model file."""
    total = max(sum(rel_counts.values()), 1.0)
    return {
        "score": reference_histogram(scores),
        "features": {name: reference_histogram(values) for name, values in features.items()},
        "degree": {"edges": DEGREE_EDGES, "shares": _shares(degrees, DEGREE_EDGES).tolist()},
        "relationship_mix": {name: count / total for name, count in rel_counts.items()},
    }


def measure_drift(
    reference: dict[str, Any], scores: np.ndarray, features: dict[str, np.ndarray],
    degrees: np.ndarray, rel_counts: dict[str, float], threshold: float,
) -> dict[str, Any]:
    """Every PSI of a scoring run against the reference, and which of them pass the threshold."""
    if not reference:
        return {"score_psi": None, "feature_psi": {}, "degree_psi": None, "relationship_mix_psi": None, "flagged": []}
    result: dict[str, Any] = {
        "score_psi": psi(reference["score"], scores),
        "feature_psi": {name: psi(ref, features[name]) for name, ref in reference["features"].items() if name in features},
        "degree_psi": psi(reference["degree"], degrees),
        "relationship_mix_psi": categorical_psi(reference["relationship_mix"], rel_counts),
    }
    flagged = [name for name in ("score_psi", "degree_psi", "relationship_mix_psi") if result[name] > threshold]
    flagged += [f"feature:{name}" for name, value in result["feature_psi"].items() if value > threshold]
    result["flagged"] = flagged
    result["threshold"] = threshold
    return result

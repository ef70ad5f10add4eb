"""The activation experiment on one world: the same model and threshold, acted on weekly or on events.

Weekly batch: every Monday 00:00 score every account as of then (point in time) and act on those at or
above the threshold. Event-driven: after each day's events, rescore the accounts inside the model's
receptive field of what changed and pass every score that moved through the real trigger-policy code
(`kgcrm.actions.outbox._evaluate`: enter/re-arm hysteresis, minimum delta, cooldown, daily cap).
An action at 00:00 of day d is credited when the account's true latent intent then is at least
`level` and the account opens a New Business or Expansion deal on days d .. d + window - 1.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from kgcrm.actions.outbox import ApplyReport, ScoreChangeInput, _evaluate, _TriggerState
from kgcrm.actions.policies import ActionType, Policy
from kgcrm.graph.model import Label, RelType
from kgcrm.ml.artifact import ModelArtifact
from kgcrm.ml.export import GraphExport
from kgcrm.ml.features import DAY, Snapshot, node_times, take_snapshot
from kgcrm.ml.inference import logits_of, prepare

from act_truth import DailyTruth


@dataclass(frozen=True)
class ExperimentConfig:
    """The experiment's knobs; days are indices from the world's start (day 0 is a Monday)."""

    first_day: int  # first action day, a Monday
    last_day: int  # action days are first_day .. last_day - 1
    warmup_days: int = 14  # the event-driven policy runs (without counting actions) this long before
    threshold_quantile: float = 0.9  # enter = this quantile of all scores at the warm-up start
    rearm_ratio: float = 0.8  # rearm = enter * this
    min_delta: float = 0.01
    cooldown_days: float = 7.0
    epsilon: float = 0.005  # a score that moved less is not a ScoreChange (KGCRM_SCORE_EPSILON)
    level: float = 0.2  # "intent was high": true latent intent at the action time at least this
    window_days: int = 30  # a conversion counts when the deal opens within this many days of the action


@dataclass
class Counted:
    """One arm's actions after the budget is equalised, and what the ground truth says about them."""

    actions: int
    raw_actions: int
    credited: int  # converted within the window while true intent was high at the action
    converted: int  # converted within the window (any intent)
    high: int  # true intent was high at the action
    raw_credited: int = 0  # credited among all the arm's actions, before thinning

    @property
    def per_1000(self) -> float:
        return 1000.0 * self.credited / self.actions if self.actions else float("nan")


@dataclass
class WorldResult:
    threshold: float
    batch: Counted
    event: Counted
    suppressed: dict[str, int] = field(default_factory=dict)


def credit(actions: list[tuple[int, int]], truth: DailyTruth, level: float, window: int) -> tuple[int, int, int]:
    """(credited, converted, high) over actions given as (account, day) pairs; see the module docstring."""
    credited = converted = high = 0
    for account, day in actions:
        hot = truth.intent[day, account] >= level
        opened = bool(truth.opened[day:day + window, account].any())
        credited += int(hot and opened)
        converted += int(opened)
        high += int(hot)
    return credited, converted, high


def equal_budget(a: list, b: list, seed: int) -> tuple[list, list]:
    """Thin the longer list at random to the shorter one's length: both arms spend the same number of actions."""
    rng = np.random.default_rng(seed)
    n = min(len(a), len(b))

    def thin(items: list) -> list:
        if len(items) == n:
            return list(items)
        keep = np.sort(rng.choice(len(items), size=n, replace=False))
        return [items[i] for i in keep]

    return thin(a), thin(b)


def weekly_batch(scores_on: Callable[[int], np.ndarray], config: ExperimentConfig, threshold: float) -> list[tuple[int, int]]:
    """Every Monday: act on every account scored at or above the threshold (not acted on within the cooldown)."""
    actions: list[tuple[int, int]] = []
    last_acted: dict[int, int] = {}
    for day in range(config.first_day, config.last_day, 7):
        scores = scores_on(day)
        for account in np.flatnonzero(np.nan_to_num(scores, nan=-1.0) >= threshold).tolist():
            if account in last_acted and day - last_acted[account] < config.cooldown_days:
                continue
            last_acted[account] = day
            actions.append((account, day))
    return actions


def make_policy(config: ExperimentConfig, threshold: float) -> Policy:
    return Policy(
        name="activation-experiment", label=Label.ACCOUNT, enter=threshold, rearm=threshold * config.rearm_ratio,
        min_delta=config.min_delta, cooldown=dt.timedelta(days=config.cooldown_days), action=ActionType.WEBHOOK,
    )


def event_driven(
    scores_on: Callable[[int], np.ndarray], affected_on: Callable[[int], np.ndarray], truth: DailyTruth,
    owners: list[str | None], config: ExperimentConfig, threshold: float, report: ApplyReport | None = None,
) -> list[tuple[int, int]]:
    """Each day: the accounts the day's events reach are rescored; moves above epsilon go through the policy."""
    policy = make_policy(config, threshold)
    report = report if report is not None else ApplyReport()
    start = config.first_day - config.warmup_days
    stored = scores_on(start).copy()  # what a full scoring before the window wrote
    states = [_TriggerState(armed=True, last_fired_at=None) for _ in range(len(stored))]
    quotas: dict[str, int] = defaultdict(int)
    actions: list[tuple[int, int]] = []
    for day in range(start + 1, config.last_day):
        at = dt.datetime.fromtimestamp(truth.start_epoch + day * DAY, dt.UTC)
        scores = scores_on(day)
        for account in np.flatnonzero(affected_on(day)).tolist():
            new, old = scores[account], stored[account]
            if np.isnan(new) or (not np.isnan(old) and abs(new - old) <= config.epsilon):
                continue
            change = ScoreChangeInput(
                node_id=str(truth.account_ids[account]), label=Label.ACCOUNT,
                old_score=None if np.isnan(old) else float(old), new_score=float(new),
                model_version="experiment", changed_at=at,
            )
            stored[account] = new
            if _evaluate(policy, states[account], change, at, {"owner_id": owners[account]}, quotas, report):
                if day >= config.first_day:
                    actions.append((account, day))
    return actions


class WorldScorer:
    """Point-in-time scores of every account at 00:00 of a day, in memory from one export (cached per day)."""

    def __init__(self, export: GraphExport, artifact: ModelArtifact, truth: DailyTruth) -> None:
        self.export, self.artifact, self.truth = export, artifact, truth
        self.model = artifact.network()
        row_of = export.index_of(Label.ACCOUNT)
        self.rows = np.asarray([row_of[i] for i in truth.account_ids.tolist()], dtype=np.int64)
        self.hops = int(artifact.hyper["layers"])
        self._scores: dict[int, np.ndarray] = {}
        self._affected: dict[int, np.ndarray] = {}

    def owners(self) -> list[str | None]:
        owns = self.export.edges.get((Label.USER, RelType.OWNS, Label.ACCOUNT))
        users = self.export.nodes[Label.USER].ids
        by_row: dict[int, str] = {}
        if owns is not None:
            by_row = {int(dst): str(users[src]) for src, dst in zip(owns.src.tolist(), owns.dst.tolist())}
        return [by_row.get(int(row)) for row in self.rows]

    def cutoff(self, day: int) -> float:
        return self.truth.start_epoch + day * DAY

    def scores(self, day: int) -> np.ndarray:
        if day not in self._scores:
            self._compute(day)
        return self._scores[day]

    def affected(self, day: int) -> np.ndarray:
        if day not in self._affected:
            self._compute(day)
        return self._affected[day]

    def _compute(self, day: int) -> None:
        cutoff = self.cutoff(day)
        snapshot = take_snapshot(self.export, cutoff)
        alive = snapshot.alive[Label.ACCOUNT][self.rows]
        out = np.full(len(self.rows), np.nan)
        if alive.any():
            prepared = prepare(self.artifact, snapshot, self.rows[alive])
            out[alive] = self.artifact.calibrator.apply(logits_of(self.model, prepared))
        self._scores[day] = out
        reached = affected_accounts(self.export, snapshot, cutoff - DAY, cutoff, self.hops)
        self._affected[day] = reached[self.rows] & alive


def affected_accounts(export: GraphExport, snapshot: Snapshot, lo: float, hi: float, hops: int) -> np.ndarray:
    """Account rows within `hops` relationships of anything that happened in [lo, hi) (the receptive field)."""
    labels = [label for label in export.nodes if label != Label.ACTIVITY]
    offset, total = {}, 0
    for label in labels:
        offset[label] = total
        total += len(export.nodes[label])
    seeds = np.zeros(total, dtype=bool)

    def inside(times: np.ndarray) -> np.ndarray:
        return (times >= lo) & (times < hi)

    for label in labels:
        table = export.nodes[label]
        new = inside(node_times(export, label))
        if label == Label.OPPORTUNITY:
            new |= inside(table.numbers["closed_at"])  # its outcome became visible
        seeds[offset[label] + np.flatnonzero(new)] = True
    act_new = inside(node_times(export, Label.ACTIVITY)) if Label.ACTIVITY in export.nodes else None
    for (src_label, _, dst_label), table in export.edges.items():
        if src_label == Label.ACTIVITY:
            if act_new is not None and dst_label in offset:
                seeds[offset[dst_label] + table.dst[act_new[table.src]]] = True
            continue
        if src_label not in offset or dst_label not in offset:
            continue
        moved = inside(table.start) | inside(table.end)
        seeds[offset[src_label] + table.src[moved]] = True
        seeds[offset[dst_label] + table.dst[moved]] = True
    rows, cols = [], []
    for (src_label, _, dst_label), (src, dst) in snapshot.edges.items():
        if src_label in offset and dst_label in offset:
            rows.append(offset[src_label] + src)
            cols.append(offset[dst_label] + dst)
    if rows:
        r, c = np.concatenate(rows), np.concatenate(cols)
        adjacency = sparse.csr_matrix((np.ones(2 * len(r)), (np.r_[r, c], np.r_[c, r])), shape=(total, total))
        reached = seeds.copy()
        for _ in range(hops):
            reached |= (adjacency @ reached.astype(np.float64)) > 0
    else:
        reached = seeds
    start = offset[Label.ACCOUNT]
    return reached[start:start + len(export.nodes[Label.ACCOUNT])]


def run_world(export: GraphExport, artifact: ModelArtifact, truth: DailyTruth, config: ExperimentConfig, seed: int) -> WorldResult:
    """Both arms on one world with the same model, threshold and (after thinning) number of actions."""
    scorer = WorldScorer(export, artifact, truth)
    warm = scorer.scores(config.first_day - config.warmup_days)
    threshold = float(np.nanquantile(warm, config.threshold_quantile))
    report = ApplyReport()
    event = event_driven(scorer.scores, scorer.affected, truth, scorer.owners(), config, threshold, report)
    batch = weekly_batch(scorer.scores, config, threshold)
    batch_kept, event_kept = equal_budget(batch, event, seed)

    def counted(kept: list[tuple[int, int]], every: list[tuple[int, int]]) -> Counted:
        raw = credit(every, truth, config.level, config.window_days)[0]
        return Counted(len(kept), len(every), *credit(kept, truth, config.level, config.window_days), raw_credited=raw)

    return WorldResult(threshold, counted(batch_kept, batch), counted(event_kept, event), dict(report.suppressed))

"""Apply score changes: ScoreChange records, trigger policies and the Actions they cause, in one transaction.

This is the transactional outbox: an Action is written in the same transaction as the score change
that caused it, so either both exist or neither does, and the dispatcher (actions/dispatch.py)
delivers whatever the outbox holds. Ids are derived from the inputs, so re-applying a batch
changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from neo4j import ManagedTransaction

from kgcrm.actions.holdout import HOLDOUT, holdout_group
from kgcrm.actions.policies import Policy
from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import InvalidInput
from kgcrm.graph.model import Label
from kgcrm.graph.queries import actions as q
from kgcrm.graph.settings import Settings

logger = logging.getLogger(__name__)

UNOWNED = "-"


@dataclass(frozen=True)
class ScoreChangeInput:
    """One node's score moving from `old_score` to `new_score`, and why (model, events)."""

    node_id: str
    label: Label
    old_score: float | None
    new_score: float
    model_version: str
    event_ids: tuple[str, ...] = ()
    cause: str = "rescore"
    # When the change happened (event time); cooldowns and daily caps are measured on it. Now if absent.
    changed_at: datetime | None = None

    @property
    def id(self) -> str:
        """Stable id from the inputs alone: the same change applied twice is recognised."""
        key = [
            Label(self.label).value, self.node_id, self.old_score, self.new_score, self.model_version,
            sorted(self.event_ids), self.changed_at.isoformat() if self.changed_at else None,
        ]
        return "sc_" + hashlib.sha256(json.dumps(key).encode()).hexdigest()[:32]


@dataclass
class ApplyReport:
    """What one call of apply_score_changes did."""

    written: int = 0
    already_applied: int = 0
    missing_nodes: int = 0
    actions: Counter[str] = field(default_factory=Counter)  # by status
    suppressed: Counter[str] = field(default_factory=Counter)  # by reason: cooldown, daily_cap, ...
    action_ids: list[str] = field(default_factory=list)

    def add(self, other: ApplyReport) -> None:
        self.written += other.written
        self.already_applied += other.already_applied
        self.missing_nodes += other.missing_nodes
        self.actions.update(other.actions)
        self.suppressed.update(other.suppressed)
        self.action_ids.extend(other.action_ids)


@dataclass
class _TriggerState:
    armed: bool
    last_fired_at: datetime | None
    last_score: float | None = None


def action_id(score_change_id: str, policy: str, kind: str) -> str:
    """Stable Action id; it is also the webhook's `webhook-id`, the receiver's idempotency key."""
    digest = hashlib.sha256(f"{score_change_id}\x00{policy}\x00{kind}".encode()).hexdigest()
    return "act_" + digest[:32]


def _state_id(policy: str, node_id: str) -> str:
    return f"{policy}\x00{node_id}"


def _quota_id(policy: str, owner_id: str, day: str) -> str:
    return f"{policy}\x00{owner_id}\x00{day}"


def apply_score_changes(
    graph: Graph,
    changes: Sequence[ScoreChangeInput],
    policies: Sequence[Policy],
    settings: Settings,
    *,
    write_scores: bool = True,
    then: tuple[str, dict[str, Any]] | None = None,
) -> ApplyReport:
    """Write score changes and the actions their policies call for; one transaction per batch.

    Args:
        write_scores: also move each node's intent_score/intent_model/intent_scored_at to the new
            score (forward in time only), in the same transaction.
        then: one more (query, parameters) run in the last batch's transaction: the scorer marks the
            events that caused the changes done in the same commit (one round trip fewer a pass).
    """
    _validate(changes)
    now = datetime.now(UTC)
    report = ApplyReport()
    for start in range(0, len(changes), settings.batch_size):
        batch = [_with_time(c, now) for c in changes[start:start + settings.batch_size]]
        last = start + settings.batch_size >= len(changes)
        report.add(graph.execute_write(_apply_batch, batch, list(policies), settings, write_scores,
                                       then if last else None))
    logger.info(
        "applied %s score changes (%s already applied, %s nodes missing); actions %s, suppressed %s",
        report.written, report.already_applied, report.missing_nodes, dict(report.actions), dict(report.suppressed),
    )
    return report


def apply_in_transaction(
    tx: ManagedTransaction,
    changes: Sequence[ScoreChangeInput],
    policies: Sequence[Policy],
    settings: Settings,
    *,
    then: tuple[str, dict[str, Any]] | None = None,
) -> ApplyReport:
    """`apply_score_changes` of at most KGCRM_BATCH_SIZE changes inside the caller's write transaction.

    Why: the event scorer reads the stored scores it judges its changes by and writes the changes in one
    transaction, a round trip and a transaction fewer a pass, and nothing can move a score in between.
    """
    if len(changes) > settings.batch_size:
        raise ValueError(f"{len(changes)} score changes are more than one batch ({settings.batch_size})")
    _validate(changes)
    now = datetime.now(UTC)
    return _apply_batch(tx, [_with_time(c, now) for c in changes], list(policies), settings, True, then)


def _validate(changes: Iterable[ScoreChangeInput]) -> None:
    for index, change in enumerate(changes):
        if Label(change.label) not in q.SCORED:
            raise InvalidInput(f"score change {index} ({change.node_id}): label {change.label} is not scored")
        for name, value in (("old_score", change.old_score), ("new_score", change.new_score)):
            if value is not None and not 0.0 <= value <= 1.0:
                raise InvalidInput(f"score change {index} ({change.node_id}): {name} {value} is not in [0, 1]")
        if change.changed_at is not None and change.changed_at.tzinfo is None:
            raise InvalidInput(f"score change {index} ({change.node_id}): changed_at must carry a time zone")


def _with_time(change: ScoreChangeInput, now: datetime) -> tuple[str, ScoreChangeInput, datetime]:
    # The id is taken before the time is filled in, so a batch without times re-applies idempotently.
    return change.id, change, change.changed_at or now


def _apply_batch(
    tx: ManagedTransaction,
    batch: list[tuple[str, ScoreChangeInput, datetime]],
    policies: list[Policy],
    settings: Settings,
    write_scores: bool,
    then: tuple[str, dict[str, Any]] | None = None,
) -> ApplyReport:
    report = ApplyReport()
    by_label = {label: [p for p in policies if p.label == label] for label in q.SCORED}

    # One statement reads what the batch is decided by: every (policy, node) trigger state, locked first
    # (a concurrent apply of the same batch waits there, then finds the score changes this one wrote),
    # the changes already written, and each node's account, owner and impact values.
    state_rows = {
        _state_id(p.name, c.node_id): {"id": _state_id(p.name, c.node_id), "policy": p.name, "node_id": c.node_id}
        for _, c, _ in batch for p in by_label[Label(c.label)]
    }
    node_ids = {label: sorted({c.node_id for _, c, _ in batch if Label(c.label) == label}) for label in q.SCORED}
    properties = {label: sorted({p.approval.property for p in by_label[label] if p.approval}) for label in q.SCORED}
    params: dict[str, Any] = {"states": list(state_rows.values()), "ids": [sc_id for sc_id, _, _ in batch]}
    params |= {f"subjects_{label.value}": node_ids[label] for label in q.SCORED}
    params |= {f"impact_{label.value}": properties[label] for label in q.SCORED}
    record = tx.run(q.BATCH_READS, batch=params).single()
    states = {key: _TriggerState(armed=armed, last_fired_at=_from_micros(fired)) for key, armed, fired in record["states"]}
    existing = set(record["existing"])
    subjects = {
        (label, node_id): {
            "account_id": account_id, "owner_id": owner_id,
            # Contacts and opportunities share their account's holdout group.
            "holdout_unit": account_id or f"{label.value}:{node_id}",
            "impact": dict(zip(properties[label], impact, strict=True)),
        }
        for label in q.SCORED for node_id, account_id, owner_id, impact in record[f"subjects_{label.value}"]
    }
    fresh = []
    for sc_id, change, at in batch:
        if sc_id in existing:
            report.already_applied += 1
        else:
            existing.add(sc_id)  # the same change twice in one batch counts once
            fresh.append((sc_id, change, at))

    quotas = _lock_quotas(tx, fresh, by_label, subjects)
    touched_states: set[str] = set()
    score_rows: dict[Label, list[dict[str, Any]]] = {label: [] for label in q.SCORED}
    action_rows: dict[Label, list[dict[str, Any]]] = {label: [] for label in q.SCORED}

    for sc_id, change, at in sorted(fresh, key=lambda item: item[2]):
        label = Label(change.label)
        subject = subjects.get((label, change.node_id))
        if subject is None:
            report.missing_nodes += 1
            logger.warning("score change for a missing %s node skipped", label)
            continue
        score_rows[label].append({
            "id": sc_id, "node_id": change.node_id, "old_score": change.old_score, "new_score": change.new_score,
            "changed_at_us": _micros(at), "model_version": change.model_version, "cause": change.cause,
            "event_ids": list(change.event_ids),
        })
        report.written += 1
        for policy in by_label[label]:
            state_key = _state_id(policy.name, change.node_id)
            touched_states.add(state_key)
            fired = _evaluate(policy, states[state_key], change, at, subject, quotas, report)
            if not fired:
                continue
            status = _status(policy, subject, settings)
            for kind in policy.action.kinds:
                x_id = action_id(sc_id, policy.name, kind)
                action_rows[label].append({"id": x_id, "node_id": change.node_id, "score_change_id": sc_id,
                                           "triggered_at_us": _micros(at), "props": {
                    "kind": kind, "status": status, "policy": policy.name, "source": "policy",
                    "score_value": change.new_score, "old_score": change.old_score,
                    "model_version": change.model_version, "score_change_id": sc_id,
                    "owner_id": subject["owner_id"], "account_id": subject["account_id"],
                    "holdout_unit": subject["holdout_unit"], "attempts": 0,
                }})
                report.actions[status] += 1
                report.action_ids.append(x_id)

    state_rows = [
        {"id": key, "armed": states[key].armed, "last_fired_at_us": _micros(states[key].last_fired_at),
         "last_score": states[key].last_score}
        for key in sorted(touched_states)
    ]
    quota_rows = [{"id": key, "count": count} for key, count in quotas.items()]
    _write_batch(tx, score_rows, action_rows, state_rows, quota_rows, write_scores)
    if then is not None:
        tx.run(then[0], then[1]).consume()
    return report


def _write_batch(
    tx: ManagedTransaction, score_rows: dict[Label, list[dict[str, Any]]], action_rows: dict[Label, list[dict[str, Any]]],
    state_rows: list[dict[str, Any]], quota_rows: list[dict[str, Any]], write_scores: bool,
) -> None:
    """The batch's score changes, the outbox rows they caused, trigger states and quotas: one statement."""
    if not (any(score_rows.values()) or any(action_rows.values()) or state_rows or quota_rows):
        return
    batch: dict[str, Any] = {"states": state_rows, "quotas": quota_rows}
    batch |= {f"scores_{label.value}": score_rows[label] for label in q.SCORED}
    batch |= {f"actions_{label.value}": action_rows[label] for label in q.SCORED}
    tx.run(q.BATCH_WRITES, batch=batch, write_scores=write_scores).consume()


def _lock_quotas(
    tx: ManagedTransaction,
    fresh: list[tuple[str, ScoreChangeInput, datetime]],
    by_label: dict[Label, list[Policy]],
    subjects: dict[tuple[Label, str], dict[str, Any]],
) -> dict[str, int]:
    rows = {}
    for _, change, at in fresh:
        subject = subjects.get((Label(change.label), change.node_id))
        if subject is None:
            continue
        for policy in by_label[Label(change.label)]:
            if policy.daily_cap_per_owner is None:
                continue
            owner, day = subject["owner_id"] or UNOWNED, at.astimezone(UTC).date().isoformat()
            key = _quota_id(policy.name, owner, day)
            rows[key] = {"id": key, "policy": policy.name, "owner_id": owner, "day": day}
    if not rows:
        return {}
    return {row["id"]: row["count"] for row in tx.run(q.LOCK_QUOTAS, batch={"rows": list(rows.values())}).data()}


def _evaluate(
    policy: Policy,
    state: _TriggerState,
    change: ScoreChangeInput,
    at: datetime,
    subject: dict[str, Any],
    quotas: dict[str, int],
    report: ApplyReport,
) -> bool:
    """Hysteresis, minimum delta, cooldown and daily cap; updates `state` and `quotas` when it fires."""
    new = change.new_score
    state.last_score = new
    if not state.armed:
        if new <= policy.rearm:
            state.armed = True
        return False
    if new < policy.enter:
        return False
    if new - (change.old_score or 0.0) < policy.min_delta:
        report.suppressed["min_delta"] += 1
        return False
    if state.last_fired_at is not None and at - state.last_fired_at < policy.cooldown:
        report.suppressed["cooldown"] += 1
        return False
    if policy.daily_cap_per_owner is not None:
        key = _quota_id(policy.name, subject["owner_id"] or UNOWNED, at.astimezone(UTC).date().isoformat())
        if quotas[key] >= policy.daily_cap_per_owner:
            report.suppressed["daily_cap"] += 1
            return False
        quotas[key] += 1
    state.armed = False
    state.last_fired_at = at
    return True


def _status(policy: Policy, subject: dict[str, Any], settings: Settings) -> str:
    """Holdout first (a control never reaches a person), then approval above the impact level."""
    if holdout_group(subject["holdout_unit"], settings.holdout_fraction, settings.holdout_salt) == HOLDOUT:
        return q.HOLDOUT
    if policy.approval is not None:
        impact = subject["impact"].get(policy.approval.property)
        if isinstance(impact, (int, float)) and impact > policy.approval.above:
            return q.PENDING_APPROVAL
    return q.PENDING


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _micros(at: datetime | None) -> int | None:
    """Microseconds since the epoch, as the real-time statements take times (graph/queries/actions.py)."""
    return None if at is None else (at - _EPOCH) // _MICROSECOND


def _from_micros(micros: int | None) -> datetime | None:
    return None if micros is None else _EPOCH + timedelta(microseconds=micros)

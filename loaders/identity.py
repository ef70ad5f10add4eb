"""Identity resolution: find duplicate accounts and contacts, merge the sure ones, queue the rest.

Each decision is a SAME_AS relationship (method, confidence, decided_at, status). Pairs at or above
the auto threshold are merged into one canonical node; pairs between the review floor and the auto
threshold wait as `pending` for a person (`kgcrm identity review|accept|reject`). A merge is
reversible (`unmerge`): see graph/queries/identity.py and docs/identity.md for how.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from neo4j import ManagedTransaction
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import DecisionConflict, DecisionNotFound, InvalidInput
from kgcrm.graph.model import Label
from kgcrm.graph.queries import identity as q
from kgcrm.loaders.identity_match import (
    AccountRecord,
    Candidate,
    ContactRecord,
    match_accounts,
    match_contacts,
)
from kgcrm.loaders.identity_normalize import normalise_domain

logger = logging.getLogger(__name__)


class IdentitySettings(BaseSettings):
    """Thresholds of identity resolution, from KGCRM_IDENTITY_* variables (CLI flags override them)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    auto_threshold: float = Field(0.95, ge=0, le=1, validation_alias="KGCRM_IDENTITY_AUTO_THRESHOLD")
    review_threshold: float = Field(0.80, ge=0, le=1, validation_alias="KGCRM_IDENTITY_REVIEW_THRESHOLD")


def load_identity_settings() -> IdentitySettings:
    """The thresholds from the environment, one clear line when a value is wrong."""
    try:
        return IdentitySettings()
    except ValidationError as exc:
        problems = "; ".join(f"{err['loc'][0]}: {err['msg']}" for err in exc.errors())
        raise InvalidInput(f"invalid identity settings: {problems}") from None


@dataclass(frozen=True)
class Thresholds:
    auto: float
    review: float

    def __post_init__(self) -> None:
        if not (0.0 <= self.review <= self.auto <= 1.0):
            raise InvalidInput(
                f"thresholds must satisfy 0 <= review ({self.review}) <= auto ({self.auto}) <= 1"
            )


@dataclass
class ResolveReport:
    label: str
    records: int = 0
    candidates: int = 0
    already_decided: int = 0
    auto_merged: int = 0
    pending: int = 0
    below_floor: int = 0
    rehomed: int = 0
    by_method: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Node:
    id: str
    created_at: Any
    members: int
    degree: int


def decision_id(a: str, b: str) -> str:
    """A stable id per pair, so the same pair always has the same decision id."""
    low, high = sorted((a, b))
    return "sa-" + hashlib.sha1(f"{low}\x1f{high}".encode()).hexdigest()[:16]


def parse_label(value: str) -> Label:
    """Account or Contact (any case) as the enum; anything else is a user error."""
    for label in q.IDENTITY_LABELS:
        if value.lower() == label.value.lower():
            return label
    raise InvalidInput(f"--label must be one of {', '.join(q.IDENTITY_LABELS)}, not {value!r}")


def _read_records(graph: Graph, label: Label, sources: Sequence[str] | None) -> tuple[list[Any], dict[str, _Node]]:
    params = {"sources": list(sources) if sources is not None else None}
    if label is Label.ACCOUNT:
        rows = graph.read(q.account_records(), params)
        records: list[Any] = [AccountRecord(r["id"], r["name"], r["domain"], r["website"]) for r in rows]
    else:
        rows = graph.read(q.contact_records(), params)
        records = [ContactRecord(r["id"], r["name"], r["email"], tuple(r["account_domains"]), tuple(r["account_ids"])) for r in rows]
    nodes = {r["id"]: _Node(r["id"], r["created_at"], r["members"], r["degree"]) for r in rows}
    return records, nodes


def _canonical_order(node: _Node) -> tuple:
    """Prefer a node that already absorbed others, then the oldest record, then the one with more
    relationships (fewer to move), then the smallest id."""
    created = node.created_at.to_native().timestamp() if hasattr(node.created_at, "to_native") else float("inf")
    return (-node.members, created, -node.degree, node.id)


class _Clusters:
    """Union-find over auto matches that refuses to join two groups a person kept apart, or two groups
    whose records name different web domains (A = B and B = C must not make two companies one)."""

    def __init__(self, cannot_link: Iterable[tuple[str, str]], key_of: dict[str, str] | None = None) -> None:
        self.parent: dict[str, str] = {}
        self.members: dict[str, set[str]] = {}
        self.key_of = key_of or {}
        self.apart: dict[str, set[str]] = defaultdict(set)
        for a, b in cannot_link:
            self.apart[a].add(b)
            self.apart[b].add(a)

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        self.members.setdefault(x, {x})
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        left, right = self.members[ra], self.members[rb]
        if any(self.apart[m] & right for m in left):
            return False
        left_keys = {self.key_of[m] for m in left if m in self.key_of}
        right_keys = {self.key_of[m] for m in right if m in self.key_of}
        if left_keys and right_keys and left_keys != right_keys:
            return False
        if len(left) < len(right):
            ra, rb, left, right = rb, ra, right, left
        self.parent[rb] = ra
        left |= right
        del self.members[rb]
        return True


def resolve(
    graph: Graph,
    label: Label,
    thresholds: Thresholds,
    *,
    sources: Sequence[str] | None = None,
    decided_by: str = "kgcrm identity resolve",
) -> ResolveReport:
    """Match one label's active records, write new decisions and merge the sure pairs (idempotent)."""
    rehomed = rehome_merged(graph, label, sources)
    records, nodes = _read_records(graph, label, sources)
    report = ResolveReport(label=label.value, records=len(records), rehomed=rehomed)
    if label is Label.ACCOUNT:
        candidates = match_accounts(records)
    else:
        candidates = match_contacts(records, _pending_account_groups(graph))
    report.candidates = len(candidates)

    decided: set[frozenset[str]] = set()
    rejected: list[tuple[str, str]] = []
    for row in graph.read(q.existing_decisions(label)):
        decided.add(frozenset((row["a"], row["b"])))
        decided.add(frozenset((row["canonical_a"], row["canonical_b"])))
        if row["status"] == q.REJECTED:
            rejected.append((row["canonical_a"], row["canonical_b"]))

    fresh: list[Candidate] = []
    for cand in candidates:
        if frozenset((cand.a, cand.b)) in decided:
            report.already_decided += 1
        elif cand.confidence < thresholds.review:
            report.below_floor += 1
        else:
            fresh.append(cand)

    domain_of = {}
    if label is Label.ACCOUNT:
        for record in records:
            domain = normalise_domain(record.domain) or normalise_domain(record.website)
            if domain:
                domain_of[record.id] = domain
    clusters = _Clusters(rejected, domain_of)
    auto: list[Candidate] = []
    pending: list[Candidate] = []
    # Most confident first, so a cannot-link blocks the weaker link, not the stronger.
    for cand in sorted(fresh, key=lambda c: (-c.confidence, c.a, c.b)):
        if cand.confidence >= thresholds.auto and clusters.union(cand.a, cand.b):
            auto.append(cand)
        else:
            pending.append(cand)

    decisions, merges = _plan_merges(auto, clusters, nodes)
    for cand in pending:
        # Point a pending pair at the node that would stay, as a merge would.
        first, second = sorted((cand.a, cand.b), key=lambda i: _canonical_order(nodes[i]))
        decisions.append(_decision_row(second, first, cand, q.PENDING, decided_by))
    for row in decisions:
        if row["status"] == q.AUTO_MERGED:
            row["decided_by"] = decided_by
        report.by_method[row["method"]] = report.by_method.get(row["method"], 0) + 1

    batch = graph.settings.batch_size
    for start in range(0, len(decisions), batch):
        graph.write(q.create_decisions(label), {"rows": decisions[start : start + batch]})
    for start in range(0, len(merges), batch):
        graph.write(q.merge_nodes(label), {"rows": merges[start : start + batch]})
    report.auto_merged = len(merges)
    report.pending = len(pending)
    logger.info(
        "resolved %s: %s records, %s candidates, %s merged, %s pending",
        label.value, report.records, report.candidates, report.auto_merged, report.pending,
    )
    return report


def _pending_account_groups(graph: Graph) -> dict[str, str]:
    """Account id -> one id per group of accounts linked by pending decisions (maybe one company)."""
    links = UnionFind()
    for row in graph.read(q.PENDING_ACCOUNT_LINKS, {"pending": q.PENDING}):
        if row["a"] != row["b"]:
            links.union(row["a"], row["b"])
    return {node: links.find(node) for node in list(links.parent)}


class UnionFind:
    """Disjoint sets of ids (path halving): groups of records linked by decisions."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def rehome_merged(graph: Graph, label: Label, sources: Sequence[str] | None = None) -> int:
    """Move relationships a re-load gave merged duplicates over to their canonical nodes; returns how many.

    The loader knows nothing of merges: loading the same export again re-creates a duplicate's
    relationships on the duplicate. Resolve starts by moving them (tagged, so unmerge still works).
    """
    moved = 0
    params = {"sources": list(sources) if sources is not None else None, "limit": graph.settings.batch_size}
    while True:
        row = graph.write(q.rehome_merged(label), params)[0]
        moved += row["relationships"] or 0
        if not row["nodes"]:
            break
    if moved:
        logger.info("re-homed %s relationships of merged %s records", moved, label.value)
    return moved


def _decision_row(from_id: str, to_id: str, cand: Candidate, status: str, decided_by: str) -> dict[str, Any]:
    return {
        "id": decision_id(from_id, to_id),
        "from_id": from_id,
        "to_id": to_id,
        "method": cand.method,
        "confidence": cand.confidence,
        "status": status,
        "decided_by": decided_by,
    }


def _plan_merges(
    auto: list[Candidate], clusters: _Clusters, nodes: dict[str, _Node]
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """One canonical node per cluster; each other member gets a SAME_AS along the match that found it."""
    edges: dict[str, list[tuple[str, Candidate]]] = defaultdict(list)
    for cand in auto:
        edges[cand.a].append((cand.b, cand))
        edges[cand.b].append((cand.a, cand))
    decisions: list[dict[str, Any]] = []
    merges: list[dict[str, str]] = []
    for root, members in clusters.members.items():
        if len(members) < 2:
            continue
        canonical = min(members, key=lambda i: _canonical_order(nodes[i]))
        seen = {canonical}
        queue = deque([canonical])
        while queue:
            current = queue.popleft()
            for neighbour, cand in sorted(edges[current], key=lambda e: e[0]):
                if neighbour in seen:
                    continue
                seen.add(neighbour)
                queue.append(neighbour)
                decisions.append(_decision_row(neighbour, current, cand, q.AUTO_MERGED, ""))
                merges.append({"duplicate_id": neighbour, "canonical_id": canonical})
    return decisions, merges


def list_pending(graph: Graph, labels: Sequence[Label] = q.IDENTITY_LABELS, limit: int = 50) -> list[dict[str, Any]]:
    """Pending decisions, both records side by side, most confident first."""
    rows: list[dict[str, Any]] = []
    for label in labels:
        rows.extend(graph.read(q.pending_decisions(label), {"pending": q.PENDING, "limit": limit}))
    rows.sort(key=lambda r: (-r["confidence"], r["id"]))
    return rows[:limit]


def _find_decision(tx: ManagedTransaction, decision: str) -> tuple[Label, dict[str, Any]]:
    for label in q.IDENTITY_LABELS:
        record = tx.run(q.decision_by_id(label), id=decision).single()
        if record is not None:
            return label, record.data()
    raise DecisionNotFound(f"no identity decision with id {decision!r} (see `kgcrm identity review`)")


def accept(graph: Graph, decision: str, decided_by: str = "kgcrm identity accept") -> dict[str, Any]:
    """Accept a pending (or earlier rejected) decision: merge the two records' canonical nodes."""

    def work(tx: ManagedTransaction) -> dict[str, Any]:
        label, row = _find_decision(tx, decision)
        if row["status"] in q.MERGE_STATUSES:
            raise DecisionConflict(f"decision {decision} is already {row['status']}")
        duplicate, canonical = row["canonical_a"], row["canonical_b"]
        if duplicate != canonical:
            tx.run(q.merge_nodes(label), rows=[{"duplicate_id": duplicate, "canonical_id": canonical}]).consume()
        tx.run(q.set_decision_status(label), id=decision, status=q.ACCEPTED, decided_by=decided_by).consume()
        return {"id": decision, "status": q.ACCEPTED, "duplicate_id": duplicate, "canonical_id": canonical}

    return graph.execute_write(work)


def reject(graph: Graph, decision: str, decided_by: str = "kgcrm identity reject") -> dict[str, Any]:
    """Reject a pending decision; the pair will not be proposed or merged again."""

    def work(tx: ManagedTransaction) -> dict[str, Any]:
        label, row = _find_decision(tx, decision)
        if row["status"] in q.MERGE_STATUSES:
            raise DecisionConflict(
                f"decision {decision} is {row['status']}: undo the merge with `kgcrm identity unmerge {row['a']}`"
            )
        tx.run(q.set_decision_status(label), id=decision, status=q.REJECTED, decided_by=decided_by).consume()
        return {"id": decision, "status": q.REJECTED}

    return graph.execute_write(work)


def unmerge(graph: Graph, node_id: str, decided_by: str = "kgcrm identity unmerge") -> dict[str, Any]:
    """Undo the merge of one duplicate: its relationships move back and its merge decision is rejected."""

    def work(tx: ManagedTransaction) -> dict[str, Any]:
        for label in q.IDENTITY_LABELS:
            state = tx.run(q.node_state(label), id=node_id).single()
            if state is None:
                continue
            if not state["merged"]:
                raise DecisionConflict(f"{label.value} {node_id!r} is not merged into another record")
            record = tx.run(
                q.unmerge_node(label),
                id=node_id,
                merge_statuses=list(q.MERGE_STATUSES),
                rejected=q.REJECTED,
                decided_by=decided_by,
            ).single()
            return record.data()
        raise DecisionNotFound(f"no Account or Contact with id {node_id!r}")

    return graph.execute_write(work)

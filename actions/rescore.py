"""Incremental rescoring: new events rescore only the nodes inside the production model's receptive field.

A GNN with L message-passing layers computes a node's score from its L-hop neighbourhood, so an event
can move only the scored nodes within L hops of what it touched (the affected set). Those are scored
on a subgraph that holds everything their score reads: the nodes within L hops of them with all their
activities, plus one more hop so that every degree feature counts every relationship. The result is
the full batch scoring's score for those nodes (a test holds the two within 1e-5). The one input
that is global, a string column's one-hot vocabulary (top categories by count over the whole label),
is counted in Neo4j and cached (actions/vocabulary.py).

Changed scores (moves above KGCRM_SCORE_EPSILON, or a new model) go through
`apply_score_changes`: ScoreChange (old, new, time, model, the causing events) and the Actions of
the trigger policies in one transaction. Events are then marked rescored. A crash in between leaves
them queued; the next pass finds the new scores already stored and writes nothing twice.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import Any

from neo4j import ManagedTransaction

import numpy as np
import torch
from scipy import sparse

from kgcrm.actions import embedding_cache
from kgcrm.actions.collector_clock import collector_seconds
from kgcrm.actions.embedding_cache import EmbeddingCache
from kgcrm.actions.outbox import ApplyReport, ScoreChangeInput, apply_in_transaction, apply_score_changes
from kgcrm.actions.policies import Policy, load_policies
from kgcrm.actions.stored_scores import StoredScores
from kgcrm.actions.vocabulary import GlobalVocabulary
from kgcrm.actions.wakeup import WakeListener, WakeSender
from kgcrm.graph.driver import Graph
from kgcrm.graph.model import Label, RelType
from kgcrm.graph.queries import events as q
from kgcrm.graph.queries.actions import PENDING, SCORED
from kgcrm.graph.settings import Settings
from kgcrm.ml import export as ml_export
from kgcrm.ml.artifact import ModelArtifact
from kgcrm.ml.dataset import snapshot_inputs
from kgcrm.ml.export import NODE_COLUMNS, REL_SPECS, EdgeTable, GraphExport, NodeTable, export_graph
from kgcrm.ml.features import Snapshot, take_snapshot
from kgcrm.ml.inference import logits_of, prepare
from kgcrm.ml.model import IntentGNN
from kgcrm.ml.registry import ModelVersion, list_models, load_model, production_models_in
from kgcrm.ml.tasks import scoring_index

logger = logging.getLogger(__name__)

# With wake-up hints from the API, an idle scorer still polls this often (hints are not guaranteed, and
# other writers, such as `kgcrm replay` without --url, queue events without sending one).
WOKEN_POLL_SECONDS = 1.0
# A touched node the embedding cache lacks (created since it was built) rebuilds it, at most this often;
# in between such passes take the exact subgraph path.
MIN_REBUILD_SECONDS = 30.0
# The graph the GNN sees: every exported label but Activity (folded into features), and the
# relationships between them; activities reach the nodes they are about or performed by.
GRAPH_LABELS = tuple(label for label in NODE_COLUMNS if label != Label.ACTIVITY)
GRAPH_RELS = tuple(spec for spec in REL_SPECS if Label.ACTIVITY not in (spec[0], spec[2]))
GRAPH_REL_TYPES = tuple(sorted({spec[1] for spec in GRAPH_RELS}))
# Relationship kinds the export reads (a committee role), where this version of the ML export has them.
REL_KINDS: dict[tuple, str] = getattr(ml_export, "REL_KINDS", {})
EDGE_KINDS = "kind" in {f.name for f in fields(EdgeTable)}
TOUCHED_SUBGRAPH = q.touched_subgraph(GRAPH_REL_TYPES, NODE_COLUMNS, REL_SPECS, REL_KINDS)


@dataclass(frozen=True)
class Event:
    """One queued event: its id, when it was accepted (epoch seconds: decoding the driver's datetimes,
    with their time zones, took 9% of a busy scorer's samples), the nodes it touches (internal ids), and
    the label of each of those the GNN sees (internal id, label)."""

    id: str
    accepted_at: float
    touched: tuple[int, ...]
    labelled: tuple[tuple[int, str], ...] = ()


@dataclass
class Candidates:
    """One task's new scores that may be changes: judged against the stored scores when they are written."""

    model: str
    target: Label
    neo_ids: np.ndarray
    ids: np.ndarray
    scores: np.ndarray
    causes: list[list[str]]
    stored: StoredScores | None = None  # the mirror that picked them (and learns what was read and written)


@dataclass
class TaskRescore:
    """One task's part of a pass: which nodes were affected and what the model now says about them."""

    task: str
    model: str
    affected: int
    subgraph_nodes: int
    ids: np.ndarray = field(repr=False)
    scores: np.ndarray = field(repr=False)
    changes: list[ScoreChangeInput] = field(default_factory=list, repr=False)
    # What the changes store once applied, by internal id: (score, model).
    written: dict[int, tuple[float, str]] = field(default_factory=dict, repr=False)
    # The scores worth comparing with what is stored; judged into `changes` in the write transaction.
    candidates: Candidates | None = field(default=None, repr=False)


@dataclass
class RescoreReport:
    """What one pass did, with the time each part took (seconds)."""

    events: list[str]
    tasks: list[TaskRescore] = field(default_factory=list)
    applied: ApplyReport = field(default_factory=ApplyReport)
    timings: dict[str, float] = field(default_factory=dict)
    marked: bool = False  # the events were marked done in the changes' own transaction

    @property
    def changes(self) -> int:
        return sum(len(t.changes) for t in self.tasks)

    def scores(self, task: str) -> dict[str, float]:
        """The incremental scores of one task's affected nodes, by node id."""
        return {str(i): float(s) for t in self.tasks if t.task == task for i, s in zip(t.ids, t.scores)}


@dataclass
class PassReads:
    """What a pass reads in its first transaction (IncrementalScorer._first_reads)."""

    events: list[Event]
    versions: list[ModelVersion]
    touched_export: GraphExport | None
    export_s: float  # of which reading the touched subgraph


class IncrementalScorer:
    """Rescores the neighbourhoods of queued events; keeps models and vocabularies between passes."""

    def __init__(self, graph: Graph, settings: Settings, policies: Sequence[Policy] | None = None) -> None:
        self.graph = graph
        self.settings = settings
        self.policies = list(policies) if policies is not None else load_policies(settings.policies_file)
        self._models: dict[str, tuple[ModelArtifact, IntentGNN]] = {}
        self._vocabulary = GlobalVocabulary(graph)
        self._caches: dict[str, EmbeddingCache | None] = {}
        self._stored: dict[str, StoredScores] = {}
        self.partition: tuple[int, int] = (0, 1)

    def pending(self, limit: int | None = None) -> list[Event]:
        """The oldest queued events, at most `limit` (KGCRM_EVENTS_MAX_BATCH)."""
        return self.graph.execute_read(self._pending_in, limit)

    def _pending_in(self, tx: ManagedTransaction, limit: int | None) -> list[Event]:
        part, parts = self.partition
        rows = tx.run(q.PENDING_EVENTS, limit=limit or self.settings.events_max_batch, part=part, parts=parts,
                      labels=[x.value for x in GRAPH_LABELS]).data()
        return [Event(r["id"], r["accepted_at"], tuple(r["touched"]), tuple((int(i), str(label)) for i, label in
                                                                            r["labelled"])) for r in rows]

    def _first_reads(self, tx: ManagedTransaction, limit: int | None) -> PassReads:
        """A pass's reads before scoring, in one transaction: the queue, then (when it holds events) the
        registry and the subgraph of the nodes the events touched (what the embedding cache needs)."""
        events = self._pending_in(tx, limit)
        if not events:
            return PassReads([], [], None, 0.0)
        versions = production_models_in(tx)
        clock = time.perf_counter()
        touched = _touched(events)
        export = self._touched_export(tx, touched) if touched and self.settings.events_cache_seconds > 0 else None
        return PassReads(events, versions, export, time.perf_counter() - clock)

    def run_once(self, *, as_of: float | None = None, limit: int | None = None) -> RescoreReport | None:
        """Rescore the queued events (one micro-batch) and mark them done; None when the queue is empty."""
        clock, cpu, collecting = time.perf_counter(), time.process_time(), collector_seconds()
        reads = self.graph.execute_read(self._first_reads, limit)
        if not reads.events:
            return None
        first_s = time.perf_counter() - clock
        report = self.rescore(reads.events, as_of=as_of, mark=True, versions=reads.versions,
                              touched_export=reads.touched_export)
        report.timings["export_s"] = report.timings.get("export_s", 0.0) + reads.export_s
        report.timings["pending_s"] = first_s - reads.export_s
        report.timings["pass_s"] = time.perf_counter() - clock
        report.timings["cpu_s"] = time.process_time() - cpu
        report.timings["gc_s"] = collector_seconds() - collecting
        # One parseable line per pass (bench/bench_events.py reads them): what took how long.
        logger.info("pass: %s events, %s affected, %s changes; %s", len(reads.events), sum(t.affected for t in report.tasks),
                    report.changes, " ".join(f"{k}={v:.4f}" for k, v in sorted(report.timings.items())))
        return report

    @staticmethod
    def _mark(report: RescoreReport) -> tuple[str, dict[str, Any]]:
        """The statement that marks a pass's events rescored, noting the models that scored them."""
        note = ",".join(t.model for t in report.tasks) or "no production model"
        return q.MARK_RESCORED, {"batch": {"ids": report.events}, "note": note}

    def rescore(self, events: Sequence[Event], *, as_of: float | None = None, mark: bool = False,
                versions: Sequence[ModelVersion] | None = None, touched_export: GraphExport | None = None,
                ) -> RescoreReport:
        """Score the nodes the events can move with every production model, and apply what changed.

        With `mark`, the events are marked done in the transaction that applies the (last batch of) changes,
        one round trip fewer a pass; batches before it commit on their own, and re-applying them after a
        crash changes nothing. `versions` and `touched_export`: the registry and the touched nodes' subgraph
        as read with the queue (read here when not given).
        """
        torch.set_num_threads(self.settings.ml_threads)
        cutoff = time.time() if as_of is None else as_of
        report = RescoreReport(events=[e.id for e in events])
        versions = [v for v in (list_models(self.graph) if versions is None else versions) if v.status == "production"]
        if not versions:
            logger.warning("%s events not rescored: no production model", len(events))
        current = {v.id for v in versions}
        for kept in (self._caches, self._stored):
            for model in [m for m in kept if m not in current]:
                del kept[model]  # a model that leaves production and comes back starts afresh
        for version in versions:
            artifact, network = self._model(version)
            if artifact.task.target not in SCORED:
                continue
            report.tasks.append(self._rescore_task(version, artifact, network, events, cutoff, report.timings,
                                                   touched_export))
        clock = time.perf_counter()
        then = self._mark(report) if mark else None
        statements: list[float] = []
        applied = self.graph.execute_write(self._judge_and_apply, report.tasks, then, statements)
        # The write transaction's time outside its statements: opening it and the commit.
        report.timings["commit_s"] = time.perf_counter() - clock - (statements[-1] if statements else 0.0)
        changes = [c for t in report.tasks for c in t.changes]
        # None: more than one batch, applied here batch by batch, the mark with the last.
        report.applied = applied if applied is not None else apply_score_changes(
            self.graph, changes, self.policies, self.settings, then=then)
        report.marked = mark
        for task in report.tasks:
            if task.model in self._stored:
                self._stored[task.model].record(task.written)
        report.timings["apply_s"] = time.perf_counter() - clock
        logger.debug("rescored %s events: %s affected, %s score changes, actions %s",
                    len(events), sum(t.affected for t in report.tasks), len(changes), dict(report.applied.actions))
        return report

    def prime(self, *, as_of: float | None = None) -> None:
        """Build the embedding cache of every production model now (otherwise the first pass builds it)."""
        cutoff = time.time() if as_of is None else as_of
        for version in list_models(self.graph):
            if version.status == "production" and self.settings.events_cache_seconds > 0:
                artifact, network = self._model(version)
                if artifact.task.target in SCORED:
                    self._caches[version.id] = self._build_cache(version, artifact, network, cutoff)

    def _build_cache(self, version: ModelVersion, artifact: ModelArtifact, network: IntentGNN,
                     cutoff: float) -> EmbeddingCache | None:
        clock = time.perf_counter()
        gc.unfreeze()  # the cache this one replaces becomes collectable again
        cache = embedding_cache.build(version.id, artifact, network, export_graph(self.graph), cutoff)
        # The cache (millions of objects) lives until the next rebuild: keep it out of the collector's
        # full passes, each of which would otherwise stall a pass while it scans them.
        gc.collect()
        gc.freeze()
        logger.info("embedding cache of %s rebuilt in %.1f s", version.id, time.perf_counter() - clock)
        return cache

    def _model(self, version: ModelVersion) -> tuple[ModelArtifact, IntentGNN]:
        if version.id not in self._models:
            artifact = load_model(self.settings, version)
            self._models[version.id] = (artifact, artifact.network())
        return self._models[version.id]

    def _rescore_task(
        self, version: ModelVersion, artifact: ModelArtifact, network: IntentGNN, events: Sequence[Event],
        cutoff: float, timings: dict[str, float], touched_export: GraphExport | None = None,
    ) -> TaskRescore:
        target = artifact.task.target
        layers = int(artifact.hyper["layers"])
        touched = _touched(events)
        clock = time.perf_counter()
        if self.settings.events_cache_seconds > 0:
            cached = self._rescore_cached(version, artifact, network, events, touched, cutoff, timings, touched_export)
            if cached is not None:
                return cached
        near = self._ball(touched, layers)
        affected = {i: label for i, (label, _) in near.items() if label == target.value}
        support = self._ball({i: label for i, label in affected.items()}, layers + 1)
        _add(timings, "expand_s", time.perf_counter() - clock)
        empty = TaskRescore(version.task, version.id, 0, 0, np.zeros(0, dtype=object), np.zeros(0))
        if not affected:
            return empty

        clock = time.perf_counter()
        inner = [i for i, (_, hop) in support.items() if hop <= layers]
        export = self._export(support, inner)
        _add(timings, "export_s", time.perf_counter() - clock)

        clock = time.perf_counter()
        snapshot = take_snapshot(export, cutoff)
        self._use_global_vocabulary(snapshot, export)
        table = export.nodes[target]
        index = scoring_index(artifact.task, export, cutoff, self.graph)
        index = index[np.isin(table.neo_ids[index], np.fromiter(affected, dtype=np.int64))]
        if not len(index):
            return empty
        scores = np.clip(artifact.calibrator.apply(logits_of(network, prepare(artifact, snapshot, index))), 0.0, 1.0)
        _add(timings, "inference_s", time.perf_counter() - clock)

        causes = _causes(export, events, index, target, layers)
        candidates = Candidates(version.id, target, table.neo_ids[index], table.ids[index], scores, causes)
        return TaskRescore(version.task, version.id, len(index), len(support), table.ids[index], scores,
                           candidates=candidates)

    def _rescore_cached(
        self, version: ModelVersion, artifact: ModelArtifact, network: IntentGNN, events: Sequence[Event],
        touched: dict[int, str], cutoff: float, timings: dict[str, float], touched_export: GraphExport | None = None,
    ) -> TaskRescore | None:
        """The pass through the embedding cache; None when there is no usable cache (the subgraph path runs)."""
        clock = time.perf_counter()
        cache = self._caches.get(version.id)
        stale = cache is None and version.id not in self._caches
        if cache is not None:
            unknown = any(not cache.knows(i) for i in touched)
            too_old = cache.age() > self.settings.events_cache_seconds
            if too_old or (unknown and cache.age() > MIN_REBUILD_SECONDS):
                stale = True
            elif unknown:
                return None
        if stale:
            cache = self._caches[version.id] = self._build_cache(version, artifact, network, cutoff)
            _add(timings, "cache_build_s", time.perf_counter() - clock)
        if cache is None or any(not cache.knows(i) for i in touched):
            return None
        clock = time.perf_counter()
        inputs = self._inputs(artifact, touched, cutoff, touched_export) if touched else {}
        _add(timings, "export_s", time.perf_counter() - clock)
        clock = time.perf_counter()
        result = cache.update(inputs, [[i for i in e.touched if i in touched] for e in events])
        _add(timings, "cache_update_s", time.perf_counter() - clock)
        causes = [[events[k].id for k in found] for found in result.reach]
        clock = time.perf_counter()
        stored = self._stored.get(version.id)
        if stored is None:
            stored = self._stored[version.id] = StoredScores(self.graph, artifact.task.target)
        stored.refresh_if_old()
        pick = stored.candidates(version.id, result.neo_ids, result.scores, self.settings.ml_score_epsilon)
        candidates = Candidates(version.id, artifact.task.target, result.neo_ids[pick], result.ids[pick],
                                result.scores[pick], [causes[k] for k in pick.tolist()], stored)
        _add(timings, "current_s", time.perf_counter() - clock)
        return TaskRescore(version.task, version.id, len(result.ids), len(inputs), result.ids, result.scores,
                           candidates=candidates)

    def _inputs(self, artifact: ModelArtifact, touched: dict[int, str], cutoff: float,
                export: GraphExport | None = None) -> dict[int, torch.Tensor]:
        """The model inputs of the touched nodes at `cutoff`, from their one-hop subgraph and activities
        (`export`, when already read)."""
        if export is None:
            export = self.graph.execute_read(self._touched_export, touched)
        snapshot = take_snapshot(export, cutoff)
        self._use_global_vocabulary(snapshot, export)
        # The model's inputs only: building the subgraph's relationships too (`prepare`) was half the work.
        labels = [label for label in artifact.labels if label in snapshot.alive]
        inputs = {}
        for label, (x, rows) in snapshot_inputs(snapshot, labels, artifact.norm, artifact.names).items():
            neo_ids = export.nodes[label].neo_ids[rows.numpy()]
            for position, neo_id in enumerate(neo_ids.tolist()):
                if neo_id in touched:
                    inputs[int(neo_id)] = x[position]
        return inputs

    def _touched_export(self, tx: ManagedTransaction, touched: dict[int, str]) -> GraphExport:
        """The touched nodes, their activities and their relationships, in one query; of their other
        neighbours only what the inputs read (label and created_at).

        Their inputs read only their own relationships (degrees, activities, tenure): not the ones among
        their neighbours, such as an owner's every OWNS, nor the neighbours' own columns.
        """
        record = tx.run(TOUCHED_SUBGRAPH, batch={"ids": list(touched)}, labels=[x.value for x in GRAPH_LABELS],
                        nan=np.nan).single()
        columns = _with_neighbours({label: record[label.value] for label in NODE_COLUMNS}, record["near"])
        return _assemble(columns, record["relationships"])

    def _judge_and_apply(self, tx: ManagedTransaction, tasks: list[TaskRescore],
                         then: tuple[str, dict[str, Any]] | None, took: list[float]) -> ApplyReport | None:
        """Read the candidates' stored scores, judge them into changes, apply those (and `then`): one transaction.

        Returns None, having applied nothing, when the changes are more than one batch (the caller applies
        them batch by batch). Appends its own seconds to `took` (a retried transaction appends again).
        """
        clock = time.perf_counter()
        try:
            for task in tasks:
                task.changes, task.written = self._judge(tx, task.candidates) if task.candidates else ([], {})
            changes = [c for t in tasks for c in t.changes]
            if len(changes) > self.settings.batch_size:
                return None
            if changes:
                return apply_in_transaction(tx, changes, self.policies, self.settings, then=then)
            if then is not None:
                tx.run(*then).consume()
            return ApplyReport()
        finally:
            took.append(time.perf_counter() - clock)

    def _judge(self, tx: ManagedTransaction, c: Candidates) -> tuple[list[ScoreChangeInput], dict[int, tuple[float, str]]]:
        """The score changes worth writing: moves above KGCRM_SCORE_EPSILON from the stored score, or a first
        score by this model; and what they store, by internal id.

        With partitions, only the targets of this scorer's partition: another partition's target (reached
        through a hub such as its owner) is scored here from this cache's older view of its own inputs,
        and writing that would undo what its own scorer stored.
        """
        epsilon = self.settings.ml_score_epsilon
        part, parts = self.partition
        rows = (tx.run(q.CURRENT_SCORES, batch={"ids": c.neo_ids.tolist()}, part=part, parts=parts).single()["scores"]
                if len(c.neo_ids) else [])
        current = {int(node): (score, model) for node, score, model, _ in rows}
        elsewhere = {int(node) for node, _, _, mine in rows if not mine}
        if c.stored is not None:
            c.stored.record(current)
        changes, written = [], {}
        for neo_id, node_id, score, cause in zip(c.neo_ids.tolist(), c.ids.tolist(), c.scores.tolist(), c.causes):
            if int(neo_id) in elsewhere:
                continue
            old_score, old_model = current.get(int(neo_id), (None, None))
            if old_score is not None and old_model == c.model and abs(score - old_score) <= epsilon:
                continue
            changes.append(ScoreChangeInput(
                node_id=str(node_id), label=c.target, old_score=old_score, new_score=float(score),
                model_version=c.model, event_ids=tuple(cause), cause="event",
            ))
            written[int(neo_id)] = (float(score), c.model)
        return changes, written

    def _ball(self, start: dict[int, str], hops: int) -> dict[int, tuple[str, int]]:
        """Every graph node within `hops` of `start`, with its label and distance."""
        seen = {i: (label, 0) for i, label in start.items()}
        frontier = list(start)
        query = q.expand(GRAPH_REL_TYPES)
        for hop in range(1, hops + 1):
            if not frontier:
                break
            record = self.graph.read(query, {"ids": frontier, "labels": [x.value for x in GRAPH_LABELS]})[0]
            frontier = []
            for node, label in zip(record["ids"], record["labels"]):
                if node not in seen:
                    seen[node] = (label, hop)
                    frontier.append(node)
        return seen

    def _export(self, support: dict[int, tuple[str, int]], inner: list[int]) -> GraphExport:
        """The support set as the ML export's tables: its nodes, their activities, relationships among them."""
        by_label: dict[Label, list[int]] = {label: [] for label in NODE_COLUMNS}
        for node, (label, _) in support.items():
            by_label[Label(label)].append(node)
        by_label[Label.ACTIVITY] = self.graph.read(q.ACTIVITIES_OF, {"ids": inner})[0]["ids"]
        everything = [node for ids in by_label.values() for node in ids]
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="subgraph") as pool:
            node_futures = {
                label: pool.submit(self._read_one, q.subgraph_nodes(label, NODE_COLUMNS.get(label, ())), ids)
                for label, ids in by_label.items()
            }
            rel_future = pool.submit(self._read_one, q.subgraph_all_relationships(REL_SPECS, REL_KINDS), everything)
            node_records = {label: future.result() for label, future in node_futures.items()}
            record = rel_future.result()
        return _assemble(node_records, record)

    def _read_one(self, query: str, ids: list[int]) -> dict[str, Any]:
        if not ids:
            return {}

        def work(tx: Any) -> dict[str, Any]:
            record = tx.run(query, ids=ids, nan=np.nan).single()
            return dict(record.items()) if record is not None else {}

        return self.graph.execute_read(work)

    def _use_global_vocabulary(self, snapshot: Snapshot, export: GraphExport) -> None:
        """Rebuild string one-hots with the whole label's vocabulary, as a full export would have it."""
        for label, table in export.nodes.items():
            if label not in snapshot.own or not table.strings:
                continue
            names, x = snapshot.own_names[label], snapshot.own[label]
            keep = [j for j, name in enumerate(names) if not any(name.startswith(f"{p}=") for p in table.strings)]
            columns, new_names = [x[:, keep]], [names[j] for j in keep]
            for prop, values in table.strings.items():
                vocabulary = self._vocabulary.of(label, prop)
                if not vocabulary:
                    continue
                onehot = [values == v for v in vocabulary] + [(values != "") & ~np.isin(values, vocabulary)]
                columns.append(np.stack(onehot, axis=1).astype(np.float32))
                new_names += [f"{prop}={v}" for v in vocabulary] + [f"{prop}=other"]
            snapshot.own[label] = np.concatenate(columns, axis=1).astype(np.float32)
            snapshot.own_names[label] = new_names


def _touched(events: Sequence[Event]) -> dict[int, str]:
    """The nodes the events touch that the GNN sees, with their labels, in id order."""
    return dict(sorted({pair for e in events for pair in e.labelled}))


def _add(timings: dict[str, float], key: str, seconds: float) -> None:
    timings[key] = timings.get(key, 0.0) + seconds


def _assemble(node_records: dict[Label, dict[str, Any]], record: dict[str, Any]) -> GraphExport:
    """The ML export's tables from one record of columns per label and one of relationships (`type`, `src`,
    `dst`, `start`, `end`, `kind`); relationships whose ends are not among the nodes are left out."""
    nodes = {label: _node_table(label, columns) for label, columns in node_records.items()}
    lookup = {int(n): (label, row) for label, table in nodes.items() for row, n in enumerate(table.neo_ids.tolist())}
    keys = {(Label(src).value, RelType(rel).value, Label(dst).value): (src, rel, dst) for src, rel, dst, _, _ in REL_SPECS}
    rows: dict[tuple, list[int]] = {key: [] for key in keys.values()}
    ends = [(lookup.get(a), lookup.get(b)) for a, b in zip(record.get("src", []), record.get("dst", []))]
    for position, (kind, (a, b)) in enumerate(zip(record.get("type", []), ends)):
        if a is not None and b is not None and (key := keys.get((a[0].value, kind, b[0].value))) is not None:
            rows[key].append(position)
    src_all = np.asarray([a[1] if a else -1 for a, _ in ends], dtype=np.int64)
    dst_all = np.asarray([b[1] if b else -1 for _, b in ends], dtype=np.int64)
    start_all = np.asarray(record.get("start", []), dtype=np.float64)
    end_all = np.asarray(record.get("end", []), dtype=np.float64)
    kind_all = np.asarray(record.get("kind", []), dtype=object)
    edges = {}
    for key, chosen in rows.items():
        pick = np.asarray(chosen, dtype=np.int64)
        extra = {"kind": kind_all[pick]} if EDGE_KINDS and key in REL_KINDS else {}
        edges[key] = EdgeTable(key=key, src=src_all[pick], dst=dst_all[pick], start=start_all[pick],
                               end=end_all[pick], **extra)
    return GraphExport(nodes=nodes, edges=edges)


def _with_neighbours(node_records: dict[Label, dict[str, Any]], near: dict[str, list]) -> dict[Label, dict[str, Any]]:
    """Each label's columns with its rows of `near` (internal id, label, created_at) added, their other
    columns unknown: the rows the touched nodes' relationships end at, whose own inputs are not computed."""
    rows: dict[Label, list[tuple[int, float]]] = {}
    for neo_id, name, created in zip(near["neo_id"], near["label"], near["created_at"]):
        rows.setdefault(Label(name), []).append((neo_id, created))
    out = dict(node_records)
    for label, added in rows.items():
        columns, n = dict(out.get(label) or {}), len(added)
        columns["neo_id"] = list(columns.get("neo_id", [])) + [neo_id for neo_id, _ in added]
        columns["id"] = list(columns.get("id", [])) + [""] * n
        columns["created_at"] = list(columns.get("created_at", [])) + [created for _, created in added]
        for prop, kind in NODE_COLUMNS.get(label, ()):
            columns[prop] = list(columns.get(prop, [])) + ["" if kind == "string" else np.nan] * n
        out[label] = columns
    return out


def _node_table(label: Label, record: dict[str, Any]) -> NodeTable:
    table = NodeTable(
        label=label,
        neo_ids=np.asarray(record.get("neo_id", []), dtype=np.int64),
        ids=np.asarray(record.get("id", []), dtype=object),
        created_at=np.asarray(record.get("created_at", []), dtype=np.float64),
    )
    for prop, kind in NODE_COLUMNS.get(label, ()):
        values = record.get(prop, [])
        if kind == "string":
            table.strings[prop] = np.asarray(values, dtype=object)
        else:
            table.numbers[prop] = np.asarray(values, dtype=np.float64)
    return table


def _causes(export: GraphExport, events: Sequence[Event], index: np.ndarray, target: Label, layers: int) -> list[list[str]]:
    """For each scored row, the events whose touched nodes lie within `layers` hops of it (lineage)."""
    offsets, total = {}, 0
    for label, table in export.nodes.items():
        offsets[label] = total
        total += len(table)
    global_row = {}
    for label, table in export.nodes.items():
        for row, node in enumerate(table.neo_ids.tolist()):
            global_row[node] = offsets[label] + row
    src, dst = [], []
    for (a, _, b), table in export.edges.items():
        if Label.ACTIVITY in (a, b):
            continue
        src.append(table.src + offsets[a])
        dst.append(table.dst + offsets[b])
    s = np.concatenate(src) if src else np.zeros(0, np.int64)
    d = np.concatenate(dst) if dst else np.zeros(0, np.int64)
    adjacency = sparse.csr_matrix((np.ones(2 * len(s)), (np.concatenate([s, d]), np.concatenate([d, s]))),
                                  shape=(total, total))
    hits = [(global_row[n], k) for k, event in enumerate(events) for n in event.touched if n in global_row]
    reach = sparse.csr_matrix(
        (np.ones(len(hits)), ([h[0] for h in hits], [h[1] for h in hits])), shape=(total, len(events)))
    for _ in range(layers):
        reach = ((reach + adjacency @ reach) > 0).astype(np.float64)
    rows = reach[offsets[target] + index].tolil().rows
    return [[events[k].id for k in sorted(found)] for found in rows]


def run_scorer(graph: Graph, settings: Settings, stop: threading.Event | None = None,
               scorer: IncrementalScorer | None = None) -> None:
    """The long-running scorer, until `stop`: passes back to back while events wait; when none do, the next
    poll after KGCRM_EVENTS_WINDOW, or at once when the API's wake-up hint arrives (KGCRM_EVENTS_WAKE; then
    polls only every WOKEN_POLL_SECONDS). A pass that queues actions wakes the dispatcher (KGCRM_DISPATCH_WAKE)."""
    stop = stop or threading.Event()
    scorer = scorer or IncrementalScorer(graph, settings)
    listener = WakeListener.bind(settings.events_wake_addresses, scorer.partition[0], "event wake-ups")
    dispatchers = WakeSender(settings.dispatch_wake_addresses)
    logger.info("incremental scorer started (window %.3f s, batch up to %s events)",
                settings.events_window_seconds, settings.events_max_batch)
    failures = 0
    try:
        while not stop.is_set():
            try:
                report = scorer.run_once()
                failures = 0
            except Exception:  # noqa: BLE001 - the process edge: log, back off, keep the events queued
                failures += 1
                logger.exception("rescoring pass failed (%s in a row); the events stay queued", failures)
                stop.wait(min(30.0, settings.events_window_seconds * 2 ** failures))
                continue
            if report is not None and report.applied.actions.get(PENDING):
                dispatchers.send()
            if report is None:
                if listener is not None:
                    listener.wait(max(WOKEN_POLL_SECONDS, settings.events_window_seconds), stop)
                else:
                    stop.wait(settings.events_window_seconds)
    finally:
        if listener is not None:
            listener.close()

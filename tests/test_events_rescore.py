"""Incremental rescoring on a real Neo4j: equal to a full rescoring of the same nodes, lineage, resumable queue."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import torch

from kgcrm.actions.events import ingest_ndjson, pending_count
from kgcrm.actions.policies import parse_policies
from kgcrm.actions.rescore import IncrementalScorer
from kgcrm.graph.driver import Graph
from kgcrm.graph.model import Label
from kgcrm.graph.settings import Settings
from kgcrm.ml.artifact import ModelArtifact
from kgcrm.ml.calibration import Calibrator
from kgcrm.ml.dataset import gnn_input_names, gnn_inputs, snapshot_data
from kgcrm.ml.export import export_graph
from kgcrm.ml.features import take_snapshot
from kgcrm.ml.model import IntentGNN
from kgcrm.ml.registry import ModelVersion, promote, register_model
from kgcrm.ml.score import score_task
from kgcrm.ml.tasks import load_task

from test_ml_pipeline import FIRST_CUTOFF, N_CUTOFFS, build_planted_world

AS_OF = (FIRST_CUTOFF + dt.timedelta(days=30 * N_CUTOFFS)).timestamp()
EVENT_AT = dt.datetime.fromtimestamp(AS_OF - 3600, dt.UTC).isoformat().replace("+00:00", "Z")
ACCOUNTS = 60
# Three owners, each owning every third account: an owner is the hub that puts an account's peers
# two hops away. a1 is a subsidiary of a0; contacts of a0 and a30 sit in one campaign.
HUBS = """
UNWIND range(0, 2) AS k
CREATE (u:User {id: 'u' + toString(k), role: 'rep', created_at: $born})
WITH u, k
MATCH (a:Account) WHERE toInteger(substring(a.id, 1)) % 3 = k
CREATE (u)-[:OWNS]->(a)
WITH DISTINCT 1 AS one
MATCH (a1:Account {id: 'a1'}), (a0:Account {id: 'a0'}), (c0:Contact {id: 'c0'}), (c60:Contact {id: 'c60'})
CREATE (a1)-[:SUBSIDIARY_OF]->(a0)
CREATE (k:Campaign {id: 'k1', type: 'webinar', created_at: $born})
CREATE (c0)-[:MEMBER_OF {joined_at: $born}]->(k), (c60)-[:MEMBER_OF {joined_at: $born}]->(k)
"""
# One webhook on every move of an account's score (the fault tests write it to a policies file).
POLICIES_YAML = """
policies:
  - name: any-move
    label: Account
    enter: 0.01
    rearm: 0.0
    min_delta: 0
    action: webhook
"""
POLICIES = parse_policies(POLICIES_YAML, "test policies")


@pytest.fixture
def settings(neo4j_server, tmp_path: Path) -> Settings:
    return neo4j_server.settings.model_copy(update={
        "ml_model_dir": tmp_path / "models", "ml_threads": 1, "holdout_fraction": 0.0, "ml_score_epsilon": 0.0,
    })


@pytest.fixture
def world(graph: Graph) -> Graph:
    build_planted_world(graph, -2.0, accounts=ACCOUNTS)
    graph.write(HUBS, {"born": FIRST_CUTOFF - dt.timedelta(days=365)})
    return graph


def random_production_model(graph: Graph, settings: Settings, seed: int = 0, layers: int = 2,
                            as_of: float = AS_OF) -> ModelVersion:
    """An untrained GNN of the production shape, registered and promoted: equality needs no skill."""
    task = load_task("account_intent")
    export = export_graph(graph)
    snapshot = take_snapshot(export, as_of)
    labels = [label for label, table in export.nodes.items() if label != Label.ACTIVITY and len(table)]
    names = {label: gnn_input_names(snapshot, label) for label in labels}
    norm = {}
    for label in labels:
        x = gnn_inputs(snapshot, label)
        std = x.std(axis=0)
        norm[label] = (x.mean(axis=0), np.where(std > 1e-6, std, 1.0))
    data, _ = snapshot_data(snapshot, labels, norm)
    in_dims = {label.value: len(names[label]) for label in labels}
    torch.manual_seed(seed)
    network = IntentGNN(in_dims, list(data.edge_types), task.target.value, hidden=16, layers=layers, dropout=0.0)
    artifact = ModelArtifact(task, labels, names, norm, in_dims, list(data.edge_types),
                             {"hidden": 16, "layers": layers, "dropout": 0.0}, network.state_dict(),
                             Calibrator("platt"), reference={})
    version = register_model(graph, settings, artifact, {"horizon_days": 30.0})
    return promote(graph, version.id)


def _event(event_id: str, **refs: str) -> str:
    fields = ", ".join(f'"{k}": "{v}"' for k, v in refs.items())
    return f'{{"eventId": "{event_id}", "type": "meeting", "at": "{EVENT_AT}", {fields}}}'


def _count(graph: Graph, query: str, **params) -> int:
    return graph.read(query, params)[0]["n"]


@pytest.mark.parametrize("cached", [False, True], ids=["subgraph", "embedding-cache"])
def test_incremental_scores_equal_a_full_rescoring_within_the_receptive_field(
    world: Graph, settings: Settings, cached: bool
) -> None:
    settings = settings.model_copy(update={"events_cache_seconds": 600.0 if cached else 0.0})
    model = random_production_model(world, settings)
    scorer = IncrementalScorer(world, settings, POLICIES)
    if cached:
        # The cache predates the events: the pass must update it (touched inputs, then layer by layer,
        # moving each layer's kept pre-activations by the deltas of the rows that changed).
        scorer.prime(as_of=AS_OF)
        assert scorer._caches[model.id].preact is not None
    report = ingest_ndjson(world, [_event("e1", accountId="a3", contactId="c6"), _event("e2", contactId="c0")])
    assert report.created == 2 and pending_count(world) == 2

    rescored = scorer.run_once(as_of=AS_OF)
    assert rescored is not None and sorted(rescored.events) == ["e1", "e2"]
    # The changes' own transaction marked the events done: nothing is left queued, no separate mark.
    assert rescored.changes > 0 and rescored.marked and pending_count(world) == 0
    assert "cache_build_s" not in rescored.timings and ("cache_update_s" in rescored.timings) == cached
    incremental = rescored.scores("account_intent")

    # e1 touches a3 (owner u0): a3's co-owned accounts are two hops away through u0 and must be rescored;
    # e2 touches c0 at a0: a1 (subsidiary of a0) is within two hops.
    assert {"a3", "a0", "a6", "a57", "a1"} <= set(incremental)
    # a2 (owner u2, no link to a0, a3 or the campaign) is outside every receptive field.
    assert "a2" not in incremental and "a5" not in incremental

    full = score_task(world, settings, "account_intent", version=model, as_of=AS_OF)
    full_scores = dict(zip(full.ids.tolist(), full.scores.tolist()))
    differences = [abs(score - full_scores[node]) for node, score in incremental.items()]
    assert max(differences) < 1e-5, f"largest difference {max(differences)}"

    # Each changed score is a ScoreChange made by the model and caused by the events within its reach.
    assert _count(world, "MATCH (sc:ScoreChange {cause: 'event'})-[:MADE_BY]->(:ModelVersion {id: $m}) "
                         "RETURN count(sc) AS n", m=model.id) == len(incremental)
    causes = world.read("MATCH (sc:ScoreChange {cause: 'event'})-[:ABOUT]->(a:Account) "
                        "OPTIONAL MATCH (sc)-[:CAUSED_BY]->(e:Activity) RETURN a.id AS id, collect(e.id) AS events")
    by_node = {r["id"]: sorted(r["events"]) for r in causes}
    assert by_node["a3"] == ["e1"] and by_node["a1"] == ["e2"] and by_node["a0"] == ["e1", "e2"]
    # The any-move policy fired once per change, in the same transaction as the change.
    assert _count(world, "MATCH (x:Action)-[:CAUSED_BY]->(:ScoreChange {cause: 'event'}) RETURN count(x) AS n") \
        == sum(score >= 0.01 for score in incremental.values()) > 0
    assert pending_count(world) == 0
    assert _count(world, "MATCH (e:Activity) WHERE e.id IN ['e1', 'e2'] AND e.rescored_at IS NOT NULL "
                         "RETURN count(e) AS n") == 2

    # A second pass on the state the first left (the cache carries e1 and e2): still the full answer.
    ingest_ndjson(world, [_event("e3", contactId="c60"), _event("e4", accountId="a6"), _event("e5", accountId="a2")])
    second = scorer.run_once(as_of=AS_OF)
    assert second is not None and sorted(second.events) == ["e3", "e4", "e5"]
    again = second.scores("account_intent")
    assert {"a30", "a0", "a6", "a2"} <= set(again)
    full = score_task(world, settings, "account_intent", version=model, as_of=AS_OF)
    full_scores = dict(zip(full.ids.tolist(), full.scores.tolist()))
    assert max(abs(score - full_scores[node]) for node, score in again.items()) < 1e-5


def test_the_embedding_cache_after_hundreds_of_updates_still_equals_the_models_forward_pass(
    world: Graph, settings: Settings
) -> None:
    # Pre-activations are moved by deltas, in float32: their rounding must not add up across passes.
    model = random_production_model(world, settings.model_copy(update={"events_cache_seconds": 600.0}))
    scorer = IncrementalScorer(world, settings.model_copy(update={"events_cache_seconds": 600.0}), POLICIES)
    scorer.prime(as_of=AS_OF)
    cache = scorer._caches[model.id]
    assert cache is not None and cache.preact is not None
    rng = np.random.default_rng(3)
    nodes = [(t, row) for t in cache.types for row in range(len(cache.x[t]))]
    for _ in range(300):
        picked = [nodes[k] for k in rng.choice(len(nodes), size=3, replace=False)]
        inputs = {int(cache.neo_ids[t][row]): cache.x[t][row] + torch.from_numpy(
            rng.normal(0, 0.5, cache.x[t].shape[1]).astype(np.float32)) for t, row in picked}
        cache.update(inputs, [list(inputs)])
    with torch.no_grad():
        expected = np.clip(cache.artifact.calibrator.apply(cache.network(cache.x, cache.edges).double().numpy()), 0, 1)
    assert np.max(np.abs(cache.full_scores() - expected)) < 1e-5


def test_a_replayed_event_changes_nothing_and_a_crash_before_marking_writes_nothing_twice(
    world: Graph, settings: Settings
) -> None:
    random_production_model(world, settings, seed=1)
    lines = [_event("e1", accountId="a4", contactId="c8")]
    assert ingest_ndjson(world, lines).created == 1
    scorer = IncrementalScorer(world, settings, POLICIES)
    # A scorer that dies after applying the changes but before marking the events done.
    scorer.rescore(scorer.pending(), as_of=AS_OF)
    changes = _count(world, "MATCH (sc:ScoreChange) RETURN count(sc) AS n")
    actions = _count(world, "MATCH (x:Action) RETURN count(x) AS n")
    assert changes > 0 and actions > 0 and pending_count(world) == 1

    # The restarted scorer takes the event again and finds every score already where it belongs.
    restarted = IncrementalScorer(world, settings, POLICIES).run_once(as_of=AS_OF)
    assert restarted is not None and restarted.events == ["e1"] and restarted.changes == 0
    assert _count(world, "MATCH (sc:ScoreChange) RETURN count(sc) AS n") == changes
    assert _count(world, "MATCH (x:Action) RETURN count(x) AS n") == actions
    assert pending_count(world) == 0

    # Replaying the event stores nothing, queues nothing and rescoring has nothing to do.
    replay = ingest_ndjson(world, lines)
    assert (replay.created, replay.duplicates) == (0, 1)
    assert pending_count(world) == 0
    assert IncrementalScorer(world, settings, POLICIES).run_once(as_of=AS_OF) is None
    assert _count(world, "MATCH (e:Activity {id: 'e1'}) RETURN count(e) AS n") == 1


def test_a_pass_with_more_changes_than_one_batch_commits_them_batch_by_batch_and_marks_its_events(
    world: Graph, settings: Settings
) -> None:
    # One batch is judged, applied and marked in one write transaction; more go through the batches.
    settings = settings.model_copy(update={"batch_size": 2})
    random_production_model(world, settings, seed=3)
    assert ingest_ndjson(world, [_event("b1", accountId="a3", contactId="c6")]).created == 1
    report = IncrementalScorer(world, settings, POLICIES).run_once(as_of=AS_OF)
    assert report is not None and report.changes > 2 and report.marked and pending_count(world) == 0
    assert _count(world, "MATCH (sc:ScoreChange {cause: 'event'}) RETURN count(sc) AS n") == report.changes
    assert report.applied.written == report.changes


def _partition(internal_id: int, parts: int) -> int:
    """The scorers' routing hash of an account's internal id (graph/queries/events.py, partition_of)."""
    return ((internal_id % 2147483648) * 2654435761 % 2147483648) // 65536 % parts


def test_with_partitions_a_scorer_writes_only_its_own_partitions_scores(world: Graph, settings: Settings) -> None:
    """An owner is a hub: an event at one of its accounts rescores the owner's other accounts too, and
    some are another partition's. Only a target's own partition writes its score: another scorer's view
    of that account's inputs is as old as its cache, and its write would undo what the owner stored."""
    random_production_model(world, settings, seed=3)
    internal = {r["id"]: r["n"] for r in world.read("MATCH (a:Account) RETURN a.id AS id, id(a) AS n")}
    part = _partition(internal["a3"], 2)
    changed = "MATCH (sc:ScoreChange {cause: 'event'})-[:ABOUT]->(a:Account) RETURN DISTINCT id(a) AS n"

    assert ingest_ndjson(world, [_event("h1", accountId="a3")]).created == 1
    scorer = IncrementalScorer(world, settings, POLICIES)
    scorer.partition = (part, 2)
    report = scorer.run_once(as_of=AS_OF)
    assert report is not None and report.marked and report.changes
    written = {r["n"] for r in world.read(changed)}
    assert internal["a3"] in written
    assert {_partition(n, 2) for n in written} == {part}, "a scorer wrote another partition's score"

    # One scorer for everything writes the co-owned accounts of both partitions: what the above guards.
    assert ingest_ndjson(world, [_event("h2", accountId="a3")]).created == 1
    assert IncrementalScorer(world, settings, POLICIES).run_once(as_of=AS_OF) is not None
    assert {_partition(r["n"], 2) for r in world.read(changed)} == {0, 1}


def test_partitions_split_the_queue_by_account_and_together_take_every_event_once(
    world: Graph, settings: Settings
) -> None:
    random_production_model(world, settings, seed=2)
    lines = [_event(f"p{k}", accountId=f"a{k % 12}") for k in range(36)]
    # Only a contact (c9 works at a4) or only an opportunity: routed to the account they belong to.
    deal = world.read("MATCH (o:Opportunity)-[:FOR_ACCOUNT]->(a:Account) WHERE a.id IN $ids "
                      "RETURN o.id AS id, a.id AS account ORDER BY o.id LIMIT 1", {"ids": [f"a{k}" for k in range(12)]})[0]
    lines += [_event("pc", contactId="c9"), _event("po", opportunityId=deal["id"])]
    extra = {4: {"pc"}}
    extra.setdefault(int(deal["account"][1:]), set()).add("po")
    assert ingest_ndjson(world, lines).created == 38
    halves = []
    for part in range(2):
        scorer = IncrementalScorer(world, settings, POLICIES)
        scorer.partition = (part, 2)
        halves.append({e.id for e in scorer.pending(limit=1000)})
    assert halves[0] and halves[1] and not halves[0] & halves[1]
    assert halves[0] | halves[1] == {f"p{k}" for k in range(36)} | {"pc", "po"}
    # One account's events are in one partition; the contact's and opportunity's events follow a3.
    for k in range(12):
        group = {f"p{j}" for j in range(k, 36, 12)} | extra.get(k, set())
        assert group <= halves[0] or group <= halves[1], f"a{k} split between partitions"
    # Two workers drain the queue between them; each event is rescored once.
    for part in (1, 0):
        scorer = IncrementalScorer(world, settings, POLICIES)
        scorer.partition = (part, 2)
        while scorer.run_once(as_of=AS_OF) is not None:
            pass
    assert pending_count(world) == 0
    assert _count(world, "MATCH (e:Activity) WHERE e.id STARTS WITH 'p' AND e.rescored_at IS NOT NULL "
                         "RETURN count(e) AS n") == 38

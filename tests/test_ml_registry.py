"""Registry, write-back, gate, rollback, the retrain lock and drift, on a small planted world in a real Neo4j."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import ModelError, RetrainLocked
from kgcrm.graph.model import Label
from kgcrm.graph.score_restore import restore_previous_scores
from kgcrm.graph.settings import Settings
from kgcrm.ml.artifact import load_artifact
from kgcrm.ml.drift import psi, reference_histogram
from kgcrm.ml.registry import list_models, load_model, production_model, production_models_in
from kgcrm.ml.retrain import _try_lock, retrain, retrain_lock, rollback
from kgcrm.ml.score import score_task
from kgcrm.ml.tasks import load_task
from kgcrm.ml.train import GnnConfig

from test_ml_pipeline import FIRST_CUTOFF, N_CUTOFFS, build_planted_world

KGCRM = str(Path(sys.executable).parent / "kgcrm")
# The window's test cutoff is the last planted cutoff: as of one horizon after it.
AS_OF = (FIRST_CUTOFF + dt.timedelta(days=30 * (N_CUTOFFS - 1) + 30)).timestamp()
# Every aggregation: the saved model must rebuild the same network from its hyperparameters.
TINY_GNN = GnnConfig(hidden=16, epochs=15, patience=6, seed=3, threads=1, aggr=("mean", "max", "sum"))
ACCOUNTS = 120
TASK = load_task("account_intent")


@pytest.fixture
def settings(neo4j_server, tmp_path: Path) -> Settings:
    return neo4j_server.settings.model_copy(update={
        "ml_model_dir": tmp_path / "models", "ml_cutoffs": N_CUTOFFS, "ml_threads": 1,
        # The planted signal is as easy for LightGBM as for the GNN; the baseline rule is tested apart.
        "ml_gate_baseline_margin": -1.0,
    })


@pytest.fixture
def world(graph: Graph) -> Graph:
    build_planted_world(graph, -2.0, accounts=ACCOUNTS)
    return graph


def _retrain(graph: Graph, settings: Settings, **updates):
    return retrain(graph, settings.model_copy(update=updates), TASK, config=TINY_GNN, as_of=AS_OF)


def _scores(graph: Graph) -> dict[str, tuple[float, str]]:
    rows = graph.read("MATCH (a:Account) RETURN a.id AS id, a.intent_score AS score, a.intent_model AS model")
    return {r["id"]: (r["score"], r["model"]) for r in rows}


def _drivers(graph: Graph) -> dict[str, list[str]]:
    return {r["id"]: r["drivers"] for r in graph.read("MATCH (a:Account) RETURN a.id AS id, a.intent_drivers AS drivers")}


def test_promotion_registers_the_model_writes_explained_scores_and_loads_weights_safely(world: Graph, settings: Settings) -> None:
    result = _retrain(world, settings)
    assert result.promoted, result.reason
    version = production_model(world, "account_intent")
    assert version is not None and version.id == "account_intent-v1" == result.candidate.id
    assert version.props["status"] == version.props["stage"] == "production"
    assert version.get("metrics")["auroc"] > 0.8
    assert set(version.get("baseline_metrics")) == {"LightGBM own", "LightGBM own+1hop"}
    assert version.get("data")["rows"]["test"] == ACCOUNTS and len(version.props["weights_sha256"]) == 64
    assert version.get("hyperparameters")["aggr"] == ["mean", "max", "sum"]
    assert (settings.model_dir / "account_intent-v1.pt").exists()

    row = world.read("""
        MATCH (a:Account)
        RETURN count(a) AS accounts, count(a.intent_score) AS scored,
               sum(CASE WHEN a.intent_model = 'account_intent-v1' THEN 1 ELSE 0 END) AS by_v1,
               min(a.intent_score) AS low, max(a.intent_score) AS high,
               sum(CASE WHEN a.intent_scored_at IS NOT NULL AND size(a.intent_drivers) <= 3 THEN 1 ELSE 0 END) AS explained
    """)[0]
    assert row["accounts"] == row["scored"] == row["by_v1"] == row["explained"] == ACCOUNTS
    assert 0.0 <= row["low"] < row["high"] <= 1.0
    run = world.read("MATCH (r:ScoreRun) RETURN r.scored AS scored, r.written AS written, r.model AS model")
    assert run == [{"scored": ACCOUNTS, "written": ACCOUNTS, "model": "account_intent-v1"}]
    assert world.read("MATCH (:ScoreChange)-[:ABOUT]->(:Account) RETURN count(*) AS n")[0]["n"] == ACCOUNTS

    # Rescoring unchanged data writes nothing; only moves larger than epsilon are rewritten.
    world.write("""
        MATCH (a:Account) WITH a ORDER BY a.id
        WITH collect(a) AS accounts
        FOREACH (a IN accounts[0..5] | SET a.intent_score = a.intent_score + 0.001)
        FOREACH (a IN accounts[5..8] | SET a.intent_score = a.intent_score * 0.5 + 0.3)
    """)
    again = score_task(world, settings, "account_intent", as_of=AS_OF)
    assert (again.props["scored"], again.props["written"], again.props["unchanged"]) == (ACCOUNTS, 3, ACCOUNTS - 3)
    assert world.read("MATCH (r:ScoreRun) RETURN count(r) AS n")[0]["n"] == 2

    out = subprocess.run([KGCRM, "models", "--task", "account_intent"], env={
        **_env(settings)}, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "account_intent-v1" in out.stdout and "production" in out.stdout

    # Weights are read with weights_only=True and checked against the registry's SHA-256.
    artifact = load_model(settings, version)
    assert artifact.task.name == "account_intent" and artifact.names[Label.ACCOUNT]
    path = settings.model_dir / version.props["weights_file"]
    path.write_bytes(path.read_bytes() + b"tampered")
    with pytest.raises(ModelError, match="SHA-256"):
        load_model(settings, version)
    evil = settings.model_dir / "evil.pt"
    torch.save({"format": 1, "payload": threading.Lock}, evil)  # would need unpickling a class
    with pytest.raises(ModelError, match="cannot be read safely"):
        load_artifact(evil)


def test_gate_refuses_candidates_with_reasons_and_rollback_restores_the_previous_model(
    world: Graph, settings: Settings
) -> None:
    assert _retrain(world, settings).promoted
    v1_scores, v1_drivers = _scores(world), _drivers(world)

    worse = _retrain(world, settings, ml_gate_auroc_tolerance=-0.5)
    assert not worse.promoted and "worse than production" in worse.reason
    beaten = _retrain(world, settings, ml_gate_baseline_margin=0.5)
    assert not beaten.promoted and "below the better baseline" in beaten.reason
    statuses = {v.id: (v.status, v.props.get("gate_passed"), v.props.get("gate_reason")) for v in list_models(world)}
    assert statuses["account_intent-v1"][:2] == ("production", True)
    assert statuses["account_intent-v2"][:2] == ("staged", False) and "production" in statuses["account_intent-v2"][2]
    assert statuses["account_intent-v3"][:2] == ("staged", False) and "baseline" in statuses["account_intent-v3"][2]
    assert _scores(world) == v1_scores, "a refused candidate must not touch the scores"
    # The event scorer's per-pass read: the production model only, not the registry's every version.
    assert [v.id for v in world.execute_read(production_models_in)] == ["account_intent-v1"]
    # ... and of it only what loading and running it takes (the scorer reads it every pass).
    (slim,) = world.execute_read(production_models_in)
    assert load_model(settings, slim).task.name == "account_intent" and "feature_schema" not in slim.props

    # A tiny model's ECE varies with its seed; the gate's tolerances are not what this part tests.
    lenient = settings.model_copy(update={"ml_gate_auroc_tolerance": 1.0, "ml_gate_ece_tolerance": 1.0})
    second = retrain(world, lenient, TASK, config=GnnConfig(hidden=16, epochs=15, patience=6, seed=4, threads=1),
                     as_of=AS_OF)
    assert second.promoted and second.production_before == "account_intent-v1"
    assert {model for _, model in _scores(world).values()} == {"account_intent-v4"}
    assert [v.id for v in world.execute_read(production_models_in)] == ["account_intent-v4"]

    # v4's write kept v1's score beside its own on every account.
    kept = world.read("MATCH (a:Account) RETURN a.id AS id, a.intent_previous_score AS score, "
                      "a.intent_previous_model AS model, a.intent_previous_drivers AS drivers")
    assert {r["id"]: (r["score"], r["model"]) for r in kept} == v1_scores
    assert {r["id"]: r["drivers"] for r in kept} == v1_drivers

    # A rollback interrupted after its first committed batches: a third of the accounts already swapped.
    world.write("""
        MATCH (a:Account) WITH a ORDER BY a.id LIMIT 40
        SET a.intent_score = a.intent_previous_score, a.intent_model = a.intent_previous_model,
            a.intent_drivers = a.intent_previous_drivers, a.intent_previous_model = 'account_intent-v4'
    """)
    result = rollback(world, settings, "account_intent", as_of=AS_OF)
    assert (result.restored.id, result.retired_id) == ("account_intent-v1", "account_intent-v4")
    statuses = {v.id: v.status for v in list_models(world)}
    assert statuses == {"account_intent-v1": "production", "account_intent-v2": "staged",
                        "account_intent-v3": "staged", "account_intent-v4": "retired"}
    assert [v.id for v in world.execute_read(production_models_in)] == ["account_intent-v1"]
    # The restore put v1's own stored scores and drivers back, exactly, and the rescoring had nothing to move.
    assert (result.restore["written"], result.restore["left_with_retired_model"]) == (ACCOUNTS - 40, 0)
    assert _scores(world) == v1_scores
    assert _drivers(world) == v1_drivers
    assert result.refresh is not None and result.refresh.props["written"] == 0
    restored_by = world.read("MATCH (a:Account) RETURN a.intent_restored_by AS run, count(*) AS n ORDER BY run")
    assert restored_by == [{"run": result.restore["id"], "n": ACCOUNTS - 40}, {"run": None, "n": 40}]
    assert world.read("MATCH (r:ScoreRun {kind: 'restore'}) RETURN r.model AS model, r.reason AS reason") == [
        {"model": "account_intent-v1", "reason": "rollback from account_intent-v4"}]
    # Running the restore again finds nothing left to do.
    assert restore_previous_scores(world, "account_intent", "account_intent-v4", "account_intent-v1")["written"] == 0
    assert "restore_pending_from" not in production_model(world, "account_intent").props

    # A rollback that died after its flag flip, ten accounts still showing v4: the next scoring run
    # finishes the restore before it scores, and then has nothing to move.
    world.write("""
        MATCH (a:Account) WITH a ORDER BY a.id LIMIT 10
        SET a.intent_model = 'account_intent-v4', a.intent_score = 0.5, a.intent_previous_model = 'account_intent-v1'
    """)
    world.write("MATCH (m:ModelVersion {id: 'account_intent-v1'}) SET m.restore_pending_from = 'account_intent-v4'")
    rescored = score_task(world, settings, "account_intent", as_of=AS_OF)
    assert rescored.props["written"] == 0 and _scores(world) == v1_scores
    assert world.read("MATCH (r:ScoreRun {kind: 'restore'}) RETURN r.written AS n ORDER BY r.started_at") == [
        {"n": ACCOUNTS - 40}, {"n": 0}, {"n": 10}]
    assert "restore_pending_from" not in production_model(world, "account_intent").props

    with pytest.raises(ModelError, match="no earlier production model"):
        rollback(world, settings, "account_intent", as_of=AS_OF)


def test_retrain_lock_lets_one_job_through_and_expires_after_a_crash(graph: Graph, settings: Settings) -> None:
    # Two jobs at once: exactly one takes the lock.
    results: list[bool] = []
    barrier = threading.Barrier(2)

    def contend(holder: str) -> None:
        barrier.wait()
        # A long lease: the CLI below may take a minute just to start on a busy machine.
        results.append(_try_lock(graph, "account_intent", holder, 900.0)[0])

    threads = [threading.Thread(target=contend, args=(f"job-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, True]

    # The CLI's second retrain exits cleanly with one line and its own exit code.
    out = subprocess.run([KGCRM, "retrain", "--task", "account_intent", "--quiet"], env=_env(settings),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 14, out.stderr
    assert out.stderr.startswith("kgcrm: error: another retrain of 'account_intent' holds the lock")
    assert "Traceback" not in out.stderr

    # A crashed holder stops renewing: once its lease runs out, the next job gets the lock.
    graph.write("MATCH (l:RetrainLock) SET l.expires_at = datetime() - duration({seconds: 1})")
    with retrain_lock(graph, "account_intent", lease=60.0) as holder:
        assert graph.read("MATCH (l:RetrainLock) RETURN l.holder AS h")[0]["h"] == holder
        with pytest.raises(RetrainLocked):
            with retrain_lock(graph, "account_intent", lease=60.0, wait=0.5, poll=0.1):
                pass
    assert graph.read("MATCH (l:RetrainLock) RETURN l.holder AS h")[0]["h"] is None


def test_drift_is_recorded_and_flagged_and_drivers_name_the_planted_burst(world: Graph, settings: Settings) -> None:
    rng = np.random.default_rng(0)
    reference = reference_histogram(rng.normal(0, 1, 5000))
    assert psi(reference, rng.normal(0, 1, 5000)) < 0.05
    assert psi(reference, rng.normal(1.0, 1, 5000)) > 0.25

    assert _retrain(world, settings).promoted
    # Scored as of the training window's last cutoff, the graph is the one the reference came from.
    last_cutoff = AS_OF - 30 * 86400.0
    same = score_task(world, settings, "account_intent", as_of=last_cutoff)
    assert same.props["score_psi"] < 0.01 and same.props["drift_flagged"] is False

    # Explanation sanity: the accounts about to buy had a burst of web visits by their contacts two days
    # before; engagement must be among their top drivers.
    buyers = {r["id"] for r in world.read(
        "MATCH (o:Opportunity)-[:FOR_ACCOUNT]->(a:Account) WHERE o.created_at.epochSeconds > $t RETURN DISTINCT a.id AS id",
        {"t": int(last_cutoff)})}
    groups = dict(zip(same.ids.tolist(), same.driver_groups))
    explained = ["engagement" in groups[b][:3] for b in buyers]
    assert len(buyers) > 20 and np.mean(explained) >= 0.8, np.mean(explained)
    top = same.top(5)
    assert sum(row["id"] in buyers for row in top[:3]) >= 2 and top[0]["drivers"]
    # A year later every account has gone quiet: the score distribution has moved far from training.
    later = score_task(world, settings, "account_intent", as_of=AS_OF + 365 * 86400.0)
    assert later.props["drift_flagged"] is True and later.props["score_psi"] > 0.25

    out = subprocess.run([KGCRM, "drift", "--task", "account_intent"], env=_env(settings),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "score distribution" in out.stdout and "FLAGGED" in out.stdout


def _env(settings: Settings) -> dict[str, str]:
    import os

    return {
        **os.environ, "NEO4J_URI": settings.neo4j_uri, "NEO4J_USER": settings.neo4j_user,
        "NEO4J_PASSWORD": settings.neo4j_password, "NEO4J_DATABASE": settings.neo4j_database,
        "KGCRM_MODEL_DIR": str(settings.model_dir),
    }

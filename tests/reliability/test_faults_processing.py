"""Faults: Neo4j SIGKILLed during a full rescoring, during event processing and during a replay; restarted; re-run.

Each test uses a Neo4j of its own (`killable_neo4j`, never the session's) and is soak-marked: starting
and restarting a server takes about a minute on a busy machine. The work runs as a `kgcrm` subprocess
with small batches (so a kill lands between committed batches), and the re-run must end where a clean
run ends: the same scores and counts, one ScoreChange per moved score, no duplicate Action, no event
lost or processed twice.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import KGCRM, KillableNeo4j
from kgcrm.actions.events import ingest_ndjson
from kgcrm.graph.driver import Graph
from kgcrm.graph.schema import apply_migrations
from kgcrm.graph.settings import Settings
from kgcrm.ml.score import score_task
from test_events_rescore import AS_OF, POLICIES_YAML, random_production_model
from test_ml_pipeline import build_planted_world

pytestmark = [pytest.mark.soak, pytest.mark.timeout(2400)]  # a loaded 2-core machine: minutes per re-run

ACCOUNTS = 300


def _env(server: KillableNeo4j, tmp_path: Path, **extra: str) -> dict[str, str]:
    policies = tmp_path / "policies.yaml"
    policies.write_text(POLICIES_YAML)
    return {**server.env, "KGCRM_MODEL_DIR": str(tmp_path / "models"), "KGCRM_ML_THREADS": "1",
            "KGCRM_SCORE_EPSILON": "0", "KGCRM_HOLDOUT_FRACTION": "0", "KGCRM_POLICIES_FILE": str(policies),
            # Fail fast when the server is gone, so the re-run (not the driver's retry) finishes the work.
            "KGCRM_NEO4J_MAX_RETRY_SECONDS": "3", "KGCRM_NEO4J_CONNECT_TIMEOUT": "3", **extra}


def _settings(server: KillableNeo4j, tmp_path: Path) -> Settings:
    return server.settings.model_copy(update={"ml_model_dir": tmp_path / "models", "ml_threads": 1,
                                              "holdout_fraction": 0.0, "ml_score_epsilon": 0.0})


def _world(server: KillableNeo4j, tmp_path: Path) -> str:
    """The planted world and an (untrained) production model; returns the model's id."""
    with Graph(server.settings) as graph:
        graph.verify()
        apply_migrations(graph)
        build_planted_world(graph, -2.0, accounts=ACCOUNTS)
        return random_production_model(graph, _settings(server, tmp_path)).id


def _kill_when(server: KillableNeo4j, process: subprocess.Popen[str], probe: str, params: dict[str, Any],
               enough: Callable[[int], bool]) -> str:
    """SIGKILL Neo4j as soon as `probe` counts something in progress; the child's stderr afterwards."""
    with Graph(server.settings) as graph:
        deadline = time.monotonic() + 600
        while not enough(graph.read(probe, params)[0]["n"]):
            assert process.poll() is None, f"the work ended before the kill: {process.communicate()}"
            assert time.monotonic() < deadline, "the work wrote nothing"
            time.sleep(0.02)
    server.kill9()
    _, err = process.communicate(timeout=300)
    assert process.returncode != 0, "the work finished although Neo4j was killed"
    # It ends with the one error line (a long-running scorer logs its passes at INFO before it).
    assert err.strip().splitlines()[-1].startswith("kgcrm: error: cannot reach Neo4j") and "Traceback" not in err, err
    server.restart()
    return err


def _run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _scores(graph: Graph) -> dict[str, tuple[float, str, tuple[str, ...]]]:
    rows = graph.read("MATCH (a:Account) RETURN a.id AS id, a.intent_score AS s, a.intent_model AS m, "
                      "a.intent_drivers AS d")
    return {r["id"]: (r["s"], r["m"], tuple(r["d"] or ())) for r in rows}


def _count(graph: Graph, query: str, **params: Any) -> int:
    return graph.read(query, params)[0]["n"]


def _census(graph: Graph) -> dict[str, int]:
    rows = graph.read("MATCH (n) RETURN labels(n)[0] AS l, count(*) AS c")
    rels = graph.read("MATCH ()-[r]->() RETURN type(r) AS t, count(*) AS c")
    return {**{r["l"]: r["c"] for r in rows}, **{"-" + r["t"]: r["c"] for r in rels}}


def test_neo4j_killed_mid_rescoring_then_rerun_equals_a_clean_rescoring(killable_neo4j: KillableNeo4j, tmp_path: Path) -> None:
    model = _world(killable_neo4j, tmp_path)
    as_of = dt.datetime.fromtimestamp(AS_OF, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    command = [KGCRM, "score", "--task", "account_intent", "--as-of", as_of, "--quiet"]
    env = _env(killable_neo4j, tmp_path, KGCRM_BATCH_SIZE="5")
    scoring = _run(command, env, tmp_path)
    _kill_when(killable_neo4j, scoring, "MATCH (a:Account {intent_model: $m}) RETURN count(a) AS n", {"m": model},
               lambda n: n > 0)
    with Graph(killable_neo4j.settings) as graph:
        graph.verify()
        partial = _count(graph, "MATCH (a:Account {intent_model: $m}) RETURN count(a) AS n", m=model)
        assert 0 < partial < ACCOUNTS  # committed batches survived the crash; the rest was never written
        rerun = _run(command, env, tmp_path)
        out, err = rerun.communicate(timeout=900)
        assert rerun.returncode == 0, err
        after_fault, census = _scores(graph), _census(graph)
        assert {m for _, m, _ in after_fault.values()} == {model}
        # One ScoreChange per account: the crashed run's batches are not written again by the re-run.
        assert _count(graph, "MATCH (c:ScoreChange) RETURN count(c) AS n") == ACCOUNTS
        assert _count(graph, "MATCH (a:Account) WHERE count { (:ScoreChange)-[:ABOUT]->(a) } <> 1 RETURN count(a) AS n") == 0
        assert _count(graph, "MATCH (r:ScoreRun) RETURN count(r) AS n") == 1  # the crashed run never recorded one

        # A clean rescoring of the same graph from no scores at all.
        graph.write("MATCH (n) WHERE n:ScoreChange OR n:ScoreRun DETACH DELETE n")
        graph.write("MATCH (a:Account) REMOVE a.intent_score, a.intent_model, a.intent_scored_at, a.intent_drivers, "
                    "a.intent_driver_weights")
        clean = _run(command, {**env, "KGCRM_BATCH_SIZE": "1000"}, tmp_path)
        assert clean.wait(timeout=900) == 0, clean.communicate()[1]
        assert _scores(graph) == after_fault and _census(graph) == census


def test_neo4j_killed_mid_event_processing_then_rerun_loses_no_event_and_duplicates_no_action(
    killable_neo4j: KillableNeo4j, tmp_path: Path
) -> None:
    _world(killable_neo4j, tmp_path)
    settings = _settings(killable_neo4j, tmp_path)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    events = [json.dumps({"eventId": f"ev-{i}", "type": "meeting", "at": now, "accountId": f"a{(7 * i) % ACCOUNTS}",
                          "contactId": f"c{(14 * i) % (2 * ACCOUNTS)}"}) for i in range(30)]
    with Graph(killable_neo4j.settings) as graph:
        # Production scores before the events, as of the graph's clock (2024): every score the scorer
        # rewrites as of now moves, so policies fire and Actions exist to be checked for duplicates.
        score_task(graph, settings, "account_intent")
        scored_before = {r["id"]: r["t"] for r in graph.read("MATCH (a:Account) RETURN a.id AS id, a.intent_scored_at AS t")}
        assert ingest_ndjson(graph, events).created == len(events)
    env = _env(killable_neo4j, tmp_path, KGCRM_EVENTS_MAX_BATCH="5")
    command = [KGCRM, "rescore-events", "--once"]
    processing = _run(command, env, tmp_path)
    _kill_when(killable_neo4j, processing, "MATCH (e:Activity) WHERE e.rescored_at IS NOT NULL RETURN count(e) AS n", {},
               lambda n: n >= 5)
    with Graph(killable_neo4j.settings) as graph:
        graph.verify()
        done = _count(graph, "MATCH (e:Activity) WHERE e.rescored_at IS NOT NULL RETURN count(e) AS n")
        assert 5 <= done < len(events)
        rerun = _run(command, env, tmp_path)
        out, err = rerun.communicate(timeout=900)
        assert rerun.returncode == 0, err
        # Every event processed exactly once: none pending, none lost, none stored twice.
        assert _count(graph, "MATCH (e:Activity) WHERE e.rescore_pending RETURN count(e) AS n") == 0
        assert _count(graph, "MATCH (e:Activity) WHERE e.id STARTS WITH 'ev-' AND e.rescored_at IS NOT NULL "
                             "RETURN count(e) AS n") == len(events)
        assert _count(graph, "MATCH (e:Activity) WITH e.id AS id, count(*) AS c WHERE c > 1 RETURN count(*) AS n") == 0
        # No duplicate Action or ScoreChange: ids are derived from their inputs, and each Action has one cause.
        for label in ("Action", "ScoreChange"):
            assert _count(graph, f"MATCH (x:{label}) WITH x.id AS id, count(*) AS c WHERE c > 1 RETURN count(*) AS n") == 0
        assert _count(graph, "MATCH (x:Action) WHERE count { (x)-[:CAUSED_BY]->(:ScoreChange) } <> 1 RETURN count(x) AS n") == 0
        assert _count(graph, "MATCH (x:Action) RETURN count(x) AS n") > 0
        # Every score the incremental scorer wrote equals a full rescoring of the final graph as of now
        # (what a clean run of the events ends with).
        rows = graph.read("MATCH (a:Account) RETURN a.id AS id, a.intent_score AS s, a.intent_scored_at AS t")
        rescored = {r["id"]: r["s"] for r in rows if r["t"] != scored_before[r["id"]]}
        assert rescored
        full = score_task(graph, settings, "account_intent", as_of=time.time())
        full_scores = dict(zip((str(i) for i in full.ids), full.scores.tolist()))
        worst = max(abs(rescored[k] - full_scores[k]) for k in rescored)
        assert worst < 1e-3, worst  # the clock moved by minutes between the two; recency features barely


def test_neo4j_killed_mid_replay_then_rerun_stores_each_event_once(killable_neo4j: KillableNeo4j, tmp_path: Path) -> None:
    _world(killable_neo4j, tmp_path)
    stream = tmp_path / "events.ndjson"
    rng = np.random.default_rng(3)
    stream.write_text("\n".join(json.dumps({"eventId": f"rp-{i}", "type": "web_visit", "at": "2026-01-20T10:00:00Z",
                                            "accountId": f"a{int(rng.integers(ACCOUNTS))}"}) for i in range(3000)) + "\n")
    command = [KGCRM, "replay", str(stream), "--rate", "0", "--batch-size", "20", "--quiet"]
    env = _env(killable_neo4j, tmp_path)
    replay = _run(command, env, tmp_path)
    _kill_when(killable_neo4j, replay, "MATCH (e:Activity) WHERE e.id STARTS WITH 'rp-' RETURN count(e) AS n", {},
               lambda n: n >= 100)
    with Graph(killable_neo4j.settings) as graph:
        graph.verify()
        partial = _count(graph, "MATCH (e:Activity) WHERE e.id STARTS WITH 'rp-' RETURN count(e) AS n")
        assert 100 <= partial < 3000 and partial % 20 == 0  # whole batches only: a batch is one transaction
        rerun = _run(command, env, tmp_path)
        out, err = rerun.communicate(timeout=900)
        assert rerun.returncode == 0, err
        assert f"{3000 - partial} new, {partial} already stored, 0 rejected" in out, out
        assert _count(graph, "MATCH (e:Activity) WHERE e.id STARTS WITH 'rp-' AND count { (e)-[:ABOUT]->(:Account) } = 1 "
                             "RETURN count(e) AS n") == 3000
        assert _count(graph, "MATCH (e:Activity) WITH e.id AS id, count(*) AS c WHERE c > 1 RETURN count(*) AS n") == 0
        assert _count(graph, "MATCH (e:Activity) WHERE e.id STARTS WITH 'rp-' AND e.rescore_pending "
                             "RETURN count(e) AS n") == 3000


def test_a_candidate_that_fails_the_gate_is_never_promoted_when_neo4j_dies_during_retrain(
    killable_neo4j: KillableNeo4j, tmp_path: Path
) -> None:
    """The candidate is made to fail the gate on purpose (it must beat the better baseline by a whole 1.0
    AUROC, which no model can); Neo4j is killed once the candidate is registered, while the gate runs."""
    production = _world(killable_neo4j, tmp_path)
    as_of = dt.datetime.fromtimestamp(AS_OF, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    command = [KGCRM, "retrain", "--task", "account_intent", "--as-of", as_of, "--epochs", "2", "--quiet"]
    env = _env(killable_neo4j, tmp_path, KGCRM_GATE_BASELINE_MARGIN="1.0", KGCRM_RETRAIN_LOCK_LEASE="5",
               KGCRM_ML_CUTOFFS="6")
    retraining = _run(command, env, tmp_path)
    _kill_when(killable_neo4j, retraining, "MATCH (m:ModelVersion) RETURN count(m) AS n", {}, lambda n: n >= 2)

    def registry(graph: Graph) -> dict[str, str]:
        return {r["id"]: r["status"] for r in graph.read("MATCH (m:ModelVersion) RETURN m.id AS id, m.status AS status")}

    with Graph(killable_neo4j.settings) as graph:
        graph.verify()
        after_crash = registry(graph)
        assert after_crash[production] == "production" and list(after_crash.values()).count("production") == 1
        assert all(status == "staged" for mid, status in after_crash.items() if mid != production)
        time.sleep(6)  # the crashed job's lock lease (5 s) runs out
        rerun = _run(command, env, tmp_path)
        out, err = rerun.communicate(timeout=1800)
        assert rerun.returncode == 0, err
        assert "stays staged" in out and "below the better baseline" in out, out
        final = registry(graph)
        assert final[production] == "production" and list(final.values()).count("production") == 1
        assert len(final) == len(after_crash) + 1
        # No score was written by a candidate: every account still carries the production model's scores or none.
        assert _count(graph, "MATCH (a:Account) WHERE a.intent_model IS NOT NULL AND a.intent_model <> $m "
                             "RETURN count(a) AS n", m=production) == 0


def test_neo4j_killed_mid_rollback_then_the_next_scoring_finishes_the_restore(
    killable_neo4j: KillableNeo4j, tmp_path: Path
) -> None:
    """Model A scores, B is promoted and scores over it (keeping A's scores), `kgcrm rollback` is killed
    while it copies A's scores back one node per transaction; `kgcrm score` then finishes the copy."""
    first = _world(killable_neo4j, tmp_path)
    settings = _settings(killable_neo4j, tmp_path)
    as_of = dt.datetime.fromtimestamp(AS_OF, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    with Graph(killable_neo4j.settings) as graph:
        score_task(graph, settings, "account_intent", as_of=AS_OF)
        first_scores = _scores(graph)
        second = random_production_model(graph, settings, seed=1).id
        score_task(graph, settings, "account_intent", as_of=AS_OF)
        assert {m for _, m, _ in _scores(graph).values()} == {second}
    env = _env(killable_neo4j, tmp_path, KGCRM_RESTORE_BATCH_SIZE="1")
    rolling = _run([KGCRM, "rollback", "--task", "account_intent", "--as-of", as_of, "--quiet"], env, tmp_path)
    _kill_when(killable_neo4j, rolling, "MATCH (a:Account {intent_model: $m}) RETURN count(a) AS n", {"m": first},
               lambda n: n > 0)
    with Graph(killable_neo4j.settings) as graph:
        graph.verify()
        partial = _count(graph, "MATCH (a:Account {intent_model: $m}) RETURN count(a) AS n", m=first)
        assert 0 < partial < ACCOUNTS  # committed batches survived; the rest still shows the retired model
        pending = graph.read("MATCH (m:ModelVersion {status: 'production'}) RETURN m.id AS id, "
                             "m.restore_pending_from AS pending")
        assert pending == [{"id": first, "pending": second}]
        scoring = _run([KGCRM, "score", "--task", "account_intent", "--as-of", as_of, "--quiet"], env, tmp_path)
        out, err = scoring.communicate(timeout=900)
        assert scoring.returncode == 0, err
        # Every account has A's stored score and drivers back, and A's rescoring had nothing to move.
        assert _scores(graph) == first_scores
        assert "0 written" in out, out
        assert _count(graph, "MATCH (m:ModelVersion) WHERE m.restore_pending_from IS NOT NULL RETURN count(m) AS n") == 0
        assert graph.read("MATCH (r:ScoreRun {kind: 'restore'}) RETURN r.written AS n") == [{"n": ACCOUNTS - partial}]

"""The scorer's two caches of whole-graph facts refresh in the background, never inside a pass, and lose nothing."""

from __future__ import annotations

import threading
import time

import numpy as np

from kgcrm.actions.background import BackgroundJob
from kgcrm.actions.stored_scores import StoredScores
from kgcrm.actions.vocabulary import GlobalVocabulary
from kgcrm.graph.driver import Graph
from kgcrm.graph.model import Label


class HeldReads:
    """The graph, with reads held until released: a refresh that is slow to come back."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.release = threading.Event()
        self.started = threading.Event()
        self.hold = False

    def read(self, query, params=None):
        rows = self.graph.read(query, params)
        if self.hold:
            self.started.set()
            assert self.release.wait(30)
        return rows


def _candidates(mirror: StoredScores, node: int, score: float) -> list[int]:
    return mirror.candidates("m", np.array([node]), np.array([score]), 0.0).tolist()


def test_the_stored_score_mirror_refreshes_in_the_background_and_keeps_what_was_recorded_meanwhile(
    graph: Graph,
) -> None:
    node = graph.write("CREATE (a:Account {id: 'a0', intent_score: 0.5, intent_model: 'm'}) RETURN id(a) AS n")[0]["n"]
    reads = HeldReads(graph)
    mirror = StoredScores(reads, Label.ACCOUNT)
    mirror.refresh_if_old()  # the first read is made at once
    assert _candidates(mirror, node, 0.5) == []

    graph.write("MATCH (a:Account {id: 'a0'}) SET a.intent_score = 0.6")  # another writer
    reads.hold = True
    mirror.read_at -= 3600
    started = time.monotonic()
    mirror.refresh_if_old()
    assert reads.started.wait(10) and time.monotonic() - started < 1.0 and mirror.refreshing()
    # While the refresh is out, the scorer writes 0.7: that wins over the 0.6 the refresh read.
    mirror.record({node: (0.7, "m")})
    reads.release.set()
    mirror.wait(10)
    assert not mirror.refreshing()
    assert _candidates(mirror, node, 0.7) == [] and _candidates(mirror, node, 0.6) == [0]

    # Nothing recorded meanwhile: the refresh brings another writer's score in.
    reads.hold = False
    graph.write("MATCH (a:Account {id: 'a0'}) SET a.intent_score = 0.9")
    mirror.read_at -= 3600
    mirror.refresh_if_old()
    mirror.wait(10)
    assert _candidates(mirror, node, 0.9) == []


def test_the_vocabulary_is_counted_once_then_refreshed_behind_the_callers_back(graph: Graph) -> None:
    graph.write("UNWIND range(1, 6) AS k CREATE (:Account {id: 'a' + toString(k), "
                "industry: CASE WHEN k <= 4 THEN 'Retail' ELSE 'Energy' END})")
    reads = HeldReads(graph)
    vocabulary = GlobalVocabulary(reads, ttl=3600)
    assert vocabulary.of(Label.ACCOUNT, "industry") == ["Retail", "Energy"]

    graph.write("UNWIND range(7, 12) AS k CREATE (:Account {id: 'a' + toString(k), industry: 'Energy'})")
    assert vocabulary.of(Label.ACCOUNT, "industry") == ["Retail", "Energy"]  # within the ttl: cached
    vocabulary.ttl = 0.0
    reads.hold = True
    started = time.monotonic()
    # Expired: the cached list is answered at once while the refresh reads.
    assert vocabulary.of(Label.ACCOUNT, "industry") == ["Retail", "Energy"]
    assert time.monotonic() - started < 1.0 and reads.started.wait(10)
    reads.release.set()
    vocabulary.wait(10)
    vocabulary.ttl = 3600
    assert vocabulary.of(Label.ACCOUNT, "industry") == ["Energy", "Retail"]


def test_a_background_job_runs_one_at_a_time_and_a_failure_is_logged_not_raised(caplog) -> None:
    job = BackgroundJob("test-job", "the test's cache")
    release = threading.Event()
    assert job.start(lambda: release.wait(10)) and job.running()
    assert not job.start(lambda: None)  # the first still runs: nothing started
    release.set()
    job.wait(10)

    def fail() -> None:
        raise RuntimeError("Neo4j went away")

    assert job.start(fail)
    job.wait(10)
    assert not job.running() and "refreshing the test's cache failed" in caplog.text
    assert job.start(lambda: None)  # tried again at the owner's next interval
    job.wait(10)

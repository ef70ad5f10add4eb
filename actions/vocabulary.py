"""A string column's one-hot vocabulary over the whole label (its top categories by count), for the scorer.

Why: the incremental scorer must one-hot a touched node's strings as a full export would, with the whole
label's top categories, which only Neo4j can count. The counts are cached and refreshed every `ttl`
seconds in a background thread, not inside a pass: a refresh costs tens of milliseconds, and one pass
held up that long at 200 events/s delays the few hundred events behind it past the latency's p99.
"""

from __future__ import annotations

import threading
import time

from kgcrm.actions.background import BackgroundJob
from kgcrm.graph.driver import Graph
from kgcrm.graph.model import Label
from kgcrm.graph.queries import events as q
from kgcrm.ml.features import TOP_CATEGORIES

VOCABULARY_TTL = 60.0


class GlobalVocabulary:
    """Top categories by (label, property); a column seen for the first time is counted at once."""

    def __init__(self, graph: Graph, ttl: float = VOCABULARY_TTL) -> None:
        self.graph = graph
        self.ttl = ttl
        self._lists: dict[tuple[Label, str], list[str]] = {}
        self._read_at = -float("inf")
        self._job = BackgroundJob("kgcrm-vocabulary", "the scorer's category vocabularies")
        self._lock = threading.Lock()

    def of(self, label: Label, prop: str) -> list[str]:
        if time.monotonic() - self._read_at > self.ttl:
            self._refresh_in_background()
        known = self._lists.get((label, prop))
        if known is not None:
            return known
        counted = self._count(label, prop)
        with self._lock:
            self._lists = {**self._lists, (label, prop): counted}
        return counted

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a refresh under way (tests, shutdown)."""
        self._job.wait(timeout)

    def _refresh_in_background(self) -> None:
        keys = list(self._lists)
        if not keys or self._job.start(lambda: self._refresh(keys)):
            self._read_at = time.monotonic()  # at most one refresh a ttl, even one that fails

    def _refresh(self, keys: list[tuple[Label, str]]) -> None:
        fresh = {key: self._count(*key) for key in keys}
        with self._lock:
            self._lists = {**self._lists, **fresh}

    def _count(self, label: Label, prop: str) -> list[str]:
        counts = self.graph.read(q.category_counts(label, prop))
        ranked = sorted(((r["value"], r["count"]) for r in counts), key=lambda vc: (-vc[1], vc[0]))
        return [value for value, _ in ranked[:TOP_CATEGORIES]]

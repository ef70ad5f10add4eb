"""What the incremental scorer believes is stored: each scored node's score and model, held in memory.

Why: an event on one account moves every account of its owner a little (the owner is a hub within the
model's two hops), so a pass rescored thousands of nodes and read every one's stored score back from
Neo4j to find the few that moved by more than KGCRM_SCORE_EPSILON: the largest query of the event path
(about 160 ms of Neo4j's time per pass at 200 events/s). With the stored scores mirrored here, a pass
reads back only the candidates (moved beyond epsilon from the mirror, or never scored by this model)
and writes a change only where the database agrees.

The mirror follows the scorer's own writes and is read again from Neo4j every REFRESH_SECONDS, so
another writer's scores (a batch `kgcrm score`, a second scorer, a rollback) count from the next
refresh on; until then a node such a writer moved is compared with the score the scorer saw last.
Refreshes after the first run in a background thread: reading every stored score takes ~70 ms on a
100k-node graph, and a pass held up that long at 200 events/s delays the events behind it past the
latency's p99. What the scorer records while a refresh reads wins over what the refresh read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

import numpy as np

from kgcrm.actions.background import BackgroundJob
from kgcrm.graph.driver import Graph
from kgcrm.graph.model import Label
from kgcrm.graph.queries import events as q

REFRESH_SECONDS = 60.0


class StoredScores:
    """One scored label's stored (score, model) by internal node id, as last read or written."""

    def __init__(self, graph: Graph, label: Label) -> None:
        self.graph = graph
        self.label = label
        self._by_node: dict[int, tuple[float | None, str | None]] = {}
        self.read_at = -np.inf
        self._lock = threading.Lock()
        self._during_refresh: dict[int, tuple[float | None, str | None]] | None = None
        self._job = BackgroundJob("kgcrm-stored-scores", "the scorer's stored-score mirror")

    def refresh_if_old(self, seconds: float = REFRESH_SECONDS) -> None:
        """Read the stored scores now if never read; when older than `seconds`, again in the background."""
        if self.read_at == -np.inf:
            self.refresh()
        elif time.monotonic() - self.read_at > seconds and self._job.start(self.refresh):
            self.read_at = time.monotonic()  # at most one refresh every `seconds`, even one that fails

    def refreshing(self) -> bool:
        return self._job.running()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a background refresh under way (tests, shutdown)."""
        self._job.wait(timeout)

    def refresh(self) -> None:
        with self._lock:
            self._during_refresh = {}
        try:
            record = self.graph.read(q.stored_scores(self.label))[0]
        except BaseException:
            with self._lock:
                self._during_refresh = None
            raise
        fresh = {int(node): (score, model) for node, score, model in record["scores"]}
        with self._lock:
            fresh.update(self._during_refresh or {})  # recorded while the refresh read: newer
            self._by_node, self._during_refresh = fresh, None
        self.read_at = time.monotonic()

    def candidates(self, model: str, neo_ids: np.ndarray, scores: np.ndarray, epsilon: float) -> np.ndarray:
        """Positions of the nodes whose new score may need writing: moved beyond `epsilon`, or not this model's."""
        keep = []
        for position, (node, score) in enumerate(zip(neo_ids.tolist(), scores.tolist())):
            old_score, old_model = self._by_node.get(int(node), (None, None))
            if old_score is None or old_model != model or abs(score - old_score) > epsilon:
                keep.append(position)
        return np.asarray(keep, dtype=np.int64)

    def record(self, stored: Mapping[int, tuple[float | None, str | None]]) -> None:
        """Take what is now stored for some nodes (read back, or written by this scorer)."""
        values = {int(node): value for node, value in stored.items()}
        with self._lock:
            self._by_node.update(values)
            if self._during_refresh is not None:
                self._during_refresh.update(values)

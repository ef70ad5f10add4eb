"""How long this process has spent in Python's cyclic garbage collector: the scorer logs it per pass.

Why: a full collection over a large heap (the embedding cache holds millions of objects) stalls
whatever is running; the pass log shows whether a slow pass was the collector or something else.
"""

from __future__ import annotations

import gc
import time


class CollectorClock:
    """Seconds this process has spent in Python's cyclic garbage collector (for the pass log)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._began = 0.0
        gc.callbacks.append(self._on_collection)

    def _on_collection(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._began


_collector_clock: CollectorClock | None = None


def collector_seconds() -> float:
    """Time spent in garbage collection since the first call in this process."""
    global _collector_clock
    if _collector_clock is None:
        _collector_clock = CollectorClock()
    return _collector_clock.seconds

"""One background job at a time, in a daemon thread, its failure logged: the scorer's cache refreshes.

Why: the scorer keeps copies of whole-graph facts (stored scores, category vocabularies) that take tens
of milliseconds to read again; reading them inside a pass holds up every event behind it. A failed
refresh leaves the cached copy in use and is tried again at the owner's next interval.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class BackgroundJob:
    """Starts `work` in a daemon thread unless the previous run is still going."""

    def __init__(self, name: str, what: str) -> None:
        self.name = name  # the thread's name
        self.what = what  # for the log: "refreshing <what> failed"
        self._thread: threading.Thread | None = None

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, work: Callable[[], None]) -> bool:
        """Run `work` in the background; False (nothing started) while the previous run goes on."""
        if self.running():
            return False
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True, name=self.name)
        self._thread.start()
        return True

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the run under way, if any (tests, shutdown)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, work: Callable[[], None]) -> None:
        try:
            work()
        except Exception:  # noqa: BLE001 - a background refresh: the cached copy stays in use
            logger.warning("refreshing %s failed; the cached copy stays in use", self.what, exc_info=True)

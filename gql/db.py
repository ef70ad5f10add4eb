"""The API's access to Neo4j: the process's Graph run off the event loop, each query counted and timed.

The Graph wrapper is synchronous, so queries run in a worker thread; the per-request counter is
what the N+1 test reads (through the `X-Kgcrm-Cypher-Queries` response header).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool

from kgcrm.graph.driver import Graph
from kgcrm.gql import metrics


class RequestGraph:
    """One request's view of the Graph: the caller's scope added to every query, and a query count."""

    def __init__(self, graph: Graph, scope: Mapping[str, Any]) -> None:
        self.graph = graph
        self.scope = dict(scope)
        self.queries = 0

    async def read(self, name: str, query: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a read query named `name` (for metrics) with the caller's scope as parameters."""
        return await self._run(name, self.graph.read, query, params)

    async def write(self, name: str, query: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run one idempotent write query named `name` with the caller's scope as parameters."""
        return await self._run(name, self.graph.write, query, params)

    async def _run(self, name: str, call: Any, query: str, params: Mapping[str, Any] | None) -> list[dict[str, Any]]:
        self.queries += 1
        started = time.perf_counter()
        try:
            return await run_in_threadpool(call, query, {**(params or {}), **self.scope})
        finally:
            metrics.CYPHER_SECONDS.labels(query=name).observe(time.perf_counter() - started)

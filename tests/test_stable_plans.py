"""The real-time path's statements keep one plan on the server whatever a pass's size (graph/queries/plans.py).

Neo4j keys its plan cache by the statement's text and the size class of each list parameter, and planning
a scorer pass's statements takes up to a second on a busy server: a statement marked `keep_plan` must take
every list whose length varies inside one map parameter. This test runs passes of different sizes on the
real server and checks every kept-plan statement was sent with the same top-level list lengths each time.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import neo4j
import pytest

from kgcrm.actions.events import ingest_ndjson
from kgcrm.actions.rescore import IncrementalScorer
from kgcrm.graph.driver import Graph
from kgcrm.graph.queries.plans import KEEP_PLAN
from kgcrm.graph.settings import Settings

from test_events_rescore import AS_OF, POLICIES, _event, random_production_model
from test_events_rescore import settings, world  # noqa: F401  (fixtures)


def _list_lengths(params: dict[str, Any]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted((name, len(value)) for name, value in params.items() if isinstance(value, list | tuple)))


@pytest.mark.parametrize("cached", [False, True], ids=["subgraph", "embedding-cache"])
def test_kept_plan_statements_send_the_same_list_lengths_whatever_the_pass_size(
    world: Graph, settings: Settings, monkeypatch: pytest.MonkeyPatch, cached: bool  # noqa: F811
) -> None:
    settings = settings.model_copy(update={"events_cache_seconds": 600.0 if cached else 0.0})
    random_production_model(world, settings, seed=5)
    sent: dict[str, set[tuple[tuple[str, int], ...]]] = defaultdict(set)
    run = neo4j.ManagedTransaction.run

    def recording_run(self, query, parameters=None, **kwargs):  # noqa: ANN001, ANN202
        if str(query).startswith(KEEP_PLAN):
            sent[str(query)].add(_list_lengths({**(parameters or {}), **kwargs}))
        return run(self, query, parameters, **kwargs)

    monkeypatch.setattr(neo4j.ManagedTransaction, "run", recording_run)
    scorer = IncrementalScorer(world, settings, POLICIES)
    if cached:
        scorer.prime(as_of=AS_OF)
    # One event, then a dozen: every list of a pass changes size class (one, a few, tens).
    for events in ([_event("p0", accountId="a3", contactId="c6")],
                   [_event(f"p{i}", accountId=f"a{i * 4}", contactId=f"c{i * 8}") for i in range(1, 13)]):
        assert ingest_ndjson(world, events).created == len(events)
        report = scorer.run_once(as_of=AS_OF)
        assert report is not None and report.changes > 0

    assert len(sent) >= 3, f"expected the pass's reads, writes and subgraph among {len(sent)} kept-plan statements"
    varying = {query.splitlines()[1][:60]: shapes for query, shapes in sent.items() if len(shapes) > 1}
    assert not varying, f"kept-plan statements sent with list parameters of varying length: {varying}"


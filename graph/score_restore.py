"""A rollback's fast write: the restored model's stored scores copied back in the database.

Every score write keeps the outgoing model's score, drivers and time beside the new ones when the
model changes (graph/queries/ml_registry.py `keep_previous_score`). Rolling back therefore needs no
export, inference or explanation: one batched Cypher copy per scored label puts the restored model's
values back (a million scores in well under a minute, bench/bench_rollback.py) and one ScoreRun of
kind `restore` records it. Nodes the copy cannot restore (scored only by the retired model, or last
scored by the restored one before an older model) keep their score until the rescoring that follows.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from typing import Any

from kgcrm.graph.driver import Graph
from kgcrm.graph.model import SCORED_LABELS
from kgcrm.graph.queries import ml_registry as q

logger = logging.getLogger(__name__)


def restore_previous_scores(graph: Graph, task: str, retired_id: str, restored_id: str) -> dict[str, Any]:
    """Put the restored model's stored scores back over the retired model's; returns the ScoreRun's props.

    Idempotent: a second call (after a crash midway, say) restores what the first left and records
    another run with what it did. The rollback marks the restored model `restore_pending_from` the
    retired one; this clears the mark when done, and a scoring run that finds it calls this first.
    """
    started_at = dt.datetime.now(dt.UTC)
    run_id = f"{task}-restore-{started_at.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    clock = time.perf_counter()
    restored = left = 0
    for label in SCORED_LABELS:
        restored += graph.run_batched(q.restore_previous_scores(label), {
            "retired": retired_id, "restored": restored_id, "restored_at": started_at, "run_id": run_id,
            "batch": graph.settings.restore_batch_size,
        })[0]["restored"]
        left += graph.read(q.count_scored_by(label), {"model": retired_id})[0]["n"]
    seconds = time.perf_counter() - clock
    props = {
        "id": run_id, "task": task, "kind": "restore", "model": restored_id, "reason": f"rollback from {retired_id}",
        "started_at": started_at, "scored": restored + left, "written": restored, "unchanged": left,
        "left_with_retired_model": left, "timings": f'{{"restore_s": {seconds:.3f}}}',
    }
    graph.write(q.CREATE_SCORE_RUN, {"props": props})
    graph.write(q.RESTORE_DONE, {"restored": restored_id, "retired": retired_id})
    logger.info("restored %s scores of %s in %.1f s (%s still scored by %s)", restored, restored_id, seconds, left,
                retired_id)
    return props

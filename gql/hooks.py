"""The one place the API hands events on to the rest of kgcrm.

`on_activity_recorded` is called after an activity is stored for the first time. It queues the
activity for the incremental scorer (`kgcrm rescore-events`, actions/rescore.py) with one small
write: it runs in the request, so it enqueues rather than scores, and never imports torch.
"""

import logging

from kgcrm.actions.events import queue_event
from kgcrm.graph.driver import Graph

logger = logging.getLogger(__name__)


def on_activity_recorded(graph: Graph, activity_id: str) -> None:
    """Queue the new activity for incremental rescoring of what it touches."""
    queue_event(graph, activity_id)
    logger.debug("activity queued for rescoring")

"""The one place the API hands events on to the rest of kgcrm.

`on_activity_recorded` is called after an activity is stored for the first time. Today it does
nothing; the real-time issue fills it in to queue the activity for incremental rescoring (and must
keep it cheap: it runs in the request, so it should enqueue, not score, and must not import torch).
"""

import logging

from kgcrm.graph.driver import Graph

logger = logging.getLogger(__name__)


def on_activity_recorded(graph: Graph, activity_id: str) -> None:
    """Hook for incremental rescoring of what the new activity touches (not implemented yet)."""
    logger.debug("activity %s recorded; rescoring hook not implemented yet", activity_id)

"""The one place the API hands events on to the rest of kgcrm.

`on_activity_recorded` is called after an activity is stored for the first time. The transaction
that stored it also queued it for the incremental scorer (`kgcrm rescore-events`, actions/rescore.py;
graph/queries/api_writes.py RECORD_ACTIVITY), so an event is never stored without being queued; this
hook only records that. It runs in the request: it never scores and never imports torch.
"""

import logging

from kgcrm.graph.driver import Graph

logger = logging.getLogger(__name__)


def on_activity_recorded(graph: Graph, activity_id: str) -> None:
    """The new activity is stored and queued (one transaction); nothing more to write here."""
    logger.debug("activity stored and queued for rescoring")

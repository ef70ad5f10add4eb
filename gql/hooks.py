"""The one place the API hands events and decisions on to the rest of kgcrm.

The transaction that stores an event also queues it for the incremental scorer (`kgcrm rescore-events`,
actions/rescore.py; graph/queries/api_writes.py RECORD_ACTIVITY, actions/events.py), so an event is never
stored without being queued. These hooks only wake the process that does the next step
(KGCRM_EVENTS_WAKE, KGCRM_DISPATCH_WAKE; actions/wakeup.py): a hint, never the work itself, so they
run in the request, never block, never score and never import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kgcrm.gql.context import ApiServices


def on_events_stored(services: ApiServices) -> None:
    """New events are stored and queued: the scorers may start a pass now instead of at their next poll."""
    services.notifier.notify()
    services.scorers.send()


def on_actions_due(services: ApiServices) -> None:
    """An action became due for delivery (approved): the dispatchers may deliver it now."""
    services.notifier.notify()
    services.dispatchers.send()

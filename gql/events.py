"""POST /events: bulk event ingestion as NDJSON (one recordActivity input per line), for the ingest and admin roles.

The body is parsed line by line; every valid line is stored in one transaction, idempotently by
`eventId`, and each rejected line comes back with its number, field and reason. `?atomic=true` stores
nothing when any line is rejected (422). Stored events are queued for the incremental scorer.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from kgcrm.actions.events import ingest_ndjson
from kgcrm.graph.queries.api_scope import ADMIN, INGEST
from kgcrm.gql import hooks
from kgcrm.gql.context import ApiServices, authenticate, credentials_from
from kgcrm.gql.errors import AuthenticationFailed
from kgcrm.gql.limits import BodySizeLimit

logger = logging.getLogger(__name__)

EVENTS_PATH = "/events"
INGEST_ROLES = (ADMIN, INGEST)

router = APIRouter()


@router.post(EVENTS_PATH)
async def post_events(request: Request, atomic: bool = False) -> JSONResponse:
    """Store an NDJSON batch of events; 200 with per-line rejections, or 422 when `atomic` and any line fails."""
    services: ApiServices = request.app.state.services
    try:
        principal = await authenticate(services, credentials_from(request.headers))
    except AuthenticationFailed as exc:
        raise HTTPException(status_code=401, detail=str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    if principal.role not in INGEST_ROLES:
        raise HTTPException(status_code=403, detail=f"forbidden: POST /events needs the role {' or '.join(INGEST_ROLES)}")
    body = await request.body()
    report = await run_in_threadpool(ingest_ndjson, services.graph, body.splitlines(), all_or_nothing=atomic)
    payload: dict[str, Any] = report.as_dict()
    if report.created:
        hooks.on_events_stored(services)
    status = 422 if atomic and report.rejected else 200
    payload["stored"] = status == 200
    return JSONResponse(payload, status_code=status)


class PathBodySizeLimit:
    """BodySizeLimit with its own, larger limit for POST /events (a batch of events, not one query)."""

    def __init__(self, app: ASGIApp, max_bytes: int, events_max_bytes: int) -> None:
        self.default = BodySizeLimit(app, max_bytes)
        self.events = BodySizeLimit(app, events_max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.events if scope["type"] == "http" and scope.get("path") == EVENTS_PATH else self.default
        await limit(scope, receive, send)

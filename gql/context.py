"""The request context: who is calling, their scoped view of the graph, and the request's DataLoaders."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from fastapi import HTTPException
from fastapi.requests import HTTPConnection
from starlette.concurrency import run_in_threadpool
from strawberry.fastapi import BaseContext

from kgcrm.actions.wakeup import WakeSender
from kgcrm.graph.driver import Graph
from kgcrm.graph.settings import Settings
from kgcrm.gql.auth import Authenticator, Principal
from kgcrm.gql.dataloaders import Loaders
from kgcrm.gql.db import RequestGraph
from kgcrm.gql.errors import AuthenticationFailed
from kgcrm.gql.notifier import Notifier

logger = logging.getLogger(__name__)


@dataclass
class ApiServices:
    """What the whole API process shares: settings, the Graph, the authenticator, the change notifier, and
    the wake-up hints to the scorers (events stored) and the dispatchers (actions due)."""

    settings: Settings
    graph: Graph
    authenticator: Authenticator
    notifier: Notifier
    scorers: WakeSender = field(default_factory=lambda: WakeSender([]))
    dispatchers: WakeSender = field(default_factory=lambda: WakeSender([]))


class Context(BaseContext):
    """One request's (or WebSocket connection's) context; `principal` is None only before WS connection_init."""

    def __init__(self, services: ApiServices, principal: Principal | None) -> None:
        super().__init__()
        self.services = services
        self.principal: Principal | None = None
        self.db: RequestGraph
        self.loaders: Loaders
        if principal is not None:
            self.sign_in(principal)

    def sign_in(self, principal: Principal) -> None:
        self.principal = principal
        self.db = RequestGraph(self.services.graph, principal.scope)
        self.loaders = Loaders(self.db)

    def fresh_loaders(self) -> Loaders:
        """New loaders for a long-lived subscription, so each event reads current data."""
        return Loaders(self.db)


def credentials_from(headers: dict[str, str] | object) -> str | None:
    """The bearer credential of a request or a WebSocket connection_init payload."""
    get = getattr(headers, "get")
    authorization = get("authorization") or get("Authorization")
    if authorization:
        scheme, _, value = str(authorization).partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None
    api_key = get("x-api-key") or get("X-API-Key") or get("apiKey")
    return str(api_key) if api_key else None


async def authenticate(services: ApiServices, credentials: str | None) -> Principal:
    """The request's principal: from the key cache at once, else checked in a worker thread (it may read Neo4j)."""
    if (principal := services.authenticator.cached(credentials)) is not None:
        return principal
    return await run_in_threadpool(services.authenticator.authenticate, credentials)


def _wants_graphiql(connection: HTTPConnection) -> bool:
    return (
        connection.scope["type"] == "http"
        and connection.scope.get("method") == "GET"
        and "text/html" in connection.headers.get("accept", "")
        and "query" not in connection.query_params
    )


async def get_context(connection: HTTPConnection) -> Context:
    """Authenticate an HTTP request (401 when that fails); WebSockets authenticate at connection_init."""
    services: ApiServices = connection.app.state.services
    if connection.scope["type"] == "websocket" or _wants_graphiql(connection):
        return Context(services, principal=None)
    try:
        principal = await authenticate(services, credentials_from(connection.headers))
    except AuthenticationFailed as exc:
        raise HTTPException(status_code=401, detail=str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    return Context(services, principal)

"""The API process: Strawberry's GraphQL router on FastAPI, with health, readiness and Prometheus metrics.

`create_app()` is what uvicorn serves (`kgcrm serve`); tests pass their own Settings and Graph.
"""

from __future__ import annotations

import gc

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from cross_web import HTTPException
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.types.unset import UnsetType

from kgcrm.actions.wakeup import WakeSender
from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import GraphError
from kgcrm.graph.queries import api_events
from kgcrm.graph.settings import Settings, get_settings
from kgcrm.gql import metrics
from kgcrm.gql.auth import Authenticator
from kgcrm.gql.context import ApiServices, Context, authenticate, credentials_from, get_context
from kgcrm.gql.errors import AuthenticationFailed
from kgcrm.gql.explorer import include_explorer
from kgcrm.gql.events import PathBodySizeLimit
from kgcrm.gql.events import router as events_router
from kgcrm.gql.limits import decode_request_json
from kgcrm.gql.notifier import Notifier
from kgcrm.gql.schema import build_schema, graphiql_enabled

logger = logging.getLogger(__name__)

_METRIC_PATHS = ("/graphql", "/events", "/metrics", "/healthz", "/readyz")


class KgcrmGraphQLRouter(GraphQLRouter):
    """Authenticates WebSocket connections from their connection_init payload (or handshake headers), and
    answers a mutation sent with GET with 405, as GraphQL over HTTP asks."""

    async def execute_single(self, request: Any, request_adapter: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().execute_single(request, request_adapter, *args, **kwargs)
        except HTTPException as exc:
            if request_adapter.method == "GET" and "not allowed when using GET" in exc.reason:
                raise HTTPException(405, exc.reason + "; send it with POST") from None
            raise

    def decode_json(self, data: str | bytes) -> object:
        return decode_request_json(data)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        credentials = credentials_from(params) or credentials_from(context.request.headers)
        try:
            principal = await authenticate(context.services, credentials)
        except AuthenticationFailed:
            raise ConnectionRejectionError from None
        context.sign_in(principal)
        return await super().on_ws_connect(context)


class AccessLog:
    """One structured log line and the HTTP metrics per request (no query text, no personal data)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            elapsed = time.perf_counter() - started
            path = scope["path"] if scope["path"] in _METRIC_PATHS else "other"
            metrics.HTTP_REQUESTS.labels(path=path, status=str(status)).inc()
            metrics.HTTP_SECONDS.labels(path=path).observe(elapsed)
            logger.info("%s %s %s", scope["method"], path, status, extra={"fields": {
                "method": scope["method"], "path": path, "status": status, "duration_ms": round(elapsed * 1000, 2),
            }})


def create_app(settings: Settings | None = None, graph: Graph | None = None) -> FastAPI:
    """The ASGI application; it opens (and later closes) its own Graph unless one is given."""
    settings = settings or get_settings()
    owns_graph = graph is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Everything built so far (schema, caches, imported modules) lives as long as the process:
        # keep it out of the collector's full passes, which otherwise scan it every few thousand
        # allocations and stall every request in flight (a body with 3,000 variables did it often).
        gc.freeze()
        yield
        if owns_graph:
            app.state.services.graph.close()

    app = FastAPI(title="kgcrm GraphQL API", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    live_graph = graph or Graph(settings)
    app.state.services = ApiServices(
        settings=settings, graph=live_graph, authenticator=Authenticator(live_graph, settings), notifier=Notifier(),
        scorers=WakeSender(settings.events_wake_addresses), dispatchers=WakeSender(settings.dispatch_wake_addresses),
    )
    router = KgcrmGraphQLRouter(
        build_schema(settings),
        context_getter=get_context,
        graphql_ide="graphiql" if graphiql_enabled(settings) else None,
        allow_queries_via_get=True,
    )
    app.include_router(router, prefix="/graphql")
    app.include_router(events_router)
    include_explorer(app, settings)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is up (it says nothing about Neo4j)."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Any:
        """Ready when Neo4j answers a trivial query."""
        try:
            await run_in_threadpool(live_graph.read, api_events.PING)
        except GraphError:
            logger.warning("not ready: Neo4j does not answer")
            return JSONResponse({"status": "unavailable", "neo4j": "unreachable"}, status_code=503)
        return {"status": "ok", "neo4j": "reachable"}

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(PathBodySizeLimit, max_bytes=settings.api_max_body_bytes,
                       events_max_bytes=settings.events_max_body_bytes)
    app.add_middleware(AccessLog)
    return app

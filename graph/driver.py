"""The one handle a process holds on Neo4j: database name always set, writes retried, errors translated."""

from __future__ import annotations

import atexit
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import lru_cache
from typing import Any, Concatenate, ParamSpec, TypeVar

import neo4j
from neo4j import GraphDatabase, ManagedTransaction, RoutingControl
from neo4j import exceptions as neo4j_errors

from kgcrm.graph.errors import (
    ConstraintViolation,
    GraphAuthError,
    GraphConfigError,
    GraphError,
    GraphUnavailable,
    QueryError,
)
from kgcrm.graph.settings import Settings, get_settings

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class Graph:
    """A Neo4j driver bound to one database, with kgcrm's error vocabulary at its edge.

    Reads and writes go through managed transactions, which the driver retries on transient errors
    and lost connections; transaction functions must therefore be idempotent.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.uri = settings.neo4j_uri
        self.database = settings.neo4j_database
        try:
            self._driver = GraphDatabase.driver(
                self.uri,
                auth=(settings.neo4j_user, settings.neo4j_password),
                max_transaction_retry_time=settings.max_retry_seconds,
                connection_timeout=settings.connect_timeout_seconds,
                user_agent="kgcrm",
                # "label does not exist" and the like are expected on an empty graph; "id is deprecated"
                # comes with every query that keys nodes by id(n), deliberately (the only integer node key:
                # it travels and maps far faster than elementId strings, and is never stored). The server
                # then does not compute them, and no process logs one warning per request.
                notifications_disabled_classifications=["UNRECOGNIZED", "DEPRECATION"],
            )
        except (neo4j_errors.ConfigurationError, ValueError) as exc:
            raise GraphConfigError(f"NEO4J_URI {self.uri!r} cannot be used: {exc}") from None

    def close(self) -> None:
        self._driver.close()

    def __enter__(self) -> Graph:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def verify(self) -> str:
        """Connect and authenticate once, without retrying; returns the server's agent string."""
        with self.translated_errors("verify connectivity"):
            info = self._driver.get_server_info()
        return info.agent

    def read(self, query: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a read query in a retried transaction and return its records as dictionaries."""
        return self._execute(query, params, RoutingControl.READ)

    def write(self, query: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run one write query in its own retried transaction (the query must be idempotent)."""
        return self._execute(query, params, RoutingControl.WRITE)

    def run_batched(self, query: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a `CALL { ... } IN TRANSACTIONS` query, which commits its own batches.

        Such a query needs an auto-commit transaction, which the driver does not retry: it must be
        idempotent, so that running it again completes what a lost connection interrupted.
        """
        logger.debug("batched query %s with parameters %s", _query_summary(query), sorted(params or {}))
        with self.translated_errors(_query_summary(query)):
            with self._session() as session:
                return session.run(query, dict(params or {})).data()

    def execute_write(
        self, work: Callable[Concatenate[ManagedTransaction, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run `work(tx, ...)` in one write transaction that commits whole or not at all, retried."""
        with self.translated_errors(getattr(work, "__name__", "transaction")):
            with self._session() as session, _pipelined_begin(session):
                return session.execute_write(work, *args, **kwargs)

    def execute_read(
        self, work: Callable[Concatenate[ManagedTransaction, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run `work(tx, ...)` in one read transaction, retried."""
        with self.translated_errors(getattr(work, "__name__", "transaction")):
            with self._session() as session, _pipelined_begin(session):
                return session.execute_read(work, *args, **kwargs)

    def _session(self) -> neo4j.Session:
        # Share execute_query's bookmarks so a session sees every write made through this Graph.
        return self._driver.session(
            database=self.database,
            bookmark_manager=self._driver.execute_query_bookmark_manager,
        )

    def _execute(
        self, query: str, params: Mapping[str, Any] | None, routing: RoutingControl
    ) -> list[dict[str, Any]]:
        logger.debug("query %s with parameters %s", _query_summary(query), sorted(params or {}))
        with self.translated_errors(_query_summary(query)):
            records, _, _ = self._driver.execute_query(
                query, parameters_=dict(params or {}), database_=self.database, routing_=routing
            )
        return [record.data() for record in records]

    @contextmanager
    def translated_errors(self, what: str) -> Iterator[None]:
        """Turn driver errors into kgcrm's own, each naming the URI and what was being done."""
        try:
            yield
        except neo4j_errors.AuthError:
            raise GraphAuthError(
                f"Neo4j at {self.uri} refused user {self.settings.neo4j_user!r}: "
                "wrong user name or password (set NEO4J_USER and NEO4J_PASSWORD)"
            ) from None
        except (neo4j_errors.ServiceUnavailable, neo4j_errors.SessionExpired) as exc:
            raise GraphUnavailable(
                f"cannot reach Neo4j at {self.uri} ({_first_line(exc)}); is it running? "
                "`kgcrm neo4j start` starts the local server"
            ) from None
        except neo4j_errors.ConfigurationError as exc:
            raise GraphConfigError(f"NEO4J_URI {self.uri!r} cannot be used: {exc}") from None
        except neo4j_errors.ConstraintError as exc:
            raise ConstraintViolation(f"{what} on {self.uri}: {exc.message}") from None
        except neo4j_errors.ClientError as exc:
            if exc.code == "Neo.ClientError.Database.DatabaseNotFound":
                raise GraphConfigError(
                    f"Neo4j at {self.uri} has no database {self.database!r} (set NEO4J_DATABASE)"
                ) from None
            raise QueryError(f"{what} rejected by Neo4j at {self.uri}: {exc.message}") from None
        except neo4j_errors.Neo4jError as exc:
            raise GraphError(f"{what} failed on Neo4j at {self.uri}: {exc.message}") from None
        except neo4j_errors.DriverError as exc:
            raise GraphError(f"{what} failed on Neo4j at {self.uri}: {exc}") from None


def _pipelined_begin(session: neo4j.Session) -> AbstractContextManager[Any]:
    """Within it, the session's transactions send BEGIN with their first statement instead of waiting for
    its answer first: one round trip fewer a transaction, as the driver's own `execute_query` does. On a
    busy machine a round trip is a wait for a core on both sides, and a scorer pass makes a dozen
    (bench/RESULTS.md, "Events end to end", session 14). The switch is the driver's private one, so a
    driver without it just waits for BEGIN's answer as before."""
    switch = getattr(session, "_pipelined_begin", None)
    return switch if hasattr(switch, "__enter__") and hasattr(switch, "__exit__") else nullcontext()


def _query_summary(query: str) -> str:
    """The first 80 characters of a query on one line, for logs (parameters are never logged)."""
    return " ".join(query.split())[:80]


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@lru_cache(maxsize=1)
def get_graph() -> Graph:
    """The process's one Graph, built from the process's settings and closed at exit."""
    graph = Graph(get_settings())
    atexit.register(graph.close)
    return graph

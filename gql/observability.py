"""Schema extensions that time operations, count errors and hide unexpected ones from clients."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import MaskErrors, SchemaExtension

from kgcrm.gql import metrics
from kgcrm.gql.errors import PublicError

logger = logging.getLogger(__name__)

_OPERATION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_MAX_OPERATION_NAMES = 200
_known_operations: set[str] = set()


def operation_label(name: str | None) -> str:
    """A bounded label for metrics: client-chosen names, up to a fixed number, then 'other'."""
    if not name or not _OPERATION_NAME.match(name):
        return "anonymous"
    if name in _known_operations or len(_known_operations) < _MAX_OPERATION_NAMES:
        _known_operations.add(name)
        return name
    return "other"


class OperationMetrics(SchemaExtension):
    """Latency per operation name and type, and errors by kind."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        operation_type = context.operation_type.value if context.operation_type else "unknown"
        metrics.OPERATION_SECONDS.labels(operation=operation_label(context.operation_name),
                                         type=operation_type).observe(time.perf_counter() - started)
        for error in (context.result.errors if context.result and context.result.errors else ()) or ():
            metrics.GRAPHQL_ERRORS.labels(kind=_error_kind(error)).inc()
        for error in context.pre_execution_errors or ():
            metrics.GRAPHQL_ERRORS.labels(kind="validation").inc()
        _report_query_count(context.context)


def _report_query_count(context: object) -> None:
    """Tell the client how many Cypher queries its request ran (the N+1 test reads this)."""
    db = getattr(context, "db", None)
    response = getattr(context, "response", None)
    if db is not None and response is not None:
        response.headers["X-Kgcrm-Cypher-Queries"] = str(db.queries)


def _error_kind(error: GraphQLError) -> str:
    original = error.original_error
    if original is None:
        return "validation"
    if isinstance(original, PublicError):
        return "public"
    if type(original).__name__ == "PermissionError" or "forbidden" in error.message:
        return "forbidden"
    return "unexpected"


def should_mask(error: GraphQLError) -> bool:
    """Hide everything raised by our code except PublicErrors and permission refusals."""
    original = error.original_error
    # A GraphQLError as the original is graphql-core's own (a variable's value could not be coerced).
    if original is None or isinstance(original, (PublicError, GraphQLError)):
        return False
    if error.message.startswith("forbidden"):
        return False
    logger.error("unexpected error at %s: %s", error.path, type(original).__name__, exc_info=original)
    return True


def error_masker() -> MaskErrors:
    return MaskErrors(should_mask_error=should_mask, error_message="Unexpected error.")

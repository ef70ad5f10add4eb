"""The GraphQL schema and its extensions (limits, caches, metrics, error masking), built from settings."""

from __future__ import annotations

import logging
from collections.abc import Callable

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from kgcrm.graph.settings import Settings
from kgcrm.gql.guard import DocumentGuard
from kgcrm.gql.limits import QueryCostLimiter, fragment_expansion_rule, unless_fragment_bomb
from kgcrm.gql.mutations import Mutation
from kgcrm.gql.observability import OperationMetrics, error_masker
from kgcrm.gql.queries import Query
from kgcrm.gql.subscriptions import Subscription
from kgcrm.gql.types.nodes import NODE_TYPES
from kgcrm.gql.types.scores import ModelVersion, ScoreChange
from kgcrm.gql.types.actions import Action

logger = logging.getLogger(__name__)


class KgcrmSchema(strawberry.Schema):
    """Strawberry's schema without its default error logging: a client's mistake is not a server error,
    and unexpected errors are logged once, with their stack trace, by the error masker."""

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        for error in errors:
            logger.debug("GraphQL error at %s: %s", error.path, error.message)


def introspection_enabled(settings: Settings) -> bool:
    return settings.api_introspection and not settings.api_production


def graphiql_enabled(settings: Settings) -> bool:
    return settings.api_graphiql and not settings.api_production


def build_schema(settings: Settings) -> strawberry.Schema:
    """The schema with every limit from `settings`; the SDL does not depend on them."""
    # The limits' validation rules are built once: ValidationCache keys on the rule classes, and
    # each limiter instance makes new ones, so per-request limiters would validate every query again.
    # Every field costs at least 1, so a document that expands past the cost limit is refused whatever
    # it asks for, before Strawberry's limiters walk its fragments (exponentially, on a fragment bomb).
    limit_rules = [
        fragment_expansion_rule(settings.api_max_cost),
        *unless_fragment_bomb(settings.api_max_cost, [
            *QueryDepthLimiter(max_depth=settings.api_max_depth).validation_rules,
            *MaxAliasesLimiter(max_alias_count=settings.api_max_aliases).validation_rules,
        ]),
        *QueryCostLimiter(max_cost=settings.api_max_cost).validation_rules,
    ]
    # Factories, so each request gets fresh extension instances (the caches themselves are shared).
    extensions: list[Callable[[], SchemaExtension] | type[SchemaExtension]] = [
        OperationMetrics,
        # First among the parse and validate hooks: it refuses bombs before graphql-core works on them.
        lambda: DocumentGuard(max_tokens=settings.api_max_tokens, max_fields=settings.api_max_cost),
        # Parsing and validating the same query text again is most of Strawberry's own cost.
        lambda: ParserCache(maxsize=512),
        lambda: ValidationCache(maxsize=512),
        lambda: MaxTokensLimiter(max_token_count=settings.api_max_tokens),
        lambda: AddValidationRules(limit_rules),
        error_masker,
    ]
    if not introspection_enabled(settings):
        extensions.append(DisableIntrospection)
    return KgcrmSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[*NODE_TYPES.values(), ModelVersion, ScoreChange, Action],
        extensions=extensions,
        config=StrawberryConfig(),
    )


def schema_sdl() -> str:
    """The schema's SDL, as exported to gql/schema.graphql."""
    return strawberry.Schema(
        query=Query, mutation=Mutation, subscription=Subscription,
        types=[*NODE_TYPES.values(), ModelVersion, ScoreChange, Action],
    ).as_str() + "\n"

"""Request limits beyond Strawberry's own (depth, aliases, tokens): a query cost limit and a body size limit.

Cost: every field costs 1, and what is selected under a field that takes `first` or `limit` costs
that many times over (a variable counts as the maximum, 100; an absent argument as the field's
default). This bounds the rows one request can make the database produce.
"""

from __future__ import annotations

import json
from typing import Any

from cross_web import HTTPException
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import AddValidationRules

VARIABLE_PAGE_SIZE = 100
# Variables one request may carry: the widest operation of this schema declares about ten. Thousands of
# unused ones cost nothing in GraphQL but parsing, encoding and freeing them (a measured 2x on the p99
# of other clients' queries during such a flood), so they are refused before anything else.
MAX_VARIABLES = 100
# Defaults of list fields' page-size arguments, so a query without `first` is costed as it will run.
DEFAULT_PAGE_SIZES = {
    "accounts": 20, "contacts": 50, "opportunities": 50, "actions": 20, "models": 20, "activities": 20,
    "scoreHistory": 20, "neighborhood": 50, "committee": 50, "lineItems": 50, "subsidiaries": 50,
    "reports": 50,
}
_PAGE_ARGUMENTS = ("first", "limit")


def _multiplier(field: FieldNode) -> int:
    for argument in field.arguments or ():
        if argument.name.value in _PAGE_ARGUMENTS:
            if isinstance(argument.value, IntValueNode):
                return max(1, int(argument.value.value))
            return VARIABLE_PAGE_SIZE
    return DEFAULT_PAGE_SIZES.get(field.name.value, 1)


def selection_cost(selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode],
                   seen: frozenset[str] = frozenset(), memo: dict[str, int] | None = None) -> int:
    """The cost of a selection set (fragment cycles are the validator's business; they cost nothing here).

    Each fragment is costed once (`memo`): a few hundred tokens of fragments that spread the next one
    twice would otherwise take 2^n steps, and this runs before the limits can refuse anything.
    """
    if selection_set is None:
        return 0
    memo = {} if memo is None else memo
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            total += 1 + _multiplier(selection) * selection_cost(selection.selection_set, fragments, seen, memo)
        elif isinstance(selection, InlineFragmentNode):
            total += selection_cost(selection.selection_set, fragments, seen, memo)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in seen:
                if name not in memo:
                    memo[name] = selection_cost(fragments[name].selection_set, fragments, seen | {name}, memo)
                total += memo[name]
    return total


def cost_rule(max_cost: int) -> type[ValidationRule]:
    class CostRule(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            context: ValidationContext = self.context
            fragments = {f.name.value: f for f in context.document.definitions
                         if isinstance(f, FragmentDefinitionNode)}
            cost = selection_cost(node.selection_set, fragments)
            if cost > max_cost:
                name = node.name.value if node.name else "anonymous operation"
                self.report_error(GraphQLError(
                    f"'{name}' costs {cost}, above the limit of {max_cost}: ask for fewer items (first/limit)",
                    node,
                ))

    return CostRule


class QueryCostLimiter(AddValidationRules):
    """Rejects operations whose estimated cost is above `max_cost` before anything runs."""

    def __init__(self, max_cost: int) -> None:
        super().__init__([cost_rule(max_cost)])


class BodySizeLimit:
    """Answers 413 to a request whose body is larger than `max_bytes`, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large(send, self.max_bytes)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await _too_large(send, self.max_bytes)


class _BodyTooLarge(Exception):
    pass


async def _too_large(send: Send, max_bytes: int) -> None:
    body = f'{{"detail": "request body larger than {max_bytes} bytes"}}'.encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def decode_request_json(data: str | bytes) -> object:
    """A request body's JSON, or a 400 that says what is wrong with it.

    `json.loads` alone lets through what later fails as a 500 or a masked error: bytes that are not
    UTF-8, nesting deep enough to exhaust the recursion limit, NaN and Infinity, unpaired surrogate
    escapes (which Neo4j cannot store), and a top level that is neither an object nor a batch list.
    """
    try:
        value = json.loads(data, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise HTTPException(400, "Unable to parse request body as JSON: it is not valid UTF-8") from None
    except RecursionError:
        raise HTTPException(400, "Unable to parse request body as JSON: it is nested too deeply") from None
    if not isinstance(value, (dict, list)):
        raise HTTPException(400, "The request body must be a JSON object with a `query`")
    for request in value if isinstance(value, list) else [value]:
        variables = request.get("variables") if isinstance(request, dict) else None
        if isinstance(variables, dict) and len(variables) > MAX_VARIABLES:
            raise HTTPException(400, f"A request may carry at most {MAX_VARIABLES} variables; this one has "
                                     f"{len(variables)}")
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise HTTPException(400, "Unable to parse request body as JSON: it holds an unpaired surrogate "
                                 "escape (\\ud800-\\udfff), which is not valid Unicode") from None
    except RecursionError:
        raise HTTPException(400, "Unable to parse request body as JSON: it is nested too deeply") from None
    return value


def _reject_constant(name: str) -> object:
    raise HTTPException(400, f"Unable to parse request body as JSON: {name} is not a JSON number")


def expanded_fields(document: DocumentNode) -> int:
    """How many fields the document's operations select once every fragment spread is expanded (each
    fragment counted once, memoised, so this is linear in the document)."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    memo: dict[str, int] = {}

    def size(selection_set: SelectionSetNode | None, seen: frozenset[str]) -> int:
        total = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                total += 1 + size(selection.selection_set, seen)
            elif isinstance(selection, InlineFragmentNode):
                total += size(selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in fragments and name not in seen:
                    if name not in memo:
                        memo[name] = size(fragments[name].selection_set, seen | {name})
                    total += memo[name]
        return total

    return sum(size(d.selection_set, frozenset()) for d in document.definitions
               if isinstance(d, OperationDefinitionNode))


def fragment_expansion_message(fields: int, max_fields: int) -> str:
    return f"the operation expands to {fields} fields through its fragments, above the limit of {max_fields}"


def fragment_expansion_rule(max_fields: int) -> type[ValidationRule]:
    """Refuses a document whose fragments expand to more than `max_fields` fields (a fragment bomb:
    a few hundred bytes of fragments that each spread the next one twice)."""

    class FragmentExpansionRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            fields = expanded_fields(context.document)
            if fields > max_fields:
                context.report_error(GraphQLError(fragment_expansion_message(fields, max_fields)))

    return FragmentExpansionRule


def unless_fragment_bomb(max_fields: int, rules: list[type[ValidationRule]]) -> list[type[ValidationRule]]:
    """Rules that do all their work in __init__ by walking every fragment spread again (Strawberry's depth
    and alias limiters take 2^n steps on a fragment bomb, blocking the event loop), run only on documents
    that `fragment_expansion_rule` lets through."""

    def guarded(rule: type[ValidationRule]) -> type[ValidationRule]:
        class Guarded(ValidationRule):
            def __init__(self, context: ValidationContext) -> None:
                super().__init__(context)
                if expanded_fields(context.document) <= max_fields:
                    rule(context)  # reports its errors on the context as it is built

        Guarded.__name__ = f"Guarded{rule.__name__}"
        return Guarded

    return [guarded(rule) for rule in rules]

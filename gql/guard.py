"""Cheap checks that refuse abusive GraphQL documents before graphql-core spends time on them.

graphql-core's parser costs tens of microseconds a token and recurses per nesting level, and its
overlapping-fields validation rule is quadratic in the fields of one selection set: a document that
the token, depth or cost limits refuse anyway could still hold the event loop for 100 ms to 1 s.
`DocumentGuard` runs first: before parsing, one regular-expression pass counts tokens, bracket
nesting and the names in each selection set; before validation, one walk of the document counts the fields of each selection set (through
fragments) and refuses several operations without an operationName (a request error, HTTP 400).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator
from functools import lru_cache

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError

from kgcrm.gql import metrics
from kgcrm.gql.limits import expanded_fields, fragment_expansion_message

# A selection set (with the fragments it spreads) may hold this many fields; the widest real query
# of this schema holds a few dozen. 1,900 copies of one field took graphql-core ~1 s to validate.
MAX_FIELDS_PER_SELECTION = 100
# Before parsing, a selection set is measured by the names in it (a field with an alias and two
# directives has four): past this many it is refused without being parsed (~15 ms for 1,900 fields).
MAX_NAMES_PER_SELECTION = 4 * MAX_FIELDS_PER_SELECTION
# Brackets ({, [, () open at once; the depth limit (KGCRM_API_MAX_DEPTH, 10) needs far fewer.
MAX_NESTING = 64
_CACHE_SIZE = 512

# GraphQL's lexical tokens and comments, as graphql-core's `max_tokens` counts them (commas and
# whitespace are ignored; brackets inside strings and comments do not nest).
_TOKEN = re.compile(
    r'"""(?:\\"""|[^"]|"(?!""))*"""'
    r'|"(?:\\.|[^"\\\n\r])*"'
    r"|#[^\n\r]*"
    r"|\.\.\."
    r"|[!$&():=@\[\]{|}]"
    r"|[_A-Za-z][_0-9A-Za-z]*"
    r"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"
)
_OPENING = frozenset("{[(")
_CLOSING = frozenset("}])")


class AmbiguousOperation(CannotGetOperationTypeError):
    """Several operations and no operationName: the GraphQL-over-HTTP spec calls this a request error."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(None)
        self.names = names

    def as_http_error_reason(self) -> str:
        return (f"the document holds {len(self.names)} operations ({', '.join(self.names)}): "
                "say which one to run with operationName")


@lru_cache(maxsize=_CACHE_SIZE)
def lexical_problem(query: str, max_tokens: int, max_nesting: int = MAX_NESTING) -> str | None:
    """Why `query` must not reach the parser (too many tokens, brackets nested too deep), or None.

    Stops at the token or nesting limit, so it costs at most `max_tokens` matches.
    """
    if len(query) <= max_nesting:
        return None  # too short to nest past the limit (a token count the parser's own limit still checks)
    tokens = depth = 0
    names = [0]  # names directly inside each open bracket, innermost last (the first: outside any)
    too_wide = False  # the token limit's message wins when both are passed: scanning on costs little
    for match in _TOKEN.finditer(query):
        first = query[match.start()]
        tokens += 1  # a comment counts too, as graphql-core's max_tokens counts it
        if tokens > max_tokens:
            return f"Document contains more than {max_tokens} tokens. Parsing aborted."
        if first in _OPENING:
            depth += 1
            names.append(0)
            if depth > max_nesting:
                return (f"Document is nested too deeply (more than {max_nesting} brackets open at once). "
                        "Parsing aborted.")
        elif first in _CLOSING:
            depth -= 1
            if len(names) > 1:
                names.pop()
        elif depth and (first.isalpha() or first == "_"):
            names[-1] += 1
            too_wide = too_wide or names[-1] > MAX_NAMES_PER_SELECTION
    if too_wide:
        return (f"a selection set holds more than {MAX_NAMES_PER_SELECTION} names (fields, aliases, "
                "directives): ask for each field once. Parsing aborted.")
    return None


def widest_selection(document: DocumentNode) -> int:
    """The most fields any one selection set holds, counting the fields its fragment spreads and inline
    fragments bring in (each fragment's own width is computed once, so this is linear)."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    memo: dict[str, int] = {}

    def width(selection_set: SelectionSetNode, seen: frozenset[str]) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += 1
            elif isinstance(selection, InlineFragmentNode):
                total += width(selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in fragments and name not in seen:
                    if name not in memo:
                        memo[name] = width(fragments[name].selection_set, seen | {name})
                    total += memo[name]
        return total

    widest = 0
    stack = [d.selection_set for d in document.definitions
             if isinstance(d, (OperationDefinitionNode, FragmentDefinitionNode))]
    while stack:
        selection_set = stack.pop()
        widest = max(widest, width(selection_set, frozenset()))
        for selection in selection_set.selections:
            if isinstance(selection, (FieldNode, InlineFragmentNode)) and selection.selection_set is not None:
                stack.append(selection.selection_set)
    return widest


class _ShapeCache:
    """(expanded fields, widest selection) by query text (a parsed document is not cheap to hash),
    least recently used out."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.shapes: OrderedDict[str, tuple[int, int]] = OrderedDict()

    def shape(self, query: str | None, document: DocumentNode) -> tuple[int, int]:
        found = self.shapes.get(query) if query else None
        if found is None:
            found = (expanded_fields(document), widest_selection(document))
            if query:
                self.shapes[query] = found
                if len(self.shapes) > self.size:
                    self.shapes.popitem(last=False)
        else:
            self.shapes.move_to_end(query)
        return found


_shapes = _ShapeCache(_CACHE_SIZE)


def _operation_names(document: DocumentNode) -> list[str]:
    return [d.name.value if d.name else "anonymous" for d in document.definitions
            if isinstance(d, OperationDefinitionNode)]


class DocumentGuard(SchemaExtension):
    """Runs before ParserCache and ValidationCache (put it first): refuses what graphql-core would spend
    long on, with the same message the token limit gives, and counts each refusal by reason."""

    def __init__(self, max_tokens: int, max_fields: int) -> None:
        super().__init__()
        self.max_tokens = max_tokens
        self.max_fields = max_fields

    def on_parse(self) -> Iterator[None]:
        query = self.execution_context.query
        if query and self.execution_context.graphql_document is None:
            problem = lexical_problem(query, self.max_tokens)
            if problem is not None:
                _refuse("tokens" if "tokens" in problem else "nesting" if "nested" in problem else "names")
                raise GraphQLError(problem)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            # `operation_name` falls back to the first operation's; only the one the request gave counts.
            if getattr(context, "_provided_operation_name", None) is None:
                names = _operation_names(document)
                if len(names) > 1:
                    _refuse("ambiguous_operation")
                    raise AmbiguousOperation(names)
            expanded, widest = _shapes.shape(context.query, document)
            if expanded > self.max_fields:
                _refuse("fragment_expansion")
                raise GraphQLError(fragment_expansion_message(expanded, self.max_fields))
            if widest > MAX_FIELDS_PER_SELECTION:
                _refuse("selection_width")
                raise GraphQLError(f"a selection set holds {widest} fields, above the limit of "
                                   f"{MAX_FIELDS_PER_SELECTION}: ask for each field once")
        yield


def _refuse(reason: str) -> None:
    metrics.DOCUMENTS_REFUSED.labels(reason=reason).inc()

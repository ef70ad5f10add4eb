"""Relay connections over database-side pages; totalCount runs its own count query only when asked for."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import strawberry

from kgcrm.gql.errors import InvalidArgument

NodeType = TypeVar("NodeType")
_CURSOR_PREFIX = "offset:"


def encode_cursor(offset: int) -> str:
    return base64.b64encode(f"{_CURSOR_PREFIX}{offset}".encode()).decode()


def decode_cursor(cursor: str | None) -> int:
    """The offset after the node a cursor points at; a malformed cursor is the caller's error."""
    if cursor is None:
        return 0
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
        if text.startswith(_CURSOR_PREFIX):
            offset = int(text[len(_CURSOR_PREFIX):])
            if 0 <= offset < 1_000_000:
                return offset + 1
    except (ValueError, UnicodeDecodeError):
        pass
    raise InvalidArgument("after: not a cursor this API returned")


@strawberry.type(description="Where a page stands in the whole list.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[NodeType]):
    cursor: str
    node: NodeType


@strawberry.type(description="A page of a list, in the Relay connection shape.")
class Connection(Generic[NodeType]):
    edges: list[Edge[NodeType]]
    page_info: PageInfo
    count_query: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many nodes the whole filtered list has (one count query).")
    async def total_count(self) -> int:
        return await self.count_query()


def page(nodes: list[NodeType], *, offset: int, first: int, count: Callable[[], Awaitable[int]]) -> Connection[NodeType]:
    """A Connection from up to `first + 1` fetched nodes (the extra one only tells there is a next page)."""
    shown = nodes[:first]
    edges = [Edge(cursor=encode_cursor(offset + i), node=n) for i, n in enumerate(shown)]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(nodes) > first,
            has_previous_page=offset > 0,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        count_query=count,
    )

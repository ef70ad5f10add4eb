"""What a resolver's selection asks for below it, so one query can fetch what nested fields would load."""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.types import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection


def selects(info: Info, path: Sequence[str]) -> bool:
    """Whether the field being resolved selects the nested field `path` (names as in the query),
    looking through fragments and inline fragments; directives are ignored (a skipped field counts)."""
    return any(_selects(field.selections, path) for field in info.selected_fields)


def _selects(selections: Sequence[Selection], path: Sequence[str]) -> bool:
    for selection in selections:
        if isinstance(selection, (FragmentSpread, InlineFragment)):
            if _selects(selection.selections, path):
                return True
        elif selection.name == path[0] and (len(path) == 1 or _selects(selection.selections, path[1:])):
            return True
    return False


def children_selected(info: Info, name: str) -> list[SelectedField]:
    """The fields called `name` selected directly under the field being resolved (through fragments)."""
    found: list[SelectedField] = []
    for field in info.selected_fields:
        _collect(field.selections, name, found)
    return found


def _collect(selections: Sequence[Selection], name: str, found: list[SelectedField]) -> None:
    for selection in selections:
        if isinstance(selection, (FragmentSpread, InlineFragment)):
            _collect(selection.selections, name, found)
        elif selection.name == name:
            found.append(selection)

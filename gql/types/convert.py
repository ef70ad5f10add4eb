"""Turning Neo4j records into the values GraphQL types hold, and global IDs into graph keys."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime
from typing import Any

from strawberry import relay
from strawberry.relay.types import GlobalIDValueError

from kgcrm.graph.model import Label

logger = logging.getLogger(__name__)


def native(value: Any) -> Any:
    """Neo4j temporal values to Python ones; everything else as it is."""
    to_native = getattr(value, "to_native", None)
    return to_native() if to_native is not None else value


def temporal(value: Any) -> datetime | date | None:
    """A temporal property as Python: from a driver value, or from the ISO string of Cypher's toString()
    (the API's reads send temporals as strings; graph/queries/api_read.py says why)."""
    if isinstance(value, str):
        return parse_temporal(value)
    return native(value)


def parse_temporal(text: str) -> datetime | date | None:
    """Cypher's toString() of a date or datetime: nanoseconds are cut to microseconds and a zone name
    (`...+01:00[Europe/Paris]`) is dropped, its offset kept; None (logged) if it is neither."""
    try:
        if "T" not in text:
            return date.fromisoformat(text)
        zone = text.find("[")
        if zone != -1:
            text = text[:zone]
        dot = text.find(".")
        if dot != -1:
            end = dot + 1
            while end < len(text) and text[end].isdigit():
                end += 1
            if end - dot > 7:
                text = text[:dot + 7] + text[end:]
        return datetime.fromisoformat(text)
    except ValueError:
        logger.warning("not a date or datetime: %r", text[:40])
        return None


def decode_global_id(raw: str) -> tuple[str, str] | None:
    """The (type name, key) inside a global ID, or None when `raw` is not one."""
    try:
        gid = relay.GlobalID.from_id(raw)
    except (GlobalIDValueError, ValueError, UnicodeDecodeError):
        return None
    if not gid.type_name or not gid.node_id:
        return None
    return gid.type_name, gid.node_id


def key_for(label: Label, raw: str) -> str | None:
    """The graph key an argument names: a global ID of `label`, or a plain kgcrm id; None for another type."""
    decoded = decode_global_id(raw)
    if decoded is None:
        return raw
    type_name, key = decoded
    return key if type_name == label.value else None


def global_id(label: str, key: str) -> relay.GlobalID:
    return relay.GlobalID(type_name=label, node_id=key)


def parse_json(value: Any, default: Any) -> Any:
    """A JSON-encoded property (Neo4j has no map properties); `default` when absent or malformed."""
    if value is None:
        return default
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return default
    return value

"""Turning a user's search words into a safe full-text (Lucene) query: every word escaped, prefix-matched."""

import re

from kgcrm.gql.errors import InvalidArgument

_LUCENE_SPECIAL = re.compile(r'([+\-&|!(){}\[\]^"~*?:\\/])')
MAX_WORDS = 8
MAX_LENGTH = 200


def lucene_query(text: str, field: str) -> str:
    """All of the words, each as an escaped prefix, so no input can change the query's structure."""
    if len(text) > MAX_LENGTH:
        raise InvalidArgument(f"{field}: at most {MAX_LENGTH} characters")
    words = [w for w in text.lower().split() if _LUCENE_SPECIAL.sub("", w)][:MAX_WORDS]
    if not words:
        raise InvalidArgument(f"{field}: give at least one word to search for")
    return " AND ".join(_LUCENE_SPECIAL.sub(r"\\\1", w) + "*" for w in words)

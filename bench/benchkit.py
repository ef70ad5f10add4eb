"""Small helpers every benchmark script shares."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A loopback port nothing listens on right now (for a benchmark's own Neo4j, API or receiver)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

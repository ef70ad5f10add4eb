"""Deadlines for reading a request, so that slow clients (slowloris) cannot hold connections open.

uvicorn closes idle keep-alive connections, but a request that arrives slowly has no deadline: a client
that dribbles its headers or its body a byte at a time holds a connection, a file descriptor and a
parser for as long as it likes, and enough of them exhaust the server. This HTTP protocol gives a
request's headers KGCRM_API_HEADER_TIMEOUT seconds (counted from the connection's opening or the
request's first byte) and its body KGCRM_API_BODY_TIMEOUT seconds after the headers; past either, the
client gets a 408 and the connection is closed (gracefully: see `_close_lingering`). How long the
application takes to answer is not limited here, and time in which the server itself stopped reading
(back-pressure, a pipelined request waiting its turn) does not count against the client.
"""

from __future__ import annotations

import asyncio
import logging
from functools import lru_cache
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from kgcrm.graph.settings import Settings

logger = logging.getLogger(__name__)

# How long a timed-out connection is still read (and what arrives dropped) after its 408 went out.
LINGER_S = 2.0


@lru_cache(maxsize=1)
def _configured_timeouts() -> tuple[float, float]:
    """The deadlines from the environment, read once per worker process (uvicorn builds one protocol per connection)."""
    settings = Settings.load()
    return settings.api_header_timeout_s, settings.api_body_timeout_s


def _timeout_response(message: str) -> bytes:
    body = message.encode("ascii")
    return (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
            b"content-length: " + str(len(body)).encode("ascii") + b"\r\n\r\n" + body)


class DeadlineHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on reading each request's headers and body."""

    # None: from the settings (KGCRM_API_HEADER_TIMEOUT, KGCRM_API_BODY_TIMEOUT); tests set them directly.
    header_timeout: float | None = None
    body_timeout: float | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.header_timeout is None or self.body_timeout is None:
            header, body = _configured_timeouts()
            self.header_timeout = header if self.header_timeout is None else self.header_timeout
            self.body_timeout = body if self.body_timeout is None else self.body_timeout
        self._read_deadline: asyncio.TimerHandle | None = None
        self._reading_body = False
        self._lingering: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout, "the request's headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._lingering is not None:
            self._lingering.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._lingering is not None:
            return  # the rest of a request that timed out: read only so that closing is graceful
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self.header_timeout, "the request's headers")

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._reading_body = True
        self._arm(self.body_timeout, "the request's body")

    def on_message_complete(self) -> None:
        self._reading_body = False
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._reading_body:
            # Answered before its body was read (a 401, a 413): the rest of the body is still owed.
            self._arm(self.body_timeout, "the request's body")
        else:
            self._disarm()  # uvicorn's keep-alive timeout takes over until the next request's first byte

    def handle_websocket_upgrade(self) -> None:
        self._disarm()  # the connection belongs to the WebSocket protocol from here on
        super().handle_websocket_upgrade()

    def _arm(self, seconds: float | None, what: str) -> None:
        self._disarm()
        if seconds:
            self._read_deadline = self.loop.call_later(seconds, self._expired, seconds, what)

    def _disarm(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _expired(self, seconds: float, what: str) -> None:
        self._read_deadline = None
        if self.transport.is_closing():
            return
        if self.flow is not None and self.flow.read_paused:
            self._arm(seconds, what)  # the server stopped reading, not the client: wait again
            return
        client = "%s:%d" % self.client if self.client else "a client"
        logger.warning("closing the connection of %s: %s did not arrive within %g s", client, what, seconds)
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(_timeout_response(f"{what} did not arrive within {seconds:g} s"))
        self._close_lingering()

    def _close_lingering(self) -> None:
        """Sends end-of-stream after the 408, then reads and drops what the client still sends for up to
        LINGER_S before closing.

        A socket closed with unread bytes in its buffer (the slow client kept sending) answers with a
        reset instead of an orderly end, and the client may then see "connection reset" instead of the
        408 it was sent. The client's own close ends the linger early.
        """
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the application's receive() sees a disconnect; its send() is dropped
            self.cycle.message_event.set()
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self._lingering = self.loop.call_later(LINGER_S, self.transport.close)

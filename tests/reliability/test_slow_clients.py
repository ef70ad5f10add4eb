"""Slow clients (slowloris): a request whose headers or body arrive too slowly gets a 408 and is disconnected.

`kgcrm serve` runs as a child process with deadlines of 1 s for headers and 2 s for a body; raw sockets
play the slow clients. Honest clients (keep-alive with pauses, a body sent in parts) and a slow answer
from the application must not be cut.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn

from conftest import free_port
from kgcrm.graph.driver import Graph
from kgcrm.graph.schema import apply_migrations
from kgcrm.gql.auth import create_api_key
from kgcrm.gql.slow_clients import DeadlineHttpToolsProtocol
from test_faults_api import Api

HEADER_S, BODY_S = 1.0, 2.0


@pytest.fixture(scope="module")
def api(neo4j_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    env = {**neo4j_server.env, "KGCRM_API_HEADER_TIMEOUT": str(HEADER_S), "KGCRM_API_BODY_TIMEOUT": str(BODY_S)}
    server = Api(env, tmp_path_factory.mktemp("slow-clients") / "api.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def admin_key(neo4j_server) -> str:
    with Graph(neo4j_server.settings) as graph:
        apply_migrations(graph)
        return create_api_key(graph, role="admin", name="slow-clients").secret_key


def _read_all(sock: socket.socket, limit_s: float) -> bytes:
    """Everything the server sends until it closes the connection (or `limit_s` passes)."""
    sock.settimeout(limit_s)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except TimeoutError:
        pass
    return received


def _response(sock: socket.socket) -> bytes:
    """One whole HTTP response (headers and a Content-Length body) from a keep-alive connection."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(4096)
        assert chunk, f"connection closed after {received!r}"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(4096)
    return head + b"\r\n\r\n" + body


def _dribble(port: int, head: bytes, body: bytes = b"", every_s: float = 0.1) -> tuple[bytes, float]:
    """Sends the headers, then the body, a byte every `every_s`; returns what came back and when."""
    started = time.monotonic()
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        stop = threading.Event()

        def reader() -> None:
            nonlocal answer
            answer = _read_all(sock, 10)
            stop.set()

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        try:
            for byte in head + body:
                if stop.is_set():
                    break
                sock.sendall(bytes([byte]))
                time.sleep(every_s)
        except OSError:
            pass  # closed by the server
        thread.join(timeout=15)
    return answer, time.monotonic() - started


def _slow_body(port: int, head: bytes, body: bytes, give_up_s: float) -> tuple[bytes, float, bool]:
    """Sends the headers at once, then the body a byte every 50 ms until done, closed or `give_up_s`;
    returns what came back, when, and whether the server had closed the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(head)
        closed = False
        try:
            for byte in body:
                sock.sendall(bytes([byte]))
                time.sleep(0.05)
                if time.monotonic() - started > give_up_s:
                    break
        except OSError:
            closed = True
        answer = _read_all(sock, 3)
        return answer, time.monotonic() - started, closed


def test_headers_dribbled_byte_by_byte_get_a_408(api: Api) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200 + b"\r\n\r\n"
    answer, took = _dribble(api.port, head)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"headers did not arrive within 1 s" in answer
    assert took < HEADER_S + 2


def test_a_body_dribbled_byte_by_byte_gets_a_408(api: Api, admin_key: str) -> None:
    body = b'{"query": "{ __typename }"}' + b" " * 500
    # Authenticated, so that the application waits for the body instead of refusing at the headers.
    head = (b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + admin_key.encode() + b"\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    answer, took, _ = _slow_body(api.port, head, body, give_up_s=BODY_S + 3)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"body did not arrive within 2 s" in answer
    assert took < BODY_S + 3


def test_a_body_still_dribbling_after_an_early_answer_is_cut(api: Api) -> None:
    """Refused at the headers (no credentials), the client still owes its body: the deadline still holds."""
    body = b" " * 2000
    head = (b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    answer, took, closed = _slow_body(api.port, head, body, give_up_s=BODY_S + 4)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert closed or took < BODY_S + 4, took  # the server closed the connection before the client gave up


def test_a_connection_that_never_sends_is_closed(api: Api) -> None:
    with socket.create_connection(("127.0.0.1", api.port), timeout=10) as sock:
        started = time.monotonic()
        answer = _read_all(sock, 10)
        took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408") and took < HEADER_S + 2, (answer[:200], took)


def test_honest_clients_are_not_cut(api: Api) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", api.port), timeout=10) as sock:
        for _ in range(3):  # keep-alive: pauses between requests are the keep-alive timeout's business
            sock.sendall(request)
            answer = _response(sock)
            assert answer.startswith(b"HTTP/1.1 200"), answer
            time.sleep(0.5)
        # a request in three parts, each well within the deadlines
        body = b'{"query": "{ __typename }"}'
        parts = [b"POST /graphql HTTP/1.1\r\nHost: x\r\n", b"Content-Type: application/json\r\nContent-Length: "
                 + str(len(body)).encode() + b"\r\n\r\n" + body[:10], body[10:]]
        for part in parts:
            sock.sendall(part)
            time.sleep(0.6)
        answer = _response(sock)
    # Unauthenticated, so a 401: what matters is that the request was read whole and answered.
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


class _Fast(DeadlineHttpToolsProtocol):
    header_timeout = 0.5
    body_timeout = 0.5


async def _slow_app(scope, receive, send) -> None:  # noqa: ANN001 - a bare ASGI app
    if scope["type"] != "http":
        return
    await receive()
    await asyncio.sleep(2.0)  # four times both deadlines
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4")]})
    await send({"type": "http.response.body", "body": b"done"})


@contextmanager
def _in_process(protocol: type[DeadlineHttpToolsProtocol]) -> Iterator[int]:
    """`_slow_app` served by uvicorn with `protocol` in a thread of this process; yields its port."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(_slow_app, host="127.0.0.1", port=port, http=protocol, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_slow_answer_is_not_cut() -> None:
    """The deadlines are on the client's sending; how long the application takes is not limited."""
    with _in_process(_Fast) as port, socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = _read_all(sock, 4)
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"done"), answer


class _FastOnABusyLoop(_Fast):
    """Right after a deadline's 408, the event loop is busy elsewhere for a moment (as on a loaded server)."""

    def _expired(self, seconds: float, what: str) -> None:
        super()._expired(seconds, what)
        time.sleep(0.3)


def test_a_client_still_sending_after_its_408_reads_it_and_an_orderly_end() -> None:
    """A slow client that keeps sending while the server times it out must get the 408 and then an
    orderly end of stream, not a connection reset (which many clients report instead of the 408). A
    socket closed with the client's bytes unread in it would answer with a reset."""
    with _in_process(_FastOnABusyLoop) as port, socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        received, ended = b"", threading.Event()
        reset: list[OSError] = []

        def reader() -> None:
            nonlocal received
            try:
                while chunk := sock.recv(4096):
                    received += chunk
            except OSError as error:
                reset.append(error)
            ended.set()

        threading.Thread(target=reader, daemon=True).start()
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Padding: ")
        started = time.monotonic()
        while not ended.is_set() and time.monotonic() - started < 5:
            try:
                sock.sendall(b"a")
            except OSError:
                break
            time.sleep(0.02)
        assert ended.wait(5)
    assert received.startswith(b"HTTP/1.1 408"), received[:200]
    assert not reset, f"the connection was reset instead of ended: {reset}"


def test_the_deadlines_come_from_the_settings() -> None:
    from kgcrm.graph.errors import GraphConfigError
    from kgcrm.graph.settings import Settings

    settings = Settings.load(KGCRM_API_HEADER_TIMEOUT="7", KGCRM_API_BODY_TIMEOUT="0")
    assert (settings.api_header_timeout_s, settings.api_body_timeout_s) == (7.0, 0.0)
    with pytest.raises(GraphConfigError, match="KGCRM_API_HEADER_TIMEOUT"):
        Settings.load(KGCRM_API_HEADER_TIMEOUT="-1")


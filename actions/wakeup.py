"""Wake-up hints between kgcrm's processes: a datagram says "there is work now"; polling stays the guarantee.

Why: the API, the scorer and the dispatcher are separate processes that meet only in Neo4j. Without a
hint each one polls, and every poll is a Neo4j transaction or two (about 1 ms of the server's CPU and
0.6 ms of the poller's each, bench/bench_driver.py): a dispatcher polling 50 times a second pays that
100 times a second for nothing, and a scorer waiting out its window between polls adds that window to
every event's latency. With `KGCRM_EVENTS_WAKE` the API tells
the scorers that events were stored; with `KGCRM_DISPATCH_WAKE` the scorer tells the dispatcher that
actions were committed. Each then works at once and otherwise polls at its usual interval, so a lost,
late or spurious datagram changes nothing but timing: the work itself is always found in Neo4j.

An address list is `host:port[,host:port...]` (UDP). Senders send to every address; a listener binds
one of them (the scorer of partition K/N the K-th, or the first).
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time

logger = logging.getLogger(__name__)

# The longest a listener sleeps in one go while waiting, so that a stop request is seen promptly.
STOP_CHECK_SECONDS = 0.25


class WakeSender:
    """Sends a one-byte datagram to each address; never blocks and never raises (hints are optional)."""

    def __init__(self, addresses: list[tuple[str, int]]) -> None:
        self.addresses = addresses
        self._socket: socket.socket | None = None
        self._resolved: list[tuple] = []
        self._resolved_at = -float("inf")

    def __bool__(self) -> bool:
        return bool(self.addresses)

    def send(self) -> None:
        if not self.addresses:
            return
        if time.monotonic() - self._resolved_at > 60 or not self._resolved:
            self._resolve()
        for family, address in self._resolved:
            try:
                if self._socket is None or self._socket.family != family:
                    self._socket = socket.socket(family, socket.SOCK_DGRAM)
                    self._socket.setblocking(False)
                self._socket.sendto(b"!", address)
            except OSError as exc:  # nobody listening, buffer full: the receiver's poll finds the work
                logger.debug("wake-up to %s not sent: %s", address, exc)

    def _resolve(self) -> None:
        """Names are looked up once a minute, not per datagram (a container's address may change)."""
        self._resolved_at = time.monotonic()
        resolved = []
        for host, port in self.addresses:
            try:
                info = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
                resolved.append((info[0], info[4]))
            except OSError as exc:
                logger.warning("wake-up address %s:%s cannot be resolved (%s); polling covers it", host, port, exc)
        self._resolved = resolved


class WakeListener:
    """A bound datagram socket: `wait` returns as soon as a hint arrives, else after its timeout."""

    def __init__(self, address: tuple[str, int]) -> None:
        host, port = address
        info = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        self._socket = socket.socket(info[0], socket.SOCK_DGRAM)
        self._socket.setblocking(False)
        self._socket.bind(info[4])
        self.address = self._socket.getsockname()[:2]

    @classmethod
    def bind(cls, addresses: list[tuple[str, int]], index: int = 0, what: str = "wake-ups") -> WakeListener | None:
        """The listener on `addresses[index]`, or None (logged) when there is none or it cannot be bound."""
        if index >= len(addresses):
            if addresses:
                logger.warning("no %s address for this process (%s listed); it polls only", what, len(addresses))
            return None
        try:
            listener = cls(addresses[index])
        except OSError as exc:
            logger.warning("cannot listen for %s on %s:%s (%s); polling only", what, *addresses[index], exc)
            return None
        logger.info("listening for %s on %s:%s", what, *listener.address)
        return listener

    def wait(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """Sleep until a hint arrives (True; all queued hints are consumed), `timeout` passes or `stop` is set."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or (stop is not None and stop.is_set()):
                return False
            readable, _, _ = select.select([self._socket], [], [], min(left, STOP_CHECK_SECONDS))
            if readable:
                self._drain()
                return True

    def pending(self) -> bool:
        """Whether a hint arrived since the last wait (True; consumed), without waiting."""
        readable, _, _ = select.select([self._socket], [], [], 0)
        if readable:
            self._drain()
        return bool(readable)

    def _drain(self) -> None:
        while True:
            try:
                self._socket.recv(64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return

    def close(self) -> None:
        self._socket.close()

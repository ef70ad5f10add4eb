"""A loopback webhook receiver for the benchmarks: when each webhook-id first arrived, signatures checked."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from kgcrm.actions.webhooks import verify


class Receiver:
    """Answers 204 to every POST; keeps the first arrival of each webhook-id whose signature verifies.

    `clock` stamps arrivals: time.monotonic to compare with this process's own timers, time.time to
    compare with timestamps that other processes wrote.
    """

    def __init__(self, key: bytes, clock: Callable[[], float] = time.monotonic) -> None:
        self.first_seen: dict[str, float] = {}
        self.invalid = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a production receiver: not a connection a webhook

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                now = clock()
                msg_id = self.headers.get("webhook-id", "")
                if verify(key, msg_id, self.headers.get("webhook-timestamp", "0"), body,
                          self.headers.get("webhook-signature", "")):
                    receiver.first_seen.setdefault(msg_id, now)
                else:
                    receiver.invalid += 1
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

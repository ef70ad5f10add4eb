"""Wake-up hints: the API wakes the scorer and the scorer wakes the dispatcher at once, with polling left slow.

Each end-to-end test gives the woken process a 30 s poll interval, so it can pass only if the hint works:
the event is rescored and its webhook received within seconds of the POST.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from kgcrm.actions.dispatch import Dispatcher
from kgcrm.actions.rescore import IncrementalScorer, run_scorer
from kgcrm.actions.wakeup import WakeListener, WakeSender
from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import GraphConfigError
from kgcrm.graph.settings import Settings
from kgcrm.gql.auth import create_api_key
from test_actions_dispatch import SECRET, receiver  # noqa: F401 - fixture
from test_events_rescore import POLICIES, random_production_model, world  # noqa: F401 - fixture
from test_gql_world import ApiServer, api_settings

SLOW_POLL = 30.0


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_hint_wakes_the_listener_at_once_and_its_absence_costs_only_the_timeout() -> None:
    listener = WakeListener(("127.0.0.1", 0))
    try:
        sender = WakeSender([listener.address])
        started = time.monotonic()
        assert listener.wait(0.2) is False and time.monotonic() - started >= 0.2
        for _ in range(5):  # several hints before the listener looks: one wake-up, all consumed
            sender.send()
        started = time.monotonic()
        assert listener.wait(10.0) is True and time.monotonic() - started < 1.0
        assert listener.wait(0.1) is False
        stop = threading.Event()
        threading.Timer(0.2, stop.set).start()
        started = time.monotonic()
        assert listener.wait(10.0, stop) is False and time.monotonic() - started < 1.0
    finally:
        listener.close()
    # Nobody listening, a name that does not resolve: the sender neither raises nor blocks.
    WakeSender([("127.0.0.1", _free_udp_port()), ("no-such-host.invalid", 9)]).send()


def test_wake_addresses_are_checked_when_the_settings_are_read() -> None:
    assert Settings.load(KGCRM_EVENTS_WAKE="127.0.0.1:7801, scorer-2:7802").events_wake_addresses == [
        ("127.0.0.1", 7801), ("scorer-2", 7802)]
    for bad in ("7801", "host:", "host:port", "host:70000"):
        with pytest.raises(GraphConfigError, match="KGCRM_DISPATCH_WAKE.*not host:port"):
            Settings.load(KGCRM_DISPATCH_WAKE=bad)
    # A second listener on a taken address is refused with a warning; the process then only polls.
    first = WakeListener.bind([("127.0.0.1", 0)])
    assert first is not None
    try:
        assert WakeListener.bind([first.address]) is None
    finally:
        first.close()


def test_an_event_posted_to_the_api_is_rescored_and_delivered_within_seconds_with_30_s_polls(
    world: Graph, neo4j_server, tmp_path: Path, receiver,  # noqa: F811 - fixtures
) -> None:
    hook = receiver()
    events_wake, dispatch_wake = f"127.0.0.1:{_free_udp_port()}", f"127.0.0.1:{_free_udp_port()}"
    settings = api_settings(neo4j_server.settings).model_copy(update={
        "ml_model_dir": tmp_path / "models", "ml_threads": 1, "holdout_fraction": 0.0, "ml_score_epsilon": 0.0,
        "events_window_seconds": SLOW_POLL, "dispatch_poll_seconds": SLOW_POLL,
        "events_wake": events_wake, "dispatch_wake": dispatch_wake,
        "webhook_url": hook.url, "webhook_secret": SECRET,
    })
    random_production_model(world, settings, as_of=time.time())
    key = create_api_key(world, role="ingest").secret_key
    stop = threading.Event()
    scorer = IncrementalScorer(world, settings, POLICIES)
    scorer.prime()  # the embedding cache is built before the clock starts
    threads = [threading.Thread(target=run_scorer, args=(world, settings, stop, scorer), daemon=True),
               threading.Thread(target=Dispatcher(world, settings).run, kwargs={"stop": stop}, daemon=True)]
    try:
        with ApiServer(settings, world) as api:
            for thread in threads:
                thread.start()
            time.sleep(1.0)  # both have polled once and now sleep for 30 s unless woken
            line = json.dumps({"eventId": "wake-1", "type": "web_visit", "at": "2026-01-20T10:00:00Z",
                               "accountId": "a3"})
            started = time.monotonic()
            response = httpx.post(f"{api.url}/events", content=line.encode(), timeout=30,
                                  headers={"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"})
            assert response.status_code == 200 and response.json()["created"] == 1
            rescored_at = delivered_at = None
            while time.monotonic() - started < 15 and delivered_at is None:
                if rescored_at is None and world.read(
                        "MATCH (e:Activity {id: 'wake-1'}) RETURN e.rescored_at IS NOT NULL AS done")[0]["done"]:
                    rescored_at = time.monotonic() - started
                if hook.requests:
                    delivered_at = time.monotonic() - started
                time.sleep(0.02)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert rescored_at is not None and rescored_at < 10, "the scorer was not woken by the API"
    assert delivered_at is not None and delivered_at < 10, "the dispatcher was not woken by the scorer"
    assert all(r["valid"] for r in hook.requests)

"""Abuse over real HTTP: depth, alias, token, cost and fragment bombs, batching, oversized and chunked bodies,
slow clients. Each must be refused with the right status and a clear message, and the API must keep
answering a normal query. tests/test_gql_security.py covers the plain forms of the limits; these are
the hostile shapes.

The soak-marked test measures the p99 latency of a normal query before and during an attack; its
figures are printed (run with -s), written to $KGCRM_RELIABILITY_OUT when it is set, and quoted in
docs/reliability.md. No timing is asserted in `make test`.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from test_gql_world import ApiServer, http, server, world  # noqa: F401 - fixtures

ME = "{ me { role } }"


def _fragment_bomb(levels: int) -> str:
    spreads = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels))
    return f"query {{ ...F0 }} {spreads} fragment F{levels} on Query {{ me {{ role }} }}"


def _alias_fragment_bomb(levels: int) -> str:
    spreads = " ".join(f"fragment F{i} on Query {{ a{i}: me {{ role }} ...F{i + 1} ...F{i + 1} }}" for i in range(levels))
    return f"query {{ ...F0 }} {spreads} fragment F{levels} on Query {{ me {{ role }} }}"


def _depth_bomb(levels: int) -> str:
    nested = "name"
    for _ in range(levels):
        nested = f"owner {{ accounts(first: 1) {{ edges {{ node {{ {nested} }} }} }} }}"
    return f'{{ account(id: "a1") {{ ... on Account {{ {nested} }} }} }}'


@dataclass
class Attack:
    kind: str
    body: Any  # a JSON-able request body
    status: int
    fragment: str


ATTACKS = [
    Attack("fragment bomb (2^40 fields in 500 bytes)", {"query": _fragment_bomb(40)}, 200,
           "fields through its fragments, above the limit"),
    Attack("alias bomb through fragments", {"query": _alias_fragment_bomb(30)}, 200, "fields through its fragments"),
    Attack("fragment cycle", {"query": "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A me { role } }"},
           200, "Cannot spread fragment"),
    Attack("depth bomb (200 levels)", {"query": _depth_bomb(200)}, 200, "nested too deeply"),
    Attack("depth bomb within the token limit", {"query": _depth_bomb(12)}, 200, "exceeds maximum operation depth"),
    Attack("alias bomb (1000 aliases)", {"query": "{ " + " ".join(f"a{i}: me {{ role }}" for i in range(1000)) + " }"},
           200, "token"),
    Attack("field duplication bomb", {"query": "{ me { " + "role " * 1900 + "} }"}, 200, ""),
    Attack("directive bomb", {"query": "{ me " + "@include(if: true) " * 400 + "{ role } }"}, 200, "token"),
    Attack("cost bomb with variables", {"query": "query($n: Int!) { accounts(first: $n) { edges { node { contacts(first: $n) "
                                                 "{ opportunities(first: $n) { name } } } } } }", "variables": {"n": 100}},
           200, "above the limit"),
    Attack("batch of 500 operations", [{"query": ME}] * 500, 400, "atch"),
    Attack("oversized body", {"query": ME, "variables": {"pad": "x" * 200_000}}, 413, "larger than"),
    Attack("many variables", {"query": ME, "variables": {f"v{i}": i for i in range(3000)}}, 400, "at most 100 variables"),
    Attack("thousands of unused fragments", {"query": ME + " " + " ".join(f"fragment U{i} on Query {{ me {{ role }} }}"
                                                                      for i in range(300))}, 200, "token"),
]


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.kind for a in ATTACKS])
def test_attacks_are_refused_with_a_clear_message_and_the_api_keeps_answering(http: httpx.Client, world: Any,
                                                                            attack: Attack) -> None:
    headers = {"Authorization": f"Bearer {world.keys['admin']}", "content-type": "application/json"}
    started = time.monotonic()
    response = http.post("/graphql", content=json.dumps(attack.body), headers=headers)
    elapsed = time.monotonic() - started
    print(f"{attack.kind}: {response.status_code} in {elapsed * 1000:.0f} ms")  # figures for docs/reliability.md
    assert response.status_code == attack.status, response.text[:300]
    assert attack.fragment in response.text, response.text[:300]
    if attack.status == 200:
        body = response.json()
        assert body.get("errors") and not body.get("data"), body
    normal = http.post("/graphql", json={"query": ME}, headers=headers)
    assert normal.status_code == 200 and normal.json() == {"data": {"me": {"role": "admin"}}}


def test_a_chunked_body_without_length_is_cut_off_at_the_limit(http: httpx.Client, world: Any) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"query": "{ me { role } }", "variables": {"pad": "'
        for _ in range(100):
            yield b"x" * 4096
        yield b'"}}'

    response = http.post("/graphql", content=chunks(), headers={"Authorization": f"Bearer {world.keys['admin']}",
                                                                 "content-type": "application/json"})
    assert response.status_code == 413 and "larger than" in response.text


def _slow_client(port: int, stop: threading.Event, sent: list[int]) -> None:
    """Sends a request's headers one byte at a time, then dribbles its body, until told to stop."""
    request = (b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            for byte in request:
                if stop.is_set():
                    return
                sock.sendall(bytes([byte]))
                sent[0] += 1
                time.sleep(0.01)
            while not stop.is_set():
                sock.sendall(b" ")
                sent[0] += 1
                time.sleep(0.05)
    except OSError:
        return  # the server closed the connection: fine


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def test_slow_clients_do_not_stop_normal_queries(server: ApiServer, http: httpx.Client, world: Any) -> None:
    stop = threading.Event()
    sent = [0]
    clients = [threading.Thread(target=_slow_client, args=(server.port, stop, sent), daemon=True) for _ in range(50)]
    for client in clients:
        client.start()
    try:
        time.sleep(1.0)
        headers = {"Authorization": f"Bearer {world.keys['admin']}"}
        for _ in range(10):
            response = http.post("/graphql", json={"query": ME}, headers=headers, timeout=30)
            assert response.status_code == 200 and response.json()["data"]["me"]["role"] == "admin"
        assert sent[0] > 0
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=10)


NORMAL = "{ accounts(first: 10) { totalCount edges { node { id name score { value } } } } }"


def _latencies(url: str, key: str, seconds: float) -> list[float]:
    found: list[float] = []
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=url, timeout=60) as client:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            response = client.post("/graphql", json={"query": NORMAL}, headers={"Authorization": f"Bearer {key}"})
            found.append(time.perf_counter() - started)
            assert response.status_code == 200 and "errors" not in response.json()
    return found


def _attacker(url: str, key: str, attack: Attack, stop: Any, count: Any, wrong: Any) -> None:
    """One attacking process: posts the attack until told to stop, counting requests and wrong statuses.

    A process, not a thread of the measuring one: the attacker's own JSON encoding and HTTP work must
    not take the measuring client's interpreter lock, or the measured latency is the client's.
    """
    body = json.dumps(attack.body)
    with httpx.Client(base_url=url, timeout=60) as client:
        while not stop.is_set():
            response = client.post("/graphql", content=body,
                                   headers={"Authorization": f"Bearer {key}", "content-type": "application/json"})
            with count.get_lock():
                count.value += 1
            if response.status_code != attack.status:
                with wrong.get_lock():
                    wrong.value += 1


@pytest.mark.soak
def test_p99_of_a_normal_query_during_each_attack_against_its_baseline(server: ApiServer, world: Any) -> None:
    seconds = float(os.environ.get("KGCRM_ABUSE_SECONDS", "20"))
    key = world.keys["alice"]
    results: dict[str, Any] = {"seconds_per_phase": seconds, "load_average": os.getloadavg(), "phases": []}
    baseline = _latencies(server.url, key, seconds)
    results["phases"].append({"attack": "none (baseline)", "requests": len(baseline),
                              "p50_ms": statistics.median(baseline) * 1000, "p99_ms": _p(baseline, 0.99) * 1000})
    forked = multiprocessing.get_context("fork")
    for attack in ATTACKS + [Attack("50 slow clients", None, 0, "")]:
        count, wrong = forked.Value("l", 0), forked.Value("l", 0)
        if attack.body is None:
            stop: Any = threading.Event()
            sent = [0]
            workers: list[Any] = [threading.Thread(target=_slow_client, args=(server.port, stop, sent), daemon=True)
                                  for _ in range(50)]
        else:
            stop = forked.Event()
            workers = [forked.Process(target=_attacker, args=(server.url, world.keys["admin"], attack, stop, count, wrong),
                                      daemon=True) for _ in range(2)]
        for worker in workers:
            worker.start()
        time.sleep(1.0)  # past the forks' start-up (copy-on-write faults in this big process): the attack's steady state
        try:
            during = _latencies(server.url, key, seconds)
        finally:
            stop.set()
            for worker in workers:
                worker.join(timeout=30)
        assert wrong.value == 0, f"{attack.kind}: {wrong.value} attack requests got another status than {attack.status}"
        results["phases"].append({"attack": attack.kind, "attack_requests": count.value,
                                  "requests": len(during), "p50_ms": statistics.median(during) * 1000,
                                  "p99_ms": _p(during, 0.99) * 1000,
                                  "p99_ratio": _p(during, 0.99) / _p(baseline, 0.99)})
    out = os.environ.get("KGCRM_RELIABILITY_OUT")
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    print(json.dumps(results, indent=2))

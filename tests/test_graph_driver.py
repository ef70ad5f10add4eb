"""The driver wrapper against the real server: retried writes across a restart, translated errors."""

import socket

import pytest

from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import GraphAuthError, GraphConfigError, GraphUnavailable, QueryError
from kgcrm.graph.settings import Settings


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.restarts_server
def test_a_write_interrupted_by_a_server_restart_is_retried_and_commits_once(graph: Graph, neo4j_server) -> None:
    if neo4j_server.local is None:
        pytest.skip("restarting needs the test run's own server; NEO4J_URI points at another one")
    attempts: list[int] = []

    def create_probe(tx) -> None:
        attempts.append(len(attempts) + 1)
        tx.run("CREATE (:RestartProbe {id: $id, attempt: $attempt})", id="probe", attempt=len(attempts)).consume()
        if len(attempts) == 1:
            # The server dies with this transaction open and uncommitted, then comes back.
            neo4j_server.local.kill()
            neo4j_server.local.start()

    # The retry window counts from the first attempt, which here includes a whole server restart:
    # give it room so a slow, busy machine tests the retry, not its own speed.
    patient = neo4j_server.settings.model_copy(update={"max_retry_seconds": 600.0})
    try:
        with Graph(patient) as restarting:
            restarting.execute_write(create_probe)
    finally:
        neo4j_server.local.start()  # no-op when running; later tests need the server whatever happened

    assert len(attempts) >= 2, "the interrupted transaction was not retried"
    rows = graph.read("MATCH (p:RestartProbe) RETURN p.attempt AS attempt")
    assert len(rows) == 1, f"expected exactly one committed probe, found {len(rows)}"
    assert rows[0]["attempt"] == len(attempts), "the committed write must be the retry, not the killed attempt"


def test_wrong_password_is_one_clear_error_naming_the_uri(neo4j_server) -> None:
    settings = neo4j_server.settings.model_copy(update={"neo4j_password": "not-the-password"})
    with Graph(settings) as graph, pytest.raises(GraphAuthError) as caught:
        graph.verify()
    message = str(caught.value)
    assert settings.neo4j_uri in message
    assert "password" in message
    assert "\n" not in message


def test_server_down_is_one_clear_error_naming_the_uri() -> None:
    settings = Settings.load(NEO4J_URI=f"bolt://127.0.0.1:{_closed_port()}", KGCRM_NEO4J_CONNECT_TIMEOUT=3)
    with Graph(settings) as graph, pytest.raises(GraphUnavailable) as caught:
        graph.verify()
    assert settings.neo4j_uri in str(caught.value)
    assert "kgcrm neo4j start" in str(caught.value)


@pytest.mark.parametrize("uri", ["http://127.0.0.1:7687", "bolt//127.0.0.1:7687", "bolt://:7687", "bolt://host:99999"])
def test_a_malformed_uri_is_rejected_with_the_variable_named(uri: str) -> None:
    with pytest.raises(GraphConfigError) as caught:
        Settings.load(NEO4J_URI=uri)
    assert "NEO4J_URI" in str(caught.value)
    assert uri in str(caught.value)


def test_a_missing_database_is_a_config_error(neo4j_server) -> None:
    settings = neo4j_server.settings.model_copy(update={"neo4j_database": "nosuchdb"})
    with Graph(settings) as graph, pytest.raises(GraphConfigError) as caught:
        graph.read("RETURN 1 AS one")
    assert "nosuchdb" in str(caught.value)


def test_a_missing_database_is_a_config_error_in_transaction_functions_too(neo4j_server) -> None:
    # Their BEGIN goes out with the first statement (graph/driver.py `_pipelined_begin`): its failure
    # still comes back as the one clear error.
    settings = neo4j_server.settings.model_copy(update={"neo4j_database": "nosuchdb"})
    with Graph(settings) as graph:
        for execute in (graph.execute_read, graph.execute_write):
            with pytest.raises(GraphConfigError) as caught:
                execute(lambda tx: tx.run("RETURN 1 AS one").single())
            assert "nosuchdb" in str(caught.value)


def test_a_transaction_sends_begin_with_its_first_statement(graph: Graph, monkeypatch: pytest.MonkeyPatch) -> None:
    """A round trip fewer a transaction; fails when the driver drops the private switch it rests on."""
    from neo4j._sync.io._bolt import _base

    graph.read("RETURN 1 AS warm")  # a pooled connection, so that only the transaction's own sends count
    sends: list[int] = []
    send_all = _base.Bolt.send_all

    def counted(self: object) -> None:
        sends.append(1)
        send_all(self)

    monkeypatch.setattr(_base.Bolt, "send_all", counted)
    assert graph.execute_read(lambda tx: tx.run("RETURN 1 AS one").single()["one"]) == 1
    read_sends, sends[:] = len(sends), []
    graph.execute_write(lambda tx: tx.run("CREATE (:Account {id: 'pipelined'})").consume())
    assert (read_sends, len(sends)) == (2, 2)  # BEGIN, RUN and PULL together; then COMMIT


def test_a_transaction_function_that_fails_before_its_first_statement_leaves_nothing(graph: Graph) -> None:
    def fails_early(tx) -> None:
        raise ValueError("bad input, found before any statement")

    with pytest.raises(ValueError):
        graph.execute_write(fails_early)
    graph.execute_write(lambda tx: tx.run("CREATE (:Account {id: 'after'})").consume())
    assert graph.read("MATCH (a:Account) RETURN collect(a.id) AS ids")[0]["ids"] == ["after"]


def test_bad_cypher_is_a_query_error_without_a_traceback_in_the_message(graph: Graph) -> None:
    with pytest.raises(QueryError) as caught:
        graph.read("MATCH (n RETURN n")
    assert graph.uri in str(caught.value)


def test_values_travel_as_parameters_and_are_stored_verbatim(graph: Graph) -> None:
    hostile = "x'}) DETACH DELETE n //"
    graph.write("CREATE (:Account {id: $id, name: $name})", {"id": "a1", "name": hostile})
    rows = graph.read("MATCH (a:Account {id: $id}) RETURN a.name AS name", {"id": "a1"})
    assert rows == [{"name": hostile}]


def test_execute_write_commits_whole_or_not_at_all(graph: Graph) -> None:
    def two_writes_then_fail(tx) -> None:
        tx.run("CREATE (:Account {id: 'partial-1'})").consume()
        tx.run("CREATE (:Account {id: 'partial-1'})").consume()  # violates the uniqueness constraint

    with pytest.raises(QueryError):
        graph.execute_write(two_writes_then_fail)
    assert graph.read("MATCH (a:Account) RETURN count(a) AS n")[0]["n"] == 0


def test_id_keyed_queries_log_no_deprecation_warning(graph: Graph, caplog: pytest.LogCaptureFixture) -> None:
    # Ingestion and rescoring key nodes by id(n) on purpose; one warning per request cost the API a
    # JSON log line for every event posted (15,669 lines in one 60 s run of bench/bench_events.py).
    caplog.set_level("WARNING", logger="neo4j")
    for _ in range(3):
        graph.read("UNWIND $ids AS i MATCH (n) WHERE id(n) = i RETURN count(n) AS n", {"ids": [0, 1]})
    assert [r.getMessage() for r in caplog.records if r.name.startswith("neo4j")] == []

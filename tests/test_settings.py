"""Settings: read from the environment by their documented names, bad values named clearly."""

from pathlib import Path

import pytest

from kgcrm.graph.errors import GraphConfigError
from kgcrm.graph.settings import Settings


def test_settings_read_their_documented_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("NEO4J_URI", "neo4j://127.0.0.1:7999")
    monkeypatch.setenv("NEO4J_DATABASE", "crm")
    monkeypatch.setenv("KGCRM_BATCH_SIZE", "250")
    settings = Settings.load()
    assert settings.neo4j_uri == "neo4j://127.0.0.1:7999"
    assert settings.bolt_port == 7999
    assert settings.neo4j_database == "crm"
    assert settings.batch_size == 250


def test_the_shells_home_does_not_leak_into_kgcrm_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KGCRM_HOME", raising=False)
    monkeypatch.setenv("HOME", "/somewhere/else")
    assert Settings.load().home == Path(".kgcrm")


def test_a_dotenv_file_in_the_working_folder_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEO4J_USER", raising=False)
    (tmp_path / ".env").write_text("NEO4J_USER=crm_reader\n")
    assert Settings.load().neo4j_user == "crm_reader"


@pytest.mark.parametrize(
    ("variable", "value"),
    [("KGCRM_BATCH_SIZE", "zero"), ("KGCRM_BATCH_SIZE", "0"), ("KGCRM_NEO4J_HEAP", "lots"), ("KGCRM_LOG_LEVEL", "LOUD")],
)
def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, value)
    with pytest.raises(GraphConfigError) as caught:
        Settings.load()
    assert variable in str(caught.value)
    assert value in str(caught.value)


def test_env_names_lists_every_variable() -> None:
    names = Settings.env_names()
    assert {"NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "NEO4J_DATABASE", "KGCRM_BATCH_SIZE"} <= names
    assert all(name.isupper() for name in names)


def test_the_password_is_not_in_the_repr() -> None:
    assert "secret-value" not in repr(Settings.load(NEO4J_PASSWORD="secret-value"))

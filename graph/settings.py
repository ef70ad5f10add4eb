"""One settings object for every part of kgcrm, read from the environment (and a `.env` file) once."""

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kgcrm.graph.errors import GraphConfigError

NEO4J_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")
_MEMORY_SIZE_SUFFIXES = ("k", "m", "g")


class Settings(BaseSettings):
    """kgcrm's configuration; each field's alias is the environment variable that sets it."""

    # Fields are set only through their aliases (the variable names), never their Python names:
    # the field `home` must not pick up the shell's HOME.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    neo4j_uri: str = Field("bolt://127.0.0.1:7687", validation_alias="NEO4J_URI")
    neo4j_user: str = Field("neo4j", validation_alias="NEO4J_USER")
    neo4j_password: str = Field("kgcrm-dev-password", validation_alias="NEO4J_PASSWORD", repr=False)
    neo4j_database: str = Field("neo4j", validation_alias="NEO4J_DATABASE")
    batch_size: int = Field(1000, ge=1, le=100_000, validation_alias="KGCRM_BATCH_SIZE")
    # A rollback copies stored scores back in batches of this many nodes, each its own transaction.
    restore_batch_size: int = Field(10_000, ge=1, le=1_000_000, validation_alias="KGCRM_RESTORE_BATCH_SIZE")
    # Managed transactions are retried on transient errors and lost connections for this long.
    max_retry_seconds: float = Field(60.0, gt=0, validation_alias="KGCRM_NEO4J_MAX_RETRY_SECONDS")
    connect_timeout_seconds: float = Field(10.0, gt=0, validation_alias="KGCRM_NEO4J_CONNECT_TIMEOUT")

    # The local server that `kgcrm neo4j install|start` manages (not used with a remote Neo4j).
    home: Path = Field(Path(".kgcrm"), validation_alias="KGCRM_HOME")
    neo4j_version: str = Field("5.26.30", validation_alias="KGCRM_NEO4J_VERSION")
    neo4j_instance: str = Field("neo4j", validation_alias="KGCRM_NEO4J_INSTANCE")
    # Sized for a 2-core 24 GiB machine that also runs the API and training.
    neo4j_heap: str = Field("2g", validation_alias="KGCRM_NEO4J_HEAP")
    neo4j_pagecache: str = Field("4g", validation_alias="KGCRM_NEO4J_PAGECACHE")
    neo4j_start_timeout_seconds: float = Field(180.0, gt=0, validation_alias="KGCRM_NEO4J_START_TIMEOUT")

    log_level: str = Field("INFO", validation_alias="KGCRM_LOG_LEVEL")

    # When the scheduler service retrains (five-field cron, UTC); weekly by default.
    retrain_cron: str = Field("0 3 * * 0", validation_alias="KGCRM_RETRAIN_CRON")
    # The GraphQL API (`kgcrm serve`). Production mode turns GraphiQL and introspection off whatever
    # the two switches say.
    api_host: str = Field("127.0.0.1", validation_alias="KGCRM_API_HOST")
    api_port: int = Field(8000, ge=0, le=65535, validation_alias="KGCRM_API_PORT")
    api_workers: int = Field(1, ge=1, le=64, validation_alias="KGCRM_API_WORKERS")
    api_production: bool = Field(False, validation_alias="KGCRM_API_PRODUCTION")
    api_graphiql: bool = Field(True, validation_alias="KGCRM_API_GRAPHIQL")
    api_introspection: bool = Field(True, validation_alias="KGCRM_API_INTROSPECTION")
    # JWT bearer tokens are accepted only when a secret is set (HS256).
    api_jwt_secret: str = Field("", validation_alias="KGCRM_API_JWT_SECRET", repr=False)
    api_jwt_issuer: str = Field("kgcrm", validation_alias="KGCRM_API_JWT_ISSUER")
    api_max_depth: int = Field(10, ge=2, validation_alias="KGCRM_API_MAX_DEPTH")
    api_max_aliases: int = Field(15, ge=1, validation_alias="KGCRM_API_MAX_ALIASES")
    api_max_tokens: int = Field(2000, ge=50, validation_alias="KGCRM_API_MAX_TOKENS")
    api_max_cost: int = Field(20000, ge=10, validation_alias="KGCRM_API_MAX_COST")
    api_max_body_bytes: int = Field(65536, ge=1024, validation_alias="KGCRM_API_MAX_BODY_BYTES")
    # A request's headers must arrive within this many seconds, its body within this many more (slow
    # clients get a 408 and are disconnected; 0 turns a deadline off).
    api_header_timeout_s: float = Field(10.0, ge=0, validation_alias="KGCRM_API_HEADER_TIMEOUT")
    api_body_timeout_s: float = Field(30.0, ge=0, validation_alias="KGCRM_API_BODY_TIMEOUT")
    # Subscriptions poll the graph for changes made by other writers this often.
    api_poll_seconds: float = Field(1.0, gt=0, validation_alias="KGCRM_API_POLL_SECONDS")
    # A verified API key is trusted for this long before it is looked up again (revocation delay).
    api_key_cache_seconds: float = Field(5.0, ge=0, validation_alias="KGCRM_API_KEY_CACHE_SECONDS")
    # The explorer page's folder (explorer/ with its node_modules); empty: the one beside the code.
    explorer_dir: Path | None = Field(None, validation_alias="KGCRM_EXPLORER_DIR")
    # ML: CPU threads for torch and LightGBM, and the snapshot size above which the GNN trains in
    # sampled mini-batches instead of one full-batch pass.
    ml_threads: int = Field(2, ge=1, le=256, validation_alias="KGCRM_ML_THREADS")
    ml_full_batch_max_nodes: int = Field(2_000_000, ge=1, validation_alias="KGCRM_ML_FULL_BATCH_MAX_NODES")
    # ML registry and scoring (docs/ml.md): where weights live (default KGCRM_HOME/models), how much a
    # score must move to be rewritten, the retraining gate, the retrain lock's lease and drift's alarm.
    ml_model_dir: Path | None = Field(None, validation_alias="KGCRM_MODEL_DIR")
    ml_cutoffs: int = Field(12, ge=3, le=120, validation_alias="KGCRM_ML_CUTOFFS")
    ml_score_epsilon: float = Field(0.005, ge=0, le=1, validation_alias="KGCRM_SCORE_EPSILON")
    ml_gate_auroc_tolerance: float = Field(0.01, ge=-1, le=1, validation_alias="KGCRM_GATE_AUROC_TOLERANCE")
    ml_gate_ece_tolerance: float = Field(0.01, ge=-1, le=1, validation_alias="KGCRM_GATE_ECE_TOLERANCE")
    ml_gate_baseline_margin: float = Field(0.0, ge=-1, le=1, validation_alias="KGCRM_GATE_BASELINE_MARGIN")
    ml_lock_lease_seconds: float = Field(900.0, gt=0, validation_alias="KGCRM_RETRAIN_LOCK_LEASE")
    ml_drift_psi_threshold: float = Field(0.25, gt=0, validation_alias="KGCRM_DRIFT_PSI_THRESHOLD")

    # Activation (docs/activation.md): trigger policies, the webhook dispatcher and holdouts.
    policies_file: Path | None = Field(None, validation_alias="KGCRM_POLICIES_FILE")
    webhook_url: str = Field("", validation_alias="KGCRM_WEBHOOK_URL")
    webhook_secret: str = Field("", validation_alias="KGCRM_WEBHOOK_SECRET", repr=False)
    webhook_max_attempts: int = Field(8, ge=1, le=100, validation_alias="KGCRM_WEBHOOK_MAX_ATTEMPTS")
    webhook_timeout_seconds: float = Field(10.0, gt=0, validation_alias="KGCRM_WEBHOOK_TIMEOUT")
    webhook_backoff_seconds: float = Field(2.0, gt=0, validation_alias="KGCRM_WEBHOOK_BACKOFF")
    webhook_backoff_max_seconds: float = Field(3600.0, gt=0, validation_alias="KGCRM_WEBHOOK_BACKOFF_MAX")
    # A claimed action is re-offered to any dispatcher once its lease runs out (its claimer crashed).
    dispatch_lease_seconds: float = Field(60.0, gt=0, validation_alias="KGCRM_DISPATCH_LEASE")
    dispatch_poll_seconds: float = Field(0.2, gt=0, validation_alias="KGCRM_DISPATCH_POLL")
    dispatch_concurrency: int = Field(8, ge=1, le=256, validation_alias="KGCRM_DISPATCH_CONCURRENCY")
    holdout_fraction: float = Field(0.1, ge=0, lt=1, validation_alias="KGCRM_HOLDOUT_FRACTION")
    holdout_salt: str = Field("kgcrm-holdout-1", min_length=1, validation_alias="KGCRM_HOLDOUT_SALT")
    # Real-time events (docs/activation.md): the scorer's micro-batch window and largest batch, and the
    # largest NDJSON body POST /events accepts.
    events_window_seconds: float = Field(0.05, gt=0, le=60, validation_alias="KGCRM_EVENTS_WINDOW")
    events_max_batch: int = Field(500, ge=1, le=100_000, validation_alias="KGCRM_EVENTS_MAX_BATCH")
    events_max_body_bytes: int = Field(10_000_000, ge=1024, validation_alias="KGCRM_EVENTS_MAX_BODY_BYTES")
    # The scorer's embedding cache is rebuilt from a full export after this many seconds (0: no cache).
    events_cache_seconds: float = Field(600.0, ge=0, validation_alias="KGCRM_EVENTS_CACHE_SECONDS")
    # Wake-up hints (actions/wakeup.py), UDP host:port lists; empty: the process only polls. The API wakes
    # the scorers (partition K/N listens on the K-th address) and the scorer wakes the dispatcher.
    events_wake: str = Field("", validation_alias="KGCRM_EVENTS_WAKE")
    dispatch_wake: str = Field("", validation_alias="KGCRM_DISPATCH_WAKE")

    @field_validator("policies_file", "explorer_dir", mode="before")
    @classmethod
    def _empty_policies_file_is_default(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("neo4j_uri")
    @classmethod
    def _check_uri(cls, uri: str) -> str:
        parts = urlsplit(uri)
        if parts.scheme not in NEO4J_SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(NEO4J_SCHEMES)}")
        if not parts.hostname:
            raise ValueError("no host name")
        try:
            parts.port
        except ValueError:
            raise ValueError("the port is not a number from 0 to 65535") from None
        return uri

    @field_validator("neo4j_heap", "neo4j_pagecache")
    @classmethod
    def _check_memory_size(cls, size: str) -> str:
        size = size.strip().lower()
        if not (size[:-1].isdigit() and size[-1] in _MEMORY_SIZE_SUFFIXES):
            raise ValueError("must be a number followed by k, m or g, such as 512m or 2g")
        return size

    @field_validator("events_wake", "dispatch_wake")
    @classmethod
    def _check_wake_addresses(cls, text: str) -> str:
        parse_addresses(text)
        return text

    @property
    def events_wake_addresses(self) -> list[tuple[str, int]]:
        return parse_addresses(self.events_wake)

    @property
    def dispatch_wake_addresses(self) -> list[tuple[str, int]]:
        return parse_addresses(self.dispatch_wake)

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, level: str) -> str:
        level = level.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return level

    @property
    def model_dir(self) -> Path:
        """Where model weights are kept: KGCRM_MODEL_DIR, or `models` under KGCRM_HOME."""
        return self.ml_model_dir if self.ml_model_dir is not None else self.home / "models"

    @property
    def bolt_host(self) -> str:
        return urlsplit(self.neo4j_uri).hostname or ""

    @property
    def bolt_port(self) -> int:
        return urlsplit(self.neo4j_uri).port or 7687

    @classmethod
    def env_names(cls) -> set[str]:
        """The environment variables these settings read."""
        return {field.validation_alias for field in cls.model_fields.values()}

    @classmethod
    def load(cls, **overrides: object) -> "Settings":
        """Read the settings (overrides named by variable, e.g. NEO4J_URI=...), one line per bad value."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}={err.get('input')!r}: {err['msg']}"
                for err in exc.errors()
            )
            raise GraphConfigError(f"invalid settings: {problems}") from None


def parse_addresses(text: str | None) -> list[tuple[str, int]]:
    """`host:port[,host:port...]` as (host, port) pairs; empty for None or ''."""
    addresses = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        host, sep, port = part.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{part!r} is not host:port (for example 127.0.0.1:7801)")
        addresses.append((host.strip("[]"), int(port)))
    return addresses


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings.load()

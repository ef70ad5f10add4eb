"""The whole public error vocabulary of kgcrm, each error with the exit code the CLI uses for it.

Lower-level errors (driver, pydantic, OS) are translated at the edge of the package that meets them
(`raise SomeError(...) from None`), so a user sees one clear line that says where and why.
"""


class KgcrmError(Exception):
    """Base of every error kgcrm raises on purpose; the CLI prints its message and exits with `exit_code`."""

    exit_code = 1


class InvalidInput(KgcrmError):
    """Input from a user (a file, a flag, a request) is malformed; the message names where and why."""

    exit_code = 2


class GraphError(KgcrmError):
    """Something went wrong talking to Neo4j."""

    exit_code = 3


class GraphConfigError(GraphError):
    """The Neo4j settings cannot work as given (a malformed URI, a bad value)."""

    exit_code = 2


class GraphUnavailable(GraphError):
    """Neo4j could not be reached at the configured URI."""

    exit_code = 3


class GraphAuthError(GraphError):
    """Neo4j refused the configured user name or password."""

    exit_code = 4


class QueryError(GraphError):
    """Neo4j rejected a query: a constraint was violated or the Cypher is wrong."""

    exit_code = 5


class ConstraintViolation(QueryError):
    """A write would break a uniqueness or existence constraint."""


class ServerError(KgcrmError):
    """The local Neo4j server that kgcrm manages could not be installed, started or stopped."""

    exit_code = 6


class PortInUse(ServerError):
    """The Bolt port the local server should listen on is taken by another process."""


class ApiKeyNotFound(KgcrmError):
    """No API key with the given id exists (or it was already revoked)."""

    exit_code = 2


class DecisionNotFound(InvalidInput):
    """No identity decision (SAME_AS) or record with the given id exists."""


class DecisionConflict(KgcrmError):
    """An identity decision or record is not in a state that allows the requested change."""

    exit_code = 9


class MappingError(InvalidInput):
    """A loader mapping (YAML) is invalid; the message names the mapping file, the path in it and why."""


class LoadFailed(KgcrmError):
    """A load stopped before it finished (a missing file or column, Neo4j unreachable); re-run to complete it."""

    exit_code = 11


class RowsRejected(KgcrmError):
    """A load finished, but some rows failed validation and were written to the rejects file instead."""

    exit_code = 10


class DatasetError(KgcrmError):
    """A training dataset cannot be built as asked (no rows, one class only, overlapping label windows)."""

    exit_code = 12


class ModelError(KgcrmError):
    """A model version or its weights file is missing, unreadable or does not fit the task asked for."""

    exit_code = 13


class RetrainLocked(KgcrmError):
    """Another retraining of the same task holds the retrain lock; this one waited and gave up, or did not wait."""

    exit_code = 14


class PolicyError(InvalidInput):
    """A trigger policy file (YAML) is invalid; the message names the file, the field and why."""


class ActionNotFound(InvalidInput):
    """No Action with the given id exists."""


class ActionConflict(KgcrmError):
    """An Action is not in a state that allows the requested change (approve a delivered one, say)."""

    exit_code = 9


class DispatchConfigError(InvalidInput):
    """The webhook dispatcher cannot run as configured (no URL, a malformed secret)."""

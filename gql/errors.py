"""Errors the API shows to clients as they are; every other exception is masked as "Unexpected error"."""

from kgcrm.graph.errors import KgcrmError


class PublicError(KgcrmError):
    """An error whose message is safe to show a client (it names the field and never holds data)."""

    exit_code = 2


class InvalidArgument(PublicError):
    """A query argument is out of range or malformed; the message names the argument."""


class AuthenticationFailed(PublicError):
    """No credentials, or credentials that are wrong, expired or revoked (HTTP 401)."""


class NotPermitted(PublicError):
    """The caller's role may not use this entry point (HTTP 403)."""

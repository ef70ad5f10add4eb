"""Who is calling: API keys (stored hashed in the graph) and HS256 JWT bearer tokens, turned into a Principal.

An API key reads `kgcrm_<key id>_<secret>`; only the SHA-256 of the secret is stored, under the key
id, so a key is checked with one lookup and a constant-time comparison. Verified keys are cached for
`KGCRM_API_KEY_CACHE_SECONDS`, which is therefore how long a revoked key may still work.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt

from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import ApiKeyNotFound, InvalidInput
from kgcrm.graph.queries import api_auth as q
from kgcrm.graph.queries.api_scope import ADMIN, INGEST, ROLES
from kgcrm.graph.settings import Settings
from kgcrm.gql import metrics
from kgcrm.gql.errors import AuthenticationFailed

logger = logging.getLogger(__name__)

KEY_PREFIX = "kgcrm_"
# Roles that read the CRM with a user's scope must name that user.
ROLES_NEEDING_USER = ("manager", "account_manager")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a role and, for scoped roles, the User id whose book they see."""

    role: str
    user_id: str | None

    @property
    def scope(self) -> dict[str, Any]:
        """The parameters every API query receives."""
        return {"role": self.role, "user_id": self.user_id}


@dataclass(frozen=True)
class NewApiKey:
    key_id: str
    secret_key: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_role(role: str, user_id: str | None) -> None:
    """Reject a role/user pair that cannot work, naming the option."""
    if role not in ROLES:
        raise InvalidInput(f"role: {role!r} is not one of {', '.join(ROLES)}")
    if role in ROLES_NEEDING_USER and not user_id:
        raise InvalidInput(f"user: role {role} sees one user's book, so it needs --user USER_ID")


def create_api_key(graph: Graph, *, role: str, user_id: str | None = None, name: str = "") -> NewApiKey:
    """Store a new API key for `role` (and `user_id`) and return it; the full key is never stored."""
    check_role(role, user_id)
    if user_id and not graph.read(q.USER_EXISTS, {"user_id": user_id})[0]["found"]:
        raise InvalidInput(f"user: no User with id {user_id!r} in the graph")
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    graph.write(q.CREATE_API_KEY, {"key_id": key_id, "hash": _hash(secret), "role": role,
                                   "user_id": user_id, "name": name})
    logger.info("created API key %s for role %s", key_id, role)
    return NewApiKey(key_id=key_id, secret_key=f"{KEY_PREFIX}{key_id}_{secret}")


def revoke_api_key(graph: Graph, key_or_id: str) -> str:
    """Revoke a key given by its id or the whole key; returns the key id."""
    key_id = _split_key(key_or_id)[0] if key_or_id.startswith(KEY_PREFIX) else key_or_id
    if not graph.write(q.REVOKE_API_KEY, {"key_id": key_id}):
        raise ApiKeyNotFound(f"no active API key with id {key_id!r}")
    logger.info("revoked API key %s", key_id)
    return key_id


def _split_key(key: str) -> tuple[str, str]:
    body = key[len(KEY_PREFIX):]
    key_id, _, secret = body.partition("_")
    return key_id, secret


class Authenticator:
    """Turns the credentials of a request into a Principal, or raises AuthenticationFailed."""

    def __init__(self, graph: Graph, settings: Settings) -> None:
        self.graph = graph
        self.settings = settings
        self._cache: dict[str, tuple[float, Principal]] = {}

    def authenticate(self, credentials: str | None) -> Principal:
        """Check a bearer credential (API key or JWT); blocking, call it from a worker thread."""
        if not credentials:
            metrics.AUTH_FAILURES.labels(reason="missing").inc()
            raise AuthenticationFailed(
                "authentication required: send 'Authorization: Bearer <API key or JWT>' or 'X-API-Key: <key>'"
            )
        if credentials.startswith(KEY_PREFIX):
            return self._api_key(credentials)
        return self._jwt(credentials)

    def cached(self, credentials: str | None) -> Principal | None:
        """The principal of an API key checked within KGCRM_API_KEY_CACHE seconds, else None; never blocks,
        so the event loop answers most requests without a worker thread's round trip."""
        cached = self._cache.get(credentials) if credentials else None
        return cached[1] if cached and cached[0] > time.monotonic() else None

    def _api_key(self, key: str) -> Principal:
        if (principal := self.cached(key)) is not None:
            return principal
        now = time.monotonic()
        key_id, secret = _split_key(key)
        rows = self.graph.read(q.GET_ACTIVE_API_KEY, {"key_id": key_id}) if key_id and secret else []
        if not rows or not hmac.compare_digest(rows[0]["hash"], _hash(secret)):
            metrics.AUTH_FAILURES.labels(reason="api_key").inc()
            raise AuthenticationFailed("invalid or revoked API key")
        principal = Principal(role=rows[0]["role"], user_id=rows[0]["user_id"])
        if self.settings.api_key_cache_seconds > 0:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (now + self.settings.api_key_cache_seconds, principal)
        return principal

    def _jwt(self, token: str) -> Principal:
        if not self.settings.api_jwt_secret:
            metrics.AUTH_FAILURES.labels(reason="jwt_disabled").inc()
            raise AuthenticationFailed("invalid credentials: not an API key, and JWT bearer tokens are not enabled")
        try:
            claims = jwt.decode(
                token, self.settings.api_jwt_secret, algorithms=["HS256"], issuer=self.settings.api_jwt_issuer,
                options={"require": ["exp", "sub", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            metrics.AUTH_FAILURES.labels(reason="jwt_expired").inc()
            raise AuthenticationFailed("invalid token: expired") from None
        except jwt.PyJWTError as exc:
            metrics.AUTH_FAILURES.labels(reason="jwt_invalid").inc()
            raise AuthenticationFailed(f"invalid token: {exc}") from None
        role = claims.get("role")
        user_id = str(claims["sub"])
        if role not in ROLES:
            raise AuthenticationFailed(f"invalid token: claim 'role' must be one of {', '.join(ROLES)}")
        return Principal(role=role, user_id=None if role in (ADMIN, INGEST) and user_id == "-" else user_id)


def make_jwt(settings: Settings, *, role: str, user_id: str, ttl_seconds: int = 3600) -> str:
    """A token this API accepts (for tests, scripts and the docs' examples)."""
    now = int(time.time())
    claims = {"sub": user_id, "role": role, "iss": settings.api_jwt_issuer, "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(claims, settings.api_jwt_secret, algorithm="HS256")

"""Standard Webhooks signing: `webhook-id`, `webhook-timestamp` and `webhook-signature` for one request."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from kgcrm.graph.errors import DispatchConfigError

SECRET_PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    """The HMAC key inside a `whsec_<base64>` secret."""
    if not secret.startswith(SECRET_PREFIX):
        raise DispatchConfigError("KGCRM_WEBHOOK_SECRET must look like whsec_<base64>")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise DispatchConfigError("KGCRM_WEBHOOK_SECRET: the part after whsec_ is not base64") from None
    if len(key) < 24:
        raise DispatchConfigError("KGCRM_WEBHOOK_SECRET: the key must be at least 24 bytes (32 recommended)")
    return key


def new_secret() -> str:
    """A fresh secret to share with a receiver."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(key: bytes, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers plus the content type."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(key, msg_id, timestamp, body),
        "content-type": "application/json",
    }


def verify(key: bytes, msg_id: str, timestamp: str, body: bytes, signature_header: str) -> bool:
    """True when one of the space-separated `v1,...` signatures matches (what a receiver checks)."""
    expected = sign(key, msg_id, int(timestamp), body).split(",", 1)[1]
    for candidate in signature_header.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False

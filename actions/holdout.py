"""Holdout assignment: a stable hash of the account decides whether its would-be actions are withheld."""

from __future__ import annotations

import hashlib

HOLDOUT = "holdout"
TREATED = "treated"


def holdout_bucket(account_key: str, salt: str) -> float:
    """A number in [0, 1) fixed by the account and the salt alone, so assignment never drifts."""
    digest = hashlib.sha256(f"{salt}\x00{account_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def holdout_group(account_key: str, fraction: float, salt: str) -> str:
    """`holdout` for the fraction of accounts whose bucket falls below it, else `treated`.

    Assigning by account (contacts and opportunities use their account's key) keeps one buying
    group on one side; raising the fraction only moves accounts from treated to holdout.
    """
    return HOLDOUT if holdout_bucket(account_key, salt) < fraction else TREATED

"""What CLI commands share: the settings, read once per invocation, and the K/N partition option."""

import click

from kgcrm.graph.errors import InvalidInput
from kgcrm.graph.settings import Settings


def settings_from(ctx: click.Context) -> Settings:
    """The settings, read once per command from the environment (and .env)."""
    root = ctx.find_root()
    if "settings" not in root.meta:
        root.meta["settings"] = Settings.load()
    return root.meta["settings"]


def parse_partition(text: str) -> tuple[int, int]:
    """'K/N' (1-based, as an operator counts workers) as (K - 1, N); a clear error otherwise."""
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise InvalidInput(f"--partition {text!r}: write K/N, e.g. 1/2 (partition 1 of 2)") from None
    if not 1 <= k <= n:
        raise InvalidInput(f"--partition {text!r}: K must be between 1 and N")
    return k - 1, n

"""What every CLI command shares: the settings, read once per invocation."""

import click

from kgcrm.graph.settings import Settings


def settings_from(ctx: click.Context) -> Settings:
    """The settings, read once per command from the environment (and .env)."""
    root = ctx.find_root()
    if "settings" not in root.meta:
        root.meta["settings"] = Settings.load()
    return root.meta["settings"]

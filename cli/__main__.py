"""Lets `python -m kgcrm` run the command line."""

from kgcrm.main import cli

cli()

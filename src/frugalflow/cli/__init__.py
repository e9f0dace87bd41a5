"""The ``frugalflow`` command line: :data:`app` (a Typer app), one module per command group."""

from frugalflow.cli.app import app

__all__ = ["app"]

"""The ``frugalflow`` command line: :data:`app` (a Typer app), one module per command group.

``app`` is imported on first use: the entry point (:func:`frugalflow.cli.runner.main`) first
offers the command to the preloaded runner, before anything heavy is imported, and the runner
imports the command line in each child, so that its consoles see the user's terminal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from frugalflow.cli.app import app

__all__ = ["app"]


def __getattr__(name: str) -> Any:
    if name == "app":
        from frugalflow.cli.app import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

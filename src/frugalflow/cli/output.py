"""What every command of the CLI shares: the consoles, the exit codes, and how it fails.

Exit codes: 0 done, 1 the request failed (nothing committed), 2 bad usage or settings,
75 deferred (the budget cannot pay for it now; it is kept and re-run later).

Imports of frugalflow's heavier parts stay inside the functions: ``frugalflow --help`` must
not import Prefect, and :func:`quiet_prefect` must run before Prefect is imported.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from frugalflow.core.errors import FrugalflowError
from frugalflow.core.schemas import CodeRequest

if TYPE_CHECKING:
    from frugalflow.core.settings import Settings

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_DEFERRED = 75  # EX_TEMPFAIL: try again later

# The repository whose frugalflow.toml applies, for the commands that only read settings.
ConfigRepo = Annotated[
    Path | None, typer.Option("--repo", help="Read this repository's frugalflow.toml too.")
]

PIPED_WIDTH = 200  # piped or captured output keeps every value whole on its line


def _console(*, stderr: bool = False) -> Console:
    """A console as wide as the terminal, or :data:`PIPED_WIDTH` when the output is not one
    (rich would otherwise assume 80 columns and cut the values the tables exist to show)."""
    made = Console(stderr=stderr)
    if not made.is_terminal and "COLUMNS" not in os.environ:
        made = Console(stderr=stderr, width=PIPED_WIDTH)
    return made


console = _console()
errors = _console(stderr=True)


class WholeTable(Table):
    """A table whose cells fold onto more lines when the terminal is narrow, instead of
    ending in "…": a model name or a price is never shown cut."""

    def add_column(self, *args: Any, **kwargs: Any) -> None:
        """As :meth:`rich.table.Table.add_column`, folding by default."""
        kwargs.setdefault("overflow", "fold")
        super().add_column(*args, **kwargs)


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print ``message`` (redacted) as an error on stderr; the exit to raise, with ``code``."""
    from frugalflow.core.redaction import redact

    # soft_wrap: one line whatever the terminal's width, for people and for scripts alike.
    errors.print(f"[bold red]error:[/] {escape(redact(message))}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def settings_or_exit(repo: Path | None) -> Settings:
    """The settings for ``repo``, or exit 2 with what is wrong in them."""
    from frugalflow.core.settings import load_settings

    try:
        return load_settings(repo)
    except FrugalflowError as exc:
        raise fail(str(exc)) from None


def check_or_exit(request: CodeRequest, settings: Settings) -> None:
    """Exit 2 with what to do when the request cannot be carried out (before any money)."""
    from frugalflow.validation.preflight import check_request

    try:
        check_request(request, settings)
    except FrugalflowError as exc:
        raise fail(str(exc)) from None


def crashed(exc: BaseException, settings: Settings | None, name: str) -> typer.Exit:
    """A real bug: one line on the terminal, the traceback in a log file whose path it names."""
    from frugalflow.core.bugreport import write_bug_report
    from frugalflow.core.redaction import redact

    log = write_bug_report(exc, settings.home if settings else None, name)
    where = f"the traceback is in {log}" if log else "no log could be written"
    return fail(
        f"frugalflow failed unexpectedly ({type(exc).__name__}: {redact(str(exc))}). This is "
        f"a bug: {where}; please report it with that file.",
        EXIT_FAILED,
    )


class _WithoutFinalState(logging.Filter):
    """Drops Prefect's "Finished in state Failed(...)" line: the CLI prints the reason itself,
    once, with what to do. Other errors (a task's traceback: a bug) still show."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Finished in state")


def quiet_prefect() -> None:
    """Keep Prefect's INFO lines off the terminal, for the commands that run a flow."""
    # The CLI shows its own per-step progress; Prefect's INFO lines would repeat it. Must be
    # set before prefect is imported; a user's own setting wins.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    flow_runs = logging.getLogger("prefect.flow_runs")
    if not any(isinstance(f, _WithoutFinalState) for f in flow_runs.filters):
        flow_runs.addFilter(_WithoutFinalState())

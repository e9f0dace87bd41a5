"""The ``frugalflow`` command line: the Typer app, and where each command is registered.

Each group of commands lives in its own module: ``generate`` and ``estimate`` in
:mod:`~frugalflow.cli.generate`, ``ledger`` and ``budget`` in :mod:`~frugalflow.cli.money`,
``explain`` in :mod:`~frugalflow.cli.explain`, ``providers`` and ``models pull`` in :mod:`~frugalflow.cli.providers`, ``doctor`` in
:mod:`~frugalflow.cli.doctor`, ``deferred`` in :mod:`~frugalflow.cli.deferred`, ``server`` in
:mod:`~frugalflow.cli.server`, ``bridge`` in :mod:`~frugalflow.cli.bridge`; what they share
(consoles, exit codes, failing with a message) in :mod:`~frugalflow.cli.output`.

Exit codes: 0 done, 1 the request failed (nothing committed), 2 bad usage or settings,
75 deferred (the budget cannot pay for it now; it is kept and re-run later).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from frugalflow.cli import deferred, doctor, explain, generate, money, providers, report, server
from frugalflow.cli.bridge import bridge_app
from frugalflow.cli.output import EXIT_DEFERRED, EXIT_FAILED, EXIT_USAGE, console, fail
from frugalflow.core.errors import FrugalflowError

__all__ = ["EXIT_DEFERRED", "EXIT_FAILED", "EXIT_USAGE", "app"]

app = typer.Typer(
    help="Generate code with the cheapest model that does the job, within a daily budget.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(shown: bool) -> None:
    if shown:
        from importlib.metadata import version

        console.print(f"frugalflow {version('frugalflow')}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Generate code with the cheapest model that does the job, within a daily budget."""


def example_repo(
    path: Annotated[Path, typer.Argument(help="Where to create the example repository.")],
) -> None:
    """Create a small example git repository to try frugalflow on."""
    from frugalflow.cli.example_repo import create_example_repo

    try:
        create_example_repo(path)
    except FrugalflowError as exc:
        raise fail(str(exc)) from None
    console.print(f"created example repository at {path}")


# In this order: it is the order of ``frugalflow --help``.
app.command()(generate.generate)
app.command()(money.ledger)
app.command()(money.budget)
app.command()(report.report)
app.command()(generate.estimate)
app.command()(explain.explain)
app.command()(providers.providers)

models_app = typer.Typer(help="Local models.", no_args_is_help=True)
app.add_typer(models_app, name="models")
models_app.command("pull")(providers.models_pull)

app.command("example-repo")(example_repo)
app.command()(doctor.doctor)

deferred_app = typer.Typer(
    help="Requests waiting for budget: list them, run them now, or drop them.",
    invoke_without_command=True,
)
app.add_typer(deferred_app, name="deferred")
deferred_app.callback()(deferred.deferred_list)
deferred_app.command("run")(deferred.deferred_run)
deferred_app.command("drop")(deferred.deferred_drop)

app.add_typer(server.server_app, name="server")
app.add_typer(bridge_app, name="bridge")

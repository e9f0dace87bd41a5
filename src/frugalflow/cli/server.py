"""``frugalflow server start|stop|status``: the local Prefect server the CLI runs flows on.

``generate`` and ``deferred run`` call :func:`use_local_server` before they run a flow: with no
Prefect API configured (no ``PREFECT_API_URL`` in the environment or the Prefect profile) and
``prefect_server = "auto"`` (the default), the flow reports to frugalflow's own server, started
on first use and left running, instead of a temporary server started for each run. Beside it
runs the preloaded runner (:mod:`~frugalflow.cli.runner`), which takes the next ``generate``
without its seconds of imports; ``stop`` stops both.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from frugalflow.cli.output import ConfigRepo, console, errors, fail, settings_or_exit
from frugalflow.core.errors import FrugalflowError

if TYPE_CHECKING:
    from frugalflow.core.prefect_server import ServerInfo
    from frugalflow.core.settings import Settings

server_app = typer.Typer(
    help="frugalflow's local Prefect server: start it, stop it, or see where it runs.",
    no_args_is_help=True,
)


def _describe(info: ServerInfo) -> None:
    console.print(f"UI:   {info.url}", highlight=False)
    console.print(f"API:  export PREFECT_API_URL={info.api_url}", highlight=False)
    console.print(f"pid {info.pid}; log {info.log_file}", highlight=False)


@server_app.command("start")
def server_start(
    port: Annotated[
        int | None,
        typer.Option(help="Port on 127.0.0.1 (default: prefect_server_port, or the last one)."),
    ] = None,
    repo: ConfigRepo = None,
) -> None:
    """Start the local Prefect server in the background (or say where it already runs)."""
    from frugalflow.core import prefect_server

    settings = settings_or_exit(repo)
    try:
        info, started = prefect_server.start(settings.home, port or settings.prefect_server_port)
    except FrugalflowError as exc:
        raise fail(str(exc)) from None
    if not started and port and info.port != port:
        raise fail(
            f"the local Prefect server already runs on port {info.port}; "
            "`frugalflow server stop` first to move it"
        )
    console.print("started" if started else "already running", highlight=False)
    _describe(info)


@server_app.command("stop")
def server_stop(repo: ConfigRepo = None) -> None:
    """Stop the local Prefect server (only the process frugalflow started)."""
    from frugalflow.cli import runner
    from frugalflow.core import prefect_server

    settings = settings_or_exit(repo)
    runner_stopped = runner.stop()
    if prefect_server.stop(settings.home):
        console.print("stopped")
    else:
        console.print("not running")
    if runner_stopped:
        console.print("stopped the preloaded runner", highlight=False)


@server_app.command("status")
def server_status(repo: ConfigRepo = None) -> None:
    """Say whether the local Prefect server runs, and where (exit 1 when it does not)."""
    from frugalflow.core import prefect_server

    settings = settings_or_exit(repo)
    info = prefect_server.status(settings.home)
    if info is None:
        console.print("not running (it starts with the next `frugalflow generate`)")
        raise typer.Exit(1)
    from frugalflow.cli import runner

    console.print("running", highlight=False)
    _describe(info)
    pid = runner.running()
    console.print(
        f"runner: pid {pid} ({runner.socket_path()})" if pid else "runner: not running",
        highlight=False,
    )


def use_local_server(settings: Settings) -> str | None:
    """Point this process's Prefect at frugalflow's local server when nothing else is set.

    Imports Prefect's settings (call :func:`~frugalflow.cli.output.quiet_prefect` first). Does
    nothing when ``PREFECT_API_URL`` is set in the environment or the Prefect profile, or when
    ``prefect_server`` is ``ephemeral``; otherwise starts the server if it is not running and
    sets ``PREFECT_API_URL`` for this process.

    Returns:
        The API address set, or None when Prefect's own configuration stays in force.
    """
    if settings.prefect_server == "ephemeral" or os.environ.get("PREFECT_API_URL"):
        return None
    from prefect.settings import get_current_settings

    if get_current_settings().api.url:
        return None  # the user's Prefect profile names a server
    from frugalflow.core import prefect_server

    info = prefect_server.status(settings.home)
    if info is None:
        errors.print("[dim]starting the local Prefect server (once)…[/]")
        try:
            info, _started = prefect_server.start(settings.home, settings.prefect_server_port)
        except FrugalflowError as exc:
            raise fail(f"{exc}; or set prefect_server = 'ephemeral'") from None
    os.environ["PREFECT_API_URL"] = info.api_url
    from frugalflow.cli import runner

    runner.start_in_background()  # for the next command; this one goes on in this process
    from prefect.context import refresh_global_settings_context

    refresh_global_settings_context()
    return info.api_url

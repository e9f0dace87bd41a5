"""``frugalflow deferred``: the requests waiting for budget; list them, run them now, drop them."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from frugalflow.cli.output import (
    EXIT_DEFERRED,
    EXIT_FAILED,
    ConfigRepo,
    WholeTable,
    console,
    crashed,
    fail,
    quiet_prefect,
    settings_or_exit,
)
from frugalflow.cli.server import use_local_server
from frugalflow.core.errors import FrugalflowError
from frugalflow.core.schemas import CodeRequest, RunStatus

if TYPE_CHECKING:
    from frugalflow.core.settings import Settings


def deferred_list(ctx: typer.Context, repo: ConfigRepo = None) -> None:
    """List the requests waiting for budget (id, description, project, reason, retry at,
    worst case)."""
    if ctx.invoked_subcommand is not None:
        return
    from frugalflow.money.deferred import DeferredStore
    from frugalflow.money.ledger import CostLedger

    settings = settings_or_exit(repo)
    try:
        waiting = DeferredStore(CostLedger(settings.ledger_file)).pending()
    except FrugalflowError as exc:
        raise fail(str(exc)) from None
    if not waiting:
        console.print("no deferred requests are waiting")
        return
    table = WholeTable(title=f"{len(waiting)} deferred request(s)", title_justify="left")
    for column in ("id", "description", "project", "reason", "retry at", "worst case"):
        table.add_column(
            column, overflow="fold", justify="right" if column == "worst case" else "left"
        )
    for deferred in waiting:
        request = deferred.request
        table.add_row(
            request.request_id,
            escape(request.description[:60] + ("…" if len(request.description) > 60 else "")),
            escape(request.project_name),
            escape(deferred.reason),
            deferred.retry_at.astimezone().strftime("%Y-%m-%d %H:%M"),
            worst_case(request, settings),
        )
    console.print(table)
    console.print("run one now: frugalflow deferred run ID; drop one: frugalflow deferred drop ID")


def worst_case(request: CodeRequest, settings: Settings) -> str:
    """The least a paid model needs free to run the request (its cheapest worst case), now."""
    from frugalflow.core.settings import load_settings
    from frugalflow.money.budget import usd
    from frugalflow.tasks.estimate import estimate_request

    try:
        here = load_settings(request.repo) if Path(request.repo).is_dir() else settings
        candidates = estimate_request(request, here).candidates
    except FrugalflowError:
        return "?"
    worst = min(
        (c.worst_case_cost_usd for c in candidates if c.worst_case_cost_usd), default=Decimal(0)
    )
    return usd(worst)


def deferred_run(
    ids: Annotated[
        list[str] | None,
        typer.Argument(help="Deferred or request ids (see `frugalflow deferred`)."),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Run every waiting request.")] = False,
    repo: ConfigRepo = None,
) -> None:
    """Run waiting requests now, through the rerun-deferred flow, whether due or not.

    Exit 0 when every one completed, 75 when some were deferred again, 1 when one failed (it
    then leaves the queue with its reason).
    """
    quiet_prefect()
    from frugalflow.money.deferred import DeferredStore
    from frugalflow.money.ledger import CostLedger

    settings = settings_or_exit(repo)
    store = DeferredStore(CostLedger(settings.ledger_file))
    try:
        if all_:
            chosen = [d.deferred_id for d in store.pending()]
        elif ids:
            unknown = [wanted for wanted in ids if not store.find(wanted)]
            if unknown:
                raise fail(
                    f"no waiting request has id {', '.join(unknown)}; `frugalflow deferred` "
                    "lists them"
                )
            chosen = list(ids)
        else:
            raise fail("name the requests to run (ids from `frugalflow deferred`), or pass --all")
    except FrugalflowError as exc:
        raise fail(str(exc)) from None
    if not chosen:
        console.print("no deferred requests are waiting")
        return
    use_local_server(settings)
    from frugalflow.flows.deferred import rerun_deferred

    try:
        results = asyncio.run(rerun_deferred(limit=len(chosen), deferred_ids=chosen))
    except FrugalflowError as exc:
        raise fail(str(exc), EXIT_FAILED) from None
    except Exception as exc:
        raise crashed(exc, settings, "deferred-run") from None
    for result in results:
        colour = {"completed": "green", "deferred": "yellow"}.get(result.status.value, "red")
        console.print(
            f"[{colour}]{result.status.value}[/] {result.request_id}: {escape(result.reason)}",
            highlight=False,
        )
    statuses = {result.status for result in results}
    if RunStatus.FAILED in statuses or len(results) < len(chosen):
        raise typer.Exit(EXIT_FAILED)
    if RunStatus.DEFERRED in statuses:
        raise typer.Exit(EXIT_DEFERRED)


def deferred_drop(
    ids: Annotated[list[str], typer.Argument(help="Deferred or request ids to drop.")],
    reason: Annotated[
        str, typer.Option(help="Why, kept with the request in the ledger.")
    ] = "dropped by the user",
    repo: ConfigRepo = None,
) -> None:
    """Take waiting requests out of the queue without running them; the reason is recorded."""
    from frugalflow.money.deferred import DeferredStore
    from frugalflow.money.ledger import CostLedger

    settings = settings_or_exit(repo)
    store = DeferredStore(CostLedger(settings.ledger_file))
    try:
        found = {wanted: store.find(wanted) for wanted in ids}
        unknown = [wanted for wanted, rows in found.items() if not rows]
        if unknown:
            raise fail(
                f"no waiting request has id {', '.join(unknown)}; `frugalflow deferred` lists them"
            )
        for rows in found.values():
            for row in rows:
                store.drop(row.deferred_id, reason)
                console.print(f"dropped {row.request.request_id} ({escape(reason)})")
    except FrugalflowError as exc:
        raise fail(str(exc)) from None

"""``frugalflow ledger`` and ``frugalflow budget``: what was spent, and what is left."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Annotated

import typer
from rich.markup import escape

from frugalflow.cli.output import ConfigRepo, WholeTable, console, fail
from frugalflow.core.errors import FrugalflowError

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _plain(value: object) -> str:
    """JSON for what json cannot write: money as an exact decimal string, times in ISO 8601."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def print_json(value: object) -> None:
    """``value`` as indented JSON on stdout (see :func:`_plain`)."""
    print(json.dumps(value, indent=2, default=_plain))


def _moment(text: str | None, timezone: str, *, end: bool) -> datetime | None:
    """A ``--since``/``--until`` value: a date is its local day in the budget timezone (its
    start for ``--since``; its end for ``--until``, so the day is included); a time without an
    offset is in the budget timezone too."""
    from zoneinfo import ZoneInfo

    from frugalflow.money.budget import day_window

    if text is None:
        return None
    zone = ZoneInfo(timezone)
    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text).replace(hour=12, tzinfo=zone)
            start, stop = day_window(day, timezone)
            return stop if end else start
        moment = datetime.fromisoformat(text)
    except ValueError:
        option = "--until" if end else "--since"
        raise typer.BadParameter(
            f"{text!r} is not a date or a time like 2026-12-03 or 2026-12-03T14:30",
            param_hint=option,
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def ledger(
    limit: Annotated[int, typer.Option(help="How many recent model calls to show.")] = 20,
    request: Annotated[str | None, typer.Option(help="Only this request's calls.")] = None,
    project: Annotated[str | None, typer.Option(help="Only this project's calls.")] = None,
    model: Annotated[
        str | None, typer.Option(help="Only this model's calls: provider:model, or the name.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only calls from this day or time on (2026-12-01, 2026-12-01T09:00)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Only calls up to this day (included) or before this time."),
    ] = None,
    repo: ConfigRepo = None,
    as_json: AsJson = False,
) -> None:
    """Show recent model calls and today's spend."""
    from frugalflow.core.settings import load_settings
    from frugalflow.money.budget import day_window
    from frugalflow.money.ledger import CostLedger

    try:
        settings = load_settings(repo)
        cost_ledger = CostLedger(settings.ledger_file)
        calls = cost_ledger.recent(
            limit,
            request_id=request,
            project=project,
            model=model,
            since=_moment(since, settings.timezone, end=False),
            until=_moment(until, settings.timezone, end=True),
        )
        start, end = day_window(datetime.now().astimezone(), settings.timezone)
        today = cost_ledger.spend_between(start, end)
    except FrugalflowError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(
            {
                "ledger": str(settings.ledger_file),
                "timezone": settings.timezone,
                "spent_today_usd": today,
                "daily_budget_usd": settings.daily_budget_usd,
                "calls": [call.model_dump() for call in calls],
            }
        )
        return
    table = WholeTable(
        title=f"last {len(calls)} model calls ({settings.ledger_file})", title_justify="left"
    )
    for column in ("time", "request", "project", "step", "model", "in", "out", "cost", "ok"):
        table.add_column(column)
    for call in calls:
        table.add_row(
            call.ts.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
            call.request_id,
            call.project,
            call.step,
            f"{call.provider}:{call.model}",
            str(call.input_tokens),
            str(call.output_tokens),
            f"${call.actual_cost_usd:.4f}",
            "cache" if call.cache_hit else ("yes" if call.success else "no"),
        )
    console.print(table)
    console.print(
        f"today ({settings.timezone}): [bold]${today:.4f}[/] of ${settings.daily_budget_usd:.2f}"
    )


def budget(
    project: Annotated[
        str | None, typer.Option(help="Also show this project's own window, if it has one.")
    ] = None,
    repo: ConfigRepo = None,
    as_json: AsJson = False,
) -> None:
    """Show spend, reservations and what is left in each budget window, and waiting requests."""
    from frugalflow.core.settings import load_settings
    from frugalflow.money.budget import BudgetManager, windows_in_emergency
    from frugalflow.money.deferred import DeferredStore
    from frugalflow.money.ledger import CostLedger
    from frugalflow.money.pricing import subscription_cost_per_day

    try:
        settings = load_settings(repo)
        cost_ledger = CostLedger(settings.ledger_file)
        windows = BudgetManager(cost_ledger, settings).status(project)
        waiting = DeferredStore(cost_ledger).pending()
    except FrugalflowError as exc:
        raise fail(str(exc)) from None
    fees = subscription_cost_per_day(
        settings.subscriptions_usd_per_month, datetime.now().astimezone().date()
    )
    emergency = windows_in_emergency(windows, settings)
    if as_json:
        print_json(
            {
                "timezone": settings.timezone,
                "windows": [
                    {**window.model_dump(), "remaining_usd": window.remaining_usd}
                    for window in windows
                ],
                "emergency": emergency,
                "subscriptions_usd_per_day": fees,
                "deferred_waiting": [
                    {
                        "request_id": deferred.request.request_id,
                        "retry_at": deferred.retry_at.isoformat(),
                        "reason": deferred.reason,
                    }
                    for deferred in waiting
                ],
            }
        )
        return
    table = WholeTable(title=f"budget ({settings.timezone})", title_justify="left")
    for column in ("window", "limit", "spent", "reserved", "remaining", "used", "resets"):
        table.add_column(column, justify="left" if column in ("window", "resets") else "right")
    for window in windows:
        used = window.spent_usd / window.limit_usd if window.limit_usd else Decimal(1)
        table.add_row(
            window.key,
            f"${window.limit_usd:.2f}",
            f"${window.spent_usd:.4f}",
            f"${window.reserved_usd:.4f}",
            f"${window.remaining_usd:.4f}",
            f"{used:.0%}",
            window.end.astimezone().strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)
    for provider, per_day in fees.items():
        console.print(f"subscription {provider}: ${per_day:.2f} per day (amortised, not budgeted)")
    if emergency:
        console.print("[bold yellow]emergency mode:[/] only free tiers are used until a reset")
    console.print(f"deferred requests waiting: {len(waiting)}")
    for deferred in waiting[:10]:
        console.print(
            f"  {deferred.request.request_id}  retry at "
            f"{deferred.retry_at.astimezone():%Y-%m-%d %H:%M}  {escape(deferred.reason)}",
            highlight=False,
        )

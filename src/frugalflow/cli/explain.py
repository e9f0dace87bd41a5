"""``frugalflow explain REQUEST_ID``: why each attempt of a request went where it went."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from frugalflow.cli.output import ConfigRepo, WholeTable, console, fail
from frugalflow.core.errors import FrugalflowError


def explain(
    request_id: Annotated[str, typer.Argument(help="The request's id (shown by generate).")],
    repo: ConfigRepo = None,
) -> None:
    """Show every routing decision of a request: the rule that fired, the reason, and the
    models weighed with their expected cost and chance of passing validation."""
    from frugalflow.core.settings import load_settings
    from frugalflow.money.ledger import CostLedger
    from frugalflow.money.outcomes import outcomes_for_request

    try:
        settings = load_settings(repo)
        outcomes = outcomes_for_request(CostLedger(settings.ledger_file), request_id)
    except FrugalflowError as exc:
        raise fail(str(exc)) from None
    if not outcomes:
        raise fail(
            f"no routing decision is recorded for request {request_id!r} in "
            f"{settings.ledger_file}: check the id (`frugalflow ledger` lists recent requests); "
            "a request that was deferred or refused before its first attempt has none"
        )
    first = outcomes[0]
    console.print(
        f"request [bold]{escape(request_id)}[/]: {first.task_type.value}, {first.language}, "
        f"{first.complexity.value}"
    )
    for outcome in outcomes:
        decision = outcome.decision
        verdict = "passed" if outcome.passed else "failed"
        if outcome.repeated:
            verdict += " (repeated code already validated)"
        console.print(
            f"\n[bold]attempt {outcome.attempt}[/]: {escape(outcome.model)}, "
            f"validation {verdict}, ${outcome.cost_usd:.6f}, {outcome.latency_ms} ms"
        )
        if decision is None:
            continue
        console.print(f"  rule: {escape(decision.rule or 'none')}")
        console.print(f"  reason: {escape(decision.reason)}")
        if decision.options:
            table = WholeTable(title_justify="left", box=None, padding=(0, 2))
            for column in ("model", "expected cost", "P(pass)", "history"):
                table.add_column(column, justify="left" if column == "model" else "right")
            for option in decision.options:
                chosen = " [bold](chosen)[/]" if option.model == decision.model else ""
                table.add_row(
                    escape(option.model) + chosen,
                    f"${option.expected_cost_usd:.6f}",
                    f"{option.success_probability:.0%}",
                    f"{option.observations} attempts",
                )
            console.print(table)

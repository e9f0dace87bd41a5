"""What a codegen run's page in the Prefect UI shows: its money, its routing, where the code went.

:func:`run_summary` renders one request's markdown artifact from its
:class:`~frugalflow.core.schemas.CodeResult` and the ledger: the outcome (with the retry time of
a deferred request, and the first run of a re-run), each model call (model, tier, tokens, cost,
outcome), why each attempt went where it went, what is left in each budget window, and the
branch and commit. It reads the ledger and never fails the run: what cannot be read is said so.
"""

from __future__ import annotations

import logging
from datetime import datetime

from frugalflow.core.errors import FrugalflowError
from frugalflow.core.schemas import CodeResult, RunStatus
from frugalflow.core.settings import Settings
from frugalflow.money.budget import BudgetManager
from frugalflow.money.ledger import CostLedger

logger = logging.getLogger("frugalflow.codegen")


def _cell(text: object) -> str:
    """``text`` safe in one markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def local_time(moment: datetime, timezone: str) -> str:
    """``moment`` in the budget timezone, as people read it (``2026-12-04 00:00 Europe/Paris``)."""
    from zoneinfo import ZoneInfo

    return f"{moment.astimezone(ZoneInfo(timezone)):%Y-%m-%d %H:%M} {timezone}"


def state_message(result: CodeResult, settings: Settings) -> str:
    """The message on the run's final state: the reason, and for a deferred request when it
    runs again."""
    if result.status is RunStatus.DEFERRED and result.retry_at is not None:
        return f"Deferred until {local_time(result.retry_at, settings.timezone)}: {result.reason}"
    return result.reason


def run_summary(
    result: CodeResult, settings: Settings, project: str, *, first_run_id: str | None = None
) -> str:
    """The markdown of a codegen run's artifact.

    Args:
        result: how the run ended.
        settings: where the ledger is, the budget windows and the timezone.
        project: the project the costs are booked under (its budget window is shown too).
        first_run_id: for a re-run of a deferred request, the flow run that deferred it.
    """
    lines = [f"## {result.status.value}: {_cell(state_message(result, settings))}", ""]
    if first_run_id:
        lines += [f"Re-run of a deferred request; its first run: `{first_run_id}`.", ""]
    if result.branch:
        commit = f", commit `{result.commit}`" if result.commit else ""
        merged = " (your branch was fast-forwarded to it)" if result.merged else ""
        lines += [f"Branch `{result.branch}`{commit}{merged}: {', '.join(result.files)}", ""]
    lines += [
        f"Cost **${result.cost_usd:.6f}**, {result.input_tokens} input / "
        f"{result.output_tokens} output tokens, {result.attempts} attempt(s).",
        "",
    ]
    lines += _calls(result, settings)
    lines += _routing(result)
    lines += _budget(settings, project)
    lines += [
        "### Time per step",
        "",
        "| step | seconds | cached |",
        "| --- | ---: | --- |",
        *(f"| {s.step} | {s.seconds:.2f} | {'yes' if s.cached else ''} |" for s in result.steps),
    ]
    return "\n".join(lines)


def _calls(result: CodeResult, settings: Settings) -> list[str]:
    try:
        calls = CostLedger(settings.ledger_file).calls_for_request(result.request_id)
    except FrugalflowError as exc:
        logger.warning("the run's model calls could not be read for its summary: %s", exc)
        return ["### Model calls", "", f"(the ledger could not be read: {_cell(exc)})", ""]
    if not calls:
        return ["### Model calls", "", "No model was called.", ""]
    lines = [
        "### Model calls",
        "",
        "| step | model | tier | input tokens | output tokens | cost | outcome |",
        "| --- | --- | --- | ---: | ---: | ---: | --- |",
    ]
    for call in calls:
        outcome = "cache hit" if call.cache_hit else ("ok" if call.success else "failed")
        if call.error:
            outcome += f": {call.error[:120]}"
        lines.append(
            f"| {call.step} | {call.provider}:{call.model} | {call.tier.value} "
            f"| {call.input_tokens} | {call.output_tokens} | ${call.actual_cost_usd:.6f} "
            f"| {_cell(outcome)} |"
        )
    return [*lines, ""]


def _routing(result: CodeResult) -> list[str]:
    if not result.routing:
        return []
    passed = {record.attempt: record.passed for record in result.tried}
    lines = [
        "### Routing (`frugalflow explain " + result.request_id + "` has more)",
        "",
        "| attempt | model | rule | passed validation | reason |",
        "| ---: | --- | --- | --- | --- |",
    ]
    for decision in result.routing:
        verdict = {True: "yes", False: "no", None: "not run"}[passed.get(decision.attempt)]
        lines.append(
            f"| {decision.attempt} | {decision.model} | {decision.rule or ''} | {verdict} "
            f"| {_cell(decision.reason)} |"
        )
    if result.routing[0].options:
        lines += ["", "| model weighed | expected cost | P(pass) | attempts seen |"]
        lines.append("| --- | ---: | ---: | ---: |")
        lines += [
            f"| {o.model} | ${o.expected_cost_usd:.6f} | {o.success_probability:.0%} "
            f"| {o.observations} |"
            for o in result.routing[0].options
        ]
    return [*lines, ""]


def _budget(settings: Settings, project: str) -> list[str]:
    try:
        windows = BudgetManager(CostLedger(settings.ledger_file), settings).status(project)
    except FrugalflowError as exc:
        logger.warning("the budget could not be read for the run's summary: %s", exc)
        return ["### Budget left", "", f"(the ledger could not be read: {_cell(exc)})", ""]
    lines = [
        f"### Budget left ({settings.timezone})",
        "",
        "| window | limit | spent | reserved | left | resets |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for window in windows:
        lines.append(
            f"| {window.key} | ${window.limit_usd:.2f} | ${window.spent_usd:.4f} "
            f"| ${window.reserved_usd:.4f} | ${window.remaining_usd:.4f} "
            f"| {local_time(window.end, settings.timezone)} |"
        )
    return [*lines, ""]

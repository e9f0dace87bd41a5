"""Step 2, budget gate: may this request spend anything, and on which models?

Today's spend is summed from the ledger for the budget day in the configured timezone, so the
window needs no reset job and cannot fail to reset. Free tiers are always allowed; paid ones
only while their worst case fits what is left, and never in emergency mode (less than
``emergency_threshold_usd`` left). A request with no allowed model is deferred, not dropped.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from frugalflow.errors import ConfigurationError
from frugalflow.ledger import CostLedger
from frugalflow.schemas import BudgetDecision, CodeRequest, TaskEstimate
from frugalflow.settings import Settings
from frugalflow.tasks import step


def day_window(now: datetime, timezone: str) -> tuple[datetime, datetime]:
    """The budget day containing ``now``: local midnight to the next local midnight.

    Raises:
        ConfigurationError: the timezone is not an IANA zone name.
    """
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigurationError(
            f"timezone {timezone!r} is not an IANA zone name such as 'Europe/Paris' or 'UTC'"
        ) from exc
    local = now.astimezone(zone)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    # Arithmetic on zoneinfo datetimes is wall-clock: a DST day comes out 23 or 25 hours long.
    return start, start + timedelta(days=1)


def check_budget(
    request: CodeRequest,
    estimate: TaskEstimate,
    settings: Settings,
    *,
    now: datetime | None = None,
) -> BudgetDecision:
    """Decide which of the estimate's candidate models this request may use.

    Args:
        request: the request (its own cap, if any, applies too).
        estimate: the candidates and their worst-case costs.
        settings: the daily budget, timezone and emergency threshold.
        now: the current time (for tests); aware.
    """
    now = now or datetime.now().astimezone()
    start, end = day_window(now, settings.timezone)
    spent = CostLedger(settings.ledger_file).spend_between(start, end)
    remaining = max(settings.daily_budget_usd - spent, Decimal(0))
    emergency = remaining < settings.emergency_threshold_usd
    cap = request.budget_cap_usd
    allowed = tuple(
        candidate.model
        for candidate in estimate.candidates
        if candidate.worst_case_cost_usd == 0
        or (
            not emergency
            and candidate.worst_case_cost_usd <= remaining
            and (cap is None or candidate.worst_case_cost_usd <= cap)
        )
    )
    if allowed:
        reason = f"${remaining:.2f} of ${settings.daily_budget_usd:.2f} left today" + (
            "; emergency mode: free tiers only" if emergency else ""
        )
    else:
        reason = (
            f"no candidate model fits: ${remaining:.2f} left today"
            + (" (emergency mode: free tiers only)" if emergency else "")
            + f"; deferred until the budget day ends at {end.isoformat()}"
        )
    return BudgetDecision(
        admitted=bool(allowed),
        spent_today_usd=spent,
        daily_budget_usd=settings.daily_budget_usd,
        remaining_usd=remaining,
        emergency=emergency,
        allowed_models=allowed,
        reason=reason,
        retry_at=None if allowed else end,
    )


budget_gate = step("budget gate")(check_budget)

"""Step 2, budget gate: may this request spend anything, and on which models?

Spend is summed from the ledger for each budget window (the day in the configured timezone,
the month, the project's day), so windows need no reset job and cannot fail to reset. Free
tiers are always allowed; paid ones only while their worst case fits what is left in every
window (spend plus live reservations of concurrent runs), and never in emergency mode (less
than ``emergency_threshold_usd`` left). A request with no allowed model is deferred, not
dropped. The gate only reads: the atomic reservation happens right before each paid call.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from frugalflow.core.schemas import BudgetDecision, CodeRequest, QualityMode, TaskEstimate
from frugalflow.core.settings import Settings
from frugalflow.money.budget import BudgetManager, in_emergency, money_left, usd
from frugalflow.money.ledger import CostLedger
from frugalflow.tasks import step


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
        settings: the budgets, timezone and emergency threshold.
        now: the current time (for tests); aware.
    """
    ledger = CostLedger(settings.ledger_file)
    manager = (
        BudgetManager(ledger, settings, clock=lambda: now)
        if now
        else BudgetManager(ledger, settings)
    )
    windows = manager.windows(request.project_name)
    daily = windows[0]
    tightest = min(windows, key=lambda window: window.remaining_usd)
    remaining = tightest.remaining_usd
    emergency = in_emergency(remaining, settings)
    # economy: the user asked never to pay for this request.
    free_only = emergency or request.quality is QualityMode.ECONOMY
    cap = request.budget_cap_usd
    allowed = tuple(
        candidate.model
        for candidate in estimate.candidates
        if candidate.worst_case_cost_usd == 0
        or (
            not free_only
            and candidate.worst_case_cost_usd <= remaining
            and (cap is None or candidate.worst_case_cost_usd <= cap)
        )
    )
    left = f"{money_left(remaining)} left in {tightest.key}"
    paid = [c for c in estimate.candidates if c.worst_case_cost_usd > 0]
    # Waiting for money cannot help when the request itself rules out every paid model.
    hopeless = request.quality is QualityMode.ECONOMY or (
        cap is not None and all(c.worst_case_cost_usd > cap for c in paid)
    )
    if not allowed and hopeless:
        reason = "no model can run this request: no free model is configured and " + (
            "--quality economy rules out paid ones; use --quality balanced"
            if request.quality is QualityMode.ECONOMY
            else f"every paid one could cost more than the {usd(cap or Decimal(0))} cap; raise "
            "--budget-cap"
        )
    elif allowed:
        reason = left + ("; emergency mode: free tiers only" if emergency else "")
        if request.quality is QualityMode.ECONOMY:
            reason += "; economy: free tiers only"
    else:
        reason = (
            f"no candidate model fits: {left}"
            + (" (emergency mode: free tiers only)" if emergency else "")
            + (" (economy: free tiers only)" if request.quality is QualityMode.ECONOMY else "")
            + f"; deferred until {tightest.end.isoformat()}"
        )
    return BudgetDecision(
        admitted=bool(allowed),
        spent_today_usd=daily.spent_usd,
        daily_budget_usd=daily.limit_usd,
        remaining_usd=max(remaining, Decimal(0)),
        emergency=emergency,
        allowed_models=allowed,
        reason=reason,
        retry_at=None if allowed or hopeless else tightest.end,
    )


budget_gate = step("budget gate")(check_budget)

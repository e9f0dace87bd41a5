"""The cost report: where the money went over a day, a week or a month, from the ledger.

:func:`cost_report` reads the ledger with a handful of DuckDB statements (through
:meth:`CostLedger.query`, so under its shared lock and with journaled calls booked first) and
returns a :class:`CostReport`: plain data, money as ``Decimal``, that
:mod:`frugalflow.money.report_render` turns into markdown, table rows, a chart and HTML.

Periods are counted in the budget timezone (``settings.timezone``), as the budget windows are:
``day`` is the local day of the reference date, ``week`` the seven local days ending on it,
``month`` its calendar month up to and including it (month to date). A call at 23:30 local time
belongs to that local day, whatever its UTC date.

What the figures mean, where it is not obvious:

- *cost per validated task*: everything the period's calls cost (failed attempts, escalations,
  failed calls, documentation included), divided by how many requests had an attempt in the
  period that passed validation: what one validated task cost, all waste included.
- *local share*: of the validated requests, those whose first passing attempt ran on a local
  model.
- *escalation*: a request whose attempts used more than one model (a repair on the same model
  is not one).
- *money saved by cache hits*: a cache hit is booked at $0 with no tokens (the answer was an
  earlier run's), so what it saved is estimated as the mean cost of that model's successful,
  uncached calls of the same step in the period, or over the whole ledger when the period has
  none; a model with no such call at all saved $0.
- *money saved by prompt caching*: the vendors' prompt-cache reads, each call's
  ``cached_tokens`` times the difference between the input and the cache-read rate it was
  billed at (both in the ledger's row). Cache writes cost more than input on Anthropic; that
  is in the spend, not netted here.
- *local machine*: the local tier's wall time at ``local_cost_usd_per_hour`` (``$0`` unless
  set), kept apart from the spend: *cost per validated task with the machine* adds it to the
  period's cost before dividing.
- *estimate error*: per request, the estimated against the actual cost of its uncached calls
  that had an estimate; the median absolute percentage error over requests that cost money.
- *forecast*: month-to-date spend divided by the days elapsed, times the days of the month (a
  linear run rate over the reference date's month); subscriptions are added at their fee.
- *recommendations*: a model whose attempts in the period cost more than
  :data:`EXPENSIVE_PER_SUCCESS_USD` per successful attempt on a task type, with the models that
  solved that task type for less, and the saving had they solved the same number; a local share
  under :data:`LOCAL_SHARE_FLOOR` of validated tasks, with the saving of reaching
  :data:`LOCAL_SHARE_TARGET` at the period's mean attempt cost (all of a request's attempts) of
  a locally and of a non-locally validated task.

A ledger that does not exist, or one without the ``attempt_outcomes`` table (schema 4), gives a
report with what it can say and a note for what it cannot; it never raises for missing data.

Over 400 lines on purpose: the report's model and its queries are one thing. Each figure is
defined once, here, next to the SQL that computes it, so that the renderings and the CLI cannot
disagree with each other about what a number means.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from frugalflow.core.models import PROVIDER_TIERS
from frugalflow.core.settings import Settings
from frugalflow.money.budget import day_window, month_window
from frugalflow.money.ledger import CostLedger
from frugalflow.money.pricing import subscription_cost_per_day

Period = Literal["day", "week", "month"]
PERIODS: tuple[Period, ...] = ("day", "week", "month")
DIMENSIONS = ("provider", "model", "tier", "task_type", "project", "step")

EXPENSIVE_PER_SUCCESS_USD = Decimal(1)
LOCAL_SHARE_FLOOR = 0.5
LOCAL_SHARE_TARGET = 0.7

_PRECISION = Decimal("1e-8")
_MTOK = Decimal(1_000_000)


def _money(value: Any) -> Decimal:
    """A SQL sum (or None) as Decimal rounded to the ledger's 8 decimal places."""
    if value is None:
        return Decimal(0)
    return Decimal(value).quantize(_PRECISION, rounding=ROUND_HALF_EVEN)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BreakdownRow(Frozen):
    """Spend of one value of a dimension (one provider, one model...).

    Attributes:
        key: the value (``unknown`` for calls that did not record it).
        cost_usd: the actual cost of its calls.
        calls: how many calls (failed ones and cache hits included).
        input_tokens: their input tokens.
        output_tokens: their output tokens.
    """

    key: str
    cost_usd: Decimal
    calls: int
    input_tokens: int
    output_tokens: int


class WindowUse(Frozen):
    """What was spent in one budget window that the period covers.

    Attributes:
        key: the window's key, as :class:`~frugalflow.money.budget.BudgetWindow` names it.
        kind: ``daily``, ``monthly`` or ``project``.
        start: its first instant.
        end: its end (exclusive).
        limit_usd: its budget.
        spent_usd: what was spent in it, up to the end of the period.
        project: the project of a project window.
    """

    key: str
    kind: Literal["daily", "monthly", "project"]
    start: AwareDatetime
    end: AwareDatetime
    limit_usd: Decimal
    spent_usd: Decimal
    project: str | None = None

    @property
    def used(self) -> float | None:
        """The fraction of the limit spent; None for a $0 limit."""
        return float(self.spent_usd / self.limit_usd) if self.limit_usd else None


class DayCost(Frozen):
    """One local day of the trend: its cost per tier.

    Attributes:
        day: the local date.
        by_tier: cost per tier (``local``, ``subscription``, ``api``), every tier present.
    """

    day: date
    by_tier: dict[str, Decimal]

    @property
    def total_usd(self) -> Decimal:
        """The day's cost over all tiers."""
        return sum(self.by_tier.values(), Decimal(0))


class Recommendation(Frozen):
    """One thing to change, with its numbers.

    Attributes:
        kind: ``cheaper-model`` or ``more-local``.
        message: the recommendation for people.
        saving_usd: the estimated saving over the period.
        model: the expensive model (``cheaper-model``).
        task_type: its task type (``cheaper-model``).
        cost_per_success_usd: its cost per successful attempt (``cheaper-model``).
        alternatives: cheaper models that solved that task type, with their cost per success.
        local_share: the period's local share (``more-local``).
        target_share: the share to reach (``more-local``).
    """

    kind: Literal["cheaper-model", "more-local"]
    message: str
    saving_usd: Decimal
    model: str | None = None
    task_type: str | None = None
    cost_per_success_usd: Decimal | None = None
    alternatives: dict[str, Decimal] = Field(default_factory=dict)
    local_share: float | None = None
    target_share: float | None = None


class CostReport(Frozen):
    """Where the money went over one period. See the module docstring for each figure.

    Attributes:
        period: ``day``, ``week`` or ``month``.
        reference_date: the last local day of the period.
        timezone: the budget timezone the days are counted in.
        start: the period's first instant.
        end: the period's end (exclusive).
        days: the local days of the period.
        generated_at: when the report was made.
        ledger: the ledger file it was read from.
        notes: what the report could not say, and why.
        total_usd: the actual cost of every call in the period.
        calls: how many calls.
        input_tokens: their input tokens.
        output_tokens: their output tokens.
        failed_calls: calls that failed.
        failed_calls_usd: what the failed calls cost.
        windows: spend against each budget window.
        breakdown: spend per dimension (:data:`DIMENSIONS`), most expensive first.
        trend: cost per local day and tier, every day of the period.
        requests: requests that made a generation attempt.
        validated: of those, the ones an attempt of which passed validation.
        cost_per_validated_usd: ``total_usd / validated``; None with nothing validated.
        validated_local: validated requests whose first passing attempt was local.
        local_share: ``validated_local / validated``; None with nothing validated.
        escalated: requests whose attempts used more than one model.
        escalation_rate: ``escalated / requests``; None without requests.
        failed_attempts: attempts that failed validation.
        failed_attempts_usd: what they cost.
        cache_hits: calls answered from the cache.
        cache_saved_usd: the estimated money they saved.
        cached_tokens: prompt tokens the vendors read from their prompt caches.
        cache_write_tokens: prompt tokens written to them.
        reasoning_tokens: output tokens the models spent thinking.
        prompt_cache_saved_usd: what the prompt-cache reads saved: each call's cached tokens
            times its input rate less its cache-read rate (the ledger's per-call rates; calls
            booked before schema 6, without rates, count $0).
        machine_usd: the local tier's wall time at ``local_cost_usd_per_hour``.
        cost_per_validated_with_machine_usd: ``(total_usd + machine_usd) / validated``.
        estimate_error_percent: the median absolute % error of estimated against actual cost
            per request; None when no request that cost money had an estimate.
        estimate_bias_percent: the mean signed % error (positive: estimates too high).
        estimated_requests: requests the error is measured over.
        subscriptions_usd: each subscription's fee amortised over the period's days.
        subscriptions_per_day_usd: each subscription's fee per day of the reference month.
        month_to_date_usd: spend from the 1st of the reference month to the period's end.
        forecast_month_usd: month-end spend forecast (metered calls only).
        forecast_with_subscriptions_usd: the forecast plus the subscriptions' monthly fees.
        monthly_budget_usd: the monthly budget, if set.
        recommendations: what to change, with the numbers.
    """

    period: Period
    reference_date: date
    timezone: str
    start: AwareDatetime
    end: AwareDatetime
    days: tuple[date, ...]
    generated_at: AwareDatetime
    ledger: str
    notes: tuple[str, ...] = ()
    total_usd: Decimal = Decimal(0)
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    failed_calls: int = 0
    failed_calls_usd: Decimal = Decimal(0)
    windows: tuple[WindowUse, ...] = ()
    breakdown: dict[str, tuple[BreakdownRow, ...]] = Field(default_factory=dict)
    trend: tuple[DayCost, ...] = ()
    requests: int = 0
    validated: int = 0
    cost_per_validated_usd: Decimal | None = None
    validated_local: int = 0
    local_share: float | None = None
    escalated: int = 0
    escalation_rate: float | None = None
    failed_attempts: int = 0
    failed_attempts_usd: Decimal = Decimal(0)
    cache_hits: int = 0
    cache_saved_usd: Decimal = Decimal(0)
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    prompt_cache_saved_usd: Decimal = Decimal(0)
    machine_usd: Decimal = Decimal(0)
    cost_per_validated_with_machine_usd: Decimal | None = None
    estimate_error_percent: float | None = None
    estimate_bias_percent: float | None = None
    estimated_requests: int = 0
    subscriptions_usd: dict[str, Decimal] = Field(default_factory=dict)
    subscriptions_per_day_usd: dict[str, Decimal] = Field(default_factory=dict)
    month_to_date_usd: Decimal = Decimal(0)
    forecast_month_usd: Decimal = Decimal(0)
    forecast_with_subscriptions_usd: Decimal = Decimal(0)
    monthly_budget_usd: Decimal | None = None
    recommendations: tuple[Recommendation, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether the period has no call at all."""
        return self.calls == 0


def period_days(period: Period, reference: date) -> tuple[date, ...]:
    """The local days of ``period`` ending on ``reference``, oldest first.

    Example:
        >>> [d.day for d in period_days("week", date(2026, 12, 3))]
        [27, 28, 29, 30, 1, 2, 3]
    """
    if period == "day":
        first = reference
    elif period == "week":
        first = reference - timedelta(days=6)
    elif period == "month":
        first = reference.replace(day=1)
    else:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
    return tuple(first + timedelta(days=n) for n in range((reference - first).days + 1))


def local_day_window(day: date, timezone: str) -> tuple[datetime, datetime]:
    """The budget day ``day``: its local midnight to the next (23 or 25 hours on a DST day)."""
    return day_window(datetime.combine(day, time(12), ZoneInfo(timezone)), timezone)


def today_in(timezone: str, now: datetime | None = None) -> date:
    """The local date in the budget timezone now (or at ``now``)."""
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(timezone)).date()


def cost_report(
    ledger: CostLedger,
    settings: Settings,
    period: Period = "day",
    today: date | None = None,
    *,
    now: datetime | None = None,
) -> CostReport:
    """The cost report of ``period`` ending on ``today``, from ``ledger``.

    Args:
        ledger: the cost ledger to read.
        settings: the budgets, the timezone and the subscriptions.
        period: ``day``, ``week`` or ``month`` (month to date).
        today: the period's last local day; the current one in ``settings.timezone`` if None.
        now: when the report is made (for tests); aware.

    Returns:
        The report; an empty one (no calls, and a note) for an empty or missing ledger.

    Raises:
        ValueError: ``period`` is not one of :data:`PERIODS`.
        ConfigurationError: the timezone is not an IANA zone name.
        LedgerError: the ledger exists but cannot be read.
    """
    made = (now or datetime.now(UTC)).astimezone(UTC)
    reference = today or today_in(settings.timezone, made)
    days = period_days(period, reference)
    start = local_day_window(days[0], settings.timezone)[0]
    end = local_day_window(days[-1], settings.timezone)[1]
    header: dict[str, Any] = {
        "period": period,
        "reference_date": reference,
        "timezone": settings.timezone,
        "start": start,
        "end": end,
        "days": days,
        "generated_at": made,
        "ledger": str(ledger.path),
        "monthly_budget_usd": settings.monthly_budget_usd,
    }
    header |= _subscriptions(settings, days)
    tables = _tables(ledger)
    notes: list[str] = []
    if "model_calls" not in tables:
        notes.append(f"no ledger at {ledger.path} yet: nothing has been spent")
        empty_windows = _windows(settings, days, {}, {}, lambda s, e: Decimal(0))
        return CostReport(
            **header,
            notes=tuple(notes),
            windows=empty_windows,
            trend=_trend(days, {}),
            forecast_with_subscriptions_usd=_monthly_fees(settings),
        )
    window = [start, end]
    fields: dict[str, Any] = {}
    fields |= _calls_figures(ledger, settings, days, window)
    fields |= _forecast(ledger, settings, reference, end)
    fields |= _estimate_figures(ledger, window)
    fields |= _accounting_figures(ledger, window)
    if "attempt_outcomes" in tables:
        outcome_fields, recommendations = _outcome_figures(ledger, window, fields["total_usd"])
        fields |= outcome_fields
        if fields["validated"]:
            with_machine = (fields["total_usd"] + fields["machine_usd"]) / fields["validated"]
            fields["cost_per_validated_with_machine_usd"] = _money(with_machine)
    else:
        recommendations = []
        notes.append(
            "the ledger has no attempt_outcomes table (schema 4): validation figures are empty"
        )
    if fields["calls"] == 0:
        notes.append("no model call in this period")
    return CostReport(
        **header, **fields, notes=tuple(notes), recommendations=tuple(recommendations)
    )


def _tables(ledger: CostLedger) -> set[str]:
    rows = ledger.query(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
    )
    return {str(row[0]) for row in rows}


_KEYS = {"provider": 1, "model": 2, "tier": 3, "task_type": 4, "project": 5, "step": 6}
# Every figure of the period's calls in one scan. The calls are first summed per combination
# of the dimensions and UTC quarter-hour (a few thousand rows for millions of calls), then the
# grouping sets (the breakdowns, the trend, the totals) are taken over those sums; the local
# day of a quarter-hour is that of its start, exact for every zone whose offset is a multiple
# of 15 minutes (all of today's).
_CALLS_SQL = """
WITH fine AS (
    SELECT provider, model, tier, task_type, project, step,
        epoch_us(ts) // 900000000 AS quarter, success, cache_hit,
        sum(actual_cost_usd) AS cost, count(*) AS n,
        sum(input_tokens) AS tin, sum(output_tokens) AS tout
    FROM model_calls WHERE ts >= ? AND ts < ?
    GROUP BY provider, model, tier, task_type, project, step, quarter, success, cache_hit),
c AS (
    SELECT provider, provider || ':' || model AS model, tier,
        coalesce(task_type, 'unknown') AS task_type, project, step,
        CAST(timezone(?, to_timestamp(quarter * 900)) AS DATE) AS day,
        cost, n, tin, tout, success, cache_hit
    FROM fine)
SELECT GROUPING_ID(provider, model, tier, task_type, project, step, day, success, cache_hit),
    provider, model, tier, task_type, project, step, day,
    sum(cost), sum(n), sum(tin), sum(tout),
    sum(n) FILTER (WHERE NOT success), sum(cost) FILTER (WHERE NOT success), success, cache_hit
FROM c
GROUP BY GROUPING SETS ((provider), (model), (tier), (task_type), (project), (step),
    (day, tier), (day, project), (model, step, success, cache_hit), ())
"""


def _gid(*kept: str) -> int:
    """The GROUPING_ID of a grouping set keeping ``kept`` (a bit set per column left out)."""
    order = (*DIMENSIONS, "day", "success", "cache_hit")
    return sum(1 << (len(order) - 1 - i) for i, name in enumerate(order) if name not in kept)


def _calls_figures(
    ledger: CostLedger, settings: Settings, days: Sequence[date], window: list[datetime]
) -> dict[str, Any]:
    rows = ledger.query(_CALLS_SQL, [*window, settings.timezone])
    by_dimension: dict[str, list[BreakdownRow]] = {name: [] for name in DIMENSIONS}
    day_tier: dict[tuple[date, str], Decimal] = {}
    day_project: dict[tuple[date, str], Decimal] = {}
    totals: dict[str, Any] = {"calls": 0}
    singles = {_gid(name): name for name in DIMENSIONS}
    hits: dict[tuple[str, str], int] = {}
    paid: dict[tuple[str, str], tuple[Decimal, int]] = {}
    for row in rows:
        gid, day = int(row[0]), row[7]
        cost, calls, tokens_in, tokens_out, failed, failed_cost, success, cache_hit = row[8:16]
        if gid in singles:
            name = singles[gid]
            by_dimension[name].append(
                BreakdownRow(
                    key=str(row[_KEYS[name]]),
                    cost_usd=_money(cost),
                    calls=int(calls),
                    input_tokens=int(tokens_in or 0),
                    output_tokens=int(tokens_out or 0),
                )
            )
        elif gid == _gid("tier", "day"):
            day_tier[(day, str(row[3]))] = _money(cost)
        elif gid == _gid("project", "day"):
            day_project[(day, str(row[5]))] = _money(cost)
        elif gid == _gid("model", "step", "success", "cache_hit"):
            if cache_hit:
                hits[(row[2], row[6])] = hits.get((row[2], row[6]), 0) + int(calls)
            elif success:
                paid[(row[2], row[6])] = (_money(cost), int(calls))
        elif gid == _gid():
            totals = {
                "total_usd": _money(cost),
                "calls": int(calls or 0),
                "input_tokens": int(tokens_in or 0),
                "output_tokens": int(tokens_out or 0),
                "failed_calls": int(failed or 0),
                "failed_calls_usd": _money(failed_cost),
            }
    breakdown = {
        name: tuple(sorted(found, key=lambda r: (-r.cost_usd, -r.calls, r.key)))
        for name, found in by_dimension.items()
    }
    day_totals: dict[date, Decimal] = {}
    for (day, _tier), cost in day_tier.items():
        day_totals[day] = day_totals.get(day, Decimal(0)) + cost

    def spent(start: datetime, end: datetime) -> Decimal:
        return ledger.spend_between(start, end)

    return {
        **totals,
        **_cache_figures(ledger, hits, paid),
        "breakdown": breakdown,
        "trend": _trend(days, day_tier),
        "windows": _windows(settings, days, day_totals, day_project, spent),
    }


def _trend(days: Sequence[date], day_tier: dict[tuple[date, str], Decimal]) -> tuple[DayCost, ...]:
    tiers = ["local", "subscription", "api"]
    tiers += sorted({tier for _, tier in day_tier} - set(tiers))
    return tuple(
        DayCost(day=day, by_tier={tier: day_tier.get((day, tier), Decimal(0)) for tier in tiers})
        for day in days
    )


def _windows(
    settings: Settings,
    days: Sequence[date],
    day_totals: dict[date, Decimal],
    day_project: dict[tuple[date, str], Decimal],
    spent: Any,
) -> tuple[WindowUse, ...]:
    """The budget windows the period covers: each day, each month, each project's days."""
    zone = settings.timezone
    found: list[WindowUse] = []
    for day in days:
        start, end = local_day_window(day, zone)
        found.append(
            WindowUse(
                key=f"daily:{day.isoformat()}",
                kind="daily",
                start=start,
                end=end,
                limit_usd=settings.daily_budget_usd,
                spent_usd=day_totals.get(day, Decimal(0)),
            )
        )
    if settings.monthly_budget_usd is not None:
        period_end = local_day_window(days[-1], zone)[1]
        for month in sorted({(day.year, day.month) for day in days}):
            start, end = month_window(local_day_window(date(*month, 1), zone)[0], zone)
            found.append(
                WindowUse(
                    key=f"monthly:{month[0]:04d}-{month[1]:02d}",
                    kind="monthly",
                    start=start,
                    end=end,
                    limit_usd=settings.monthly_budget_usd,
                    spent_usd=spent(start, min(end, period_end)),
                )
            )
    for project, limit in sorted(settings.project_budgets_usd.items()):
        for day in days:
            start, end = local_day_window(day, zone)
            found.append(
                WindowUse(
                    key=f"project:{project}:{day.isoformat()}",
                    kind="project",
                    start=start,
                    end=end,
                    limit_usd=limit,
                    spent_usd=day_project.get((day, project), Decimal(0)),
                    project=project,
                )
            )
    return tuple(found)


# The mean cost of a model's successful uncached calls of a step, over the whole ledger.
_PAID_SQL = """
SELECT provider || ':' || model, step, sum(actual_cost_usd), count(*) FROM model_calls
WHERE success AND NOT cache_hit AND list_contains(?, provider || ':' || model || '|' || step)
GROUP BY ALL
"""


def _cache_figures(
    ledger: CostLedger,
    hits: dict[tuple[str, str], int],
    paid: dict[tuple[str, str], tuple[Decimal, int]],
) -> dict[str, Any]:
    """Cache hits and the money they saved (see the module docstring).

    Args:
        ledger: the ledger, for the models that had no paid call in the period.
        hits: cache hits per (model, step) in the period.
        paid: cost and count of successful uncached calls per (model, step) in the period.
    """
    unpriced = [f"{model}|{step}" for model, step in hits if (model, step) not in paid]
    if unpriced:
        for model, step, cost, count in ledger.query(_PAID_SQL, [unpriced]):
            paid[(model, step)] = (_money(cost), int(count))
    saved = Decimal(0)
    for key, count in hits.items():
        cost, calls = paid.get(key, (Decimal(0), 0))
        if calls:
            saved += cost * count / calls
    return {"cache_hits": sum(hits.values()), "cache_saved_usd": _money(saved)}


_ACCOUNTING_SQL = """
SELECT sum(coalesce(compute_cost_usd, 0)), sum(cached_tokens),
    sum(coalesce(cache_write_tokens, 0)), sum(coalesce(reasoning_tokens, 0)),
    sum(cached_tokens * (input_per_mtok - cached_input_per_mtok))
        FILTER (WHERE input_per_mtok IS NOT NULL AND cached_input_per_mtok IS NOT NULL)
FROM model_calls WHERE ts >= ? AND ts < ?
"""


def _accounting_figures(ledger: CostLedger, window: list[datetime]) -> dict[str, Any]:
    """The local machine's cost and the tokens by billed part (see the module docstring)."""
    [(machine, cached, written, reasoning, saved)] = ledger.query(_ACCOUNTING_SQL, window)
    return {
        "machine_usd": _money(machine),
        "prompt_cache_saved_usd": _money(Decimal(saved or 0) / _MTOK),
        "cached_tokens": int(cached or 0),
        "cache_write_tokens": int(written or 0),
        "reasoning_tokens": int(reasoning or 0),
    }


_ESTIMATE_SQL = """
WITH r AS (
    SELECT request_id, CAST(sum(estimated_cost_usd) AS DOUBLE) AS est,
        CAST(sum(actual_cost_usd) AS DOUBLE) AS act
    FROM model_calls
    WHERE ts >= ? AND ts < ? AND NOT cache_hit AND estimated_input_tokens IS NOT NULL
    GROUP BY request_id)
SELECT median(abs(est - act) / act * 100), avg((est - act) / act * 100), count(*)
FROM r WHERE act > 0
"""


def _estimate_figures(ledger: CostLedger, window: list[datetime]) -> dict[str, Any]:
    [(error, bias, measured)] = ledger.query(_ESTIMATE_SQL, window) or [(None, None, 0)]
    return {
        "estimate_error_percent": None if error is None else float(error),
        "estimate_bias_percent": None if bias is None else float(bias),
        "estimated_requests": int(measured or 0),
    }


def _subscriptions(settings: Settings, days: Sequence[date]) -> dict[str, Any]:
    fees = settings.subscriptions_usd_per_month
    over: dict[str, Decimal] = dict.fromkeys(fees, Decimal(0))
    for day in days:
        for name, per_day in subscription_cost_per_day(fees, day).items():
            over[name] += per_day
    return {
        "subscriptions_usd": {name: _money(total) for name, total in over.items()},
        "subscriptions_per_day_usd": {
            name: _money(per_day)
            for name, per_day in subscription_cost_per_day(fees, days[-1]).items()
        },
    }


def _monthly_fees(settings: Settings) -> Decimal:
    return _money(sum(settings.subscriptions_usd_per_month.values(), Decimal(0)))


def _forecast(
    ledger: CostLedger, settings: Settings, reference: date, end: datetime
) -> dict[str, Any]:
    first = local_day_window(reference.replace(day=1), settings.timezone)[0]
    to_date = ledger.spend_between(first, end)
    length = calendar.monthrange(reference.year, reference.month)[1]
    # A forecast to the cent: more digits would claim a precision it does not have.
    forecast = (to_date / reference.day * length).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
    return {
        "month_to_date_usd": _money(to_date),
        "forecast_month_usd": forecast,
        "forecast_with_subscriptions_usd": (forecast + _monthly_fees(settings)).quantize(
            Decimal("0.01"), ROUND_HALF_EVEN
        ),
    }


# Per request from its attempts, then per provider of the first passing attempt (NULL: the
# request did not validate).
_OUTCOMES_SQL = """
WITH r AS (
    SELECT request_id, bool_or(passed) AS validated, min(model) <> max(model) AS escalated,
        arg_min(model, attempt) FILTER (WHERE passed) AS solver,
        count(*) FILTER (WHERE NOT passed) AS failed,
        sum(cost_usd) FILTER (WHERE NOT passed) AS failed_cost, sum(cost_usd) AS cost
    FROM attempt_outcomes WHERE ts >= ? AND ts < ? GROUP BY request_id)
SELECT CASE WHEN validated THEN split_part(solver, ':', 1) END AS solver_provider,
    count(*), count(*) FILTER (WHERE escalated), sum(failed), sum(failed_cost), sum(cost)
FROM r GROUP BY solver_provider
"""


_PER_MODEL_SQL = """
SELECT model, task_type, count(*) FILTER (WHERE passed), sum(cost_usd)
FROM attempt_outcomes WHERE ts >= ? AND ts < ? GROUP BY model, task_type
"""


def _outcome_figures(
    ledger: CostLedger, window: list[datetime], spent: Decimal
) -> tuple[dict[str, Any], list[Recommendation]]:
    """Validation, escalation and failed-attempt figures, and the recommendations."""
    requests = escalated = failed = 0
    failed_usd = Decimal(0)
    solved: dict[str, tuple[int, Decimal]] = {}
    for provider, count, escalations, fails, fail_cost, cost in ledger.query(_OUTCOMES_SQL, window):
        requests += int(count)
        escalated += int(escalations)
        failed += int(fails or 0)
        failed_usd += _money(fail_cost)
        if provider is not None:  # validated: by the tier of the first passing model
            tier = str(PROVIDER_TIERS.get(str(provider), "unknown"))
            before = solved.get(tier, (0, Decimal(0)))
            solved[tier] = (before[0] + int(count), before[1] + _money(cost))
    validated = sum(count for count, _ in solved.values())
    local, local_cost = solved.get("local", (0, Decimal(0)))
    share = local / validated if validated else None
    fields = {
        "requests": requests,
        "validated": validated,
        "cost_per_validated_usd": _money(spent / validated) if validated else None,
        "validated_local": local,
        "local_share": share,
        "escalated": escalated,
        "escalation_rate": escalated / requests if requests else None,
        "failed_attempts": failed,
        "failed_attempts_usd": failed_usd,
    }
    recommendations = _cheaper_models(ledger.query(_PER_MODEL_SQL, window))
    if share is not None and share < LOCAL_SHARE_FLOOR:
        other = validated - local
        other_cost = sum(
            (cost for tier, (_, cost) in solved.items() if tier != "local"), Decimal(0)
        )
        recommendations.append(_more_local(share, validated, local, local_cost, other, other_cost))
    return fields, recommendations


def _cheaper_models(rows: Sequence[tuple[Any, ...]]) -> list[Recommendation]:
    """A model over :data:`EXPENSIVE_PER_SUCCESS_USD` per success: the cheaper solvers."""
    per_success: dict[str, dict[str, tuple[int, Decimal]]] = {}
    for model, task_type, successes, cost in rows:
        per_success.setdefault(str(task_type), {})[str(model)] = (int(successes), _money(cost))
    found: list[Recommendation] = []
    for task_type, models in sorted(per_success.items()):
        rates = {m: cost / n for m, (n, cost) in models.items() if n}
        for model, (successes, cost) in sorted(models.items()):
            if successes == 0:
                continue  # spent without success: the failed-attempts figure says so
            rate = cost / successes
            if rate <= EXPENSIVE_PER_SUCCESS_USD:
                continue
            cheaper = {
                m: _money(r) for m, r in sorted(rates.items(), key=lambda i: i[1]) if r < rate
            }
            if not cheaper:
                continue
            best_model, best = next(iter(cheaper.items()))
            saving = _money((rate - best) * successes)
            found.append(
                Recommendation(
                    kind="cheaper-model",
                    message=(
                        f"{model} cost ${_money(rate):.2f} per successful {task_type} task "
                        f"({successes} solved); {best_model} solved {task_type} tasks for "
                        f"${best:.2f}: routing them there would have saved ${saving:.2f}"
                    ),
                    saving_usd=saving,
                    model=model,
                    task_type=task_type,
                    cost_per_success_usd=_money(rate),
                    alternatives=cheaper,
                )
            )
    return found


def _more_local(
    share: float, validated: int, local: int, local_cost: Decimal, other: int, other_cost: Decimal
) -> Recommendation:
    """Local share under the floor: the saving of moving tasks to reach the target share."""
    moved = max(round(LOCAL_SHARE_TARGET * validated) - local, 0)
    local_mean = local_cost / local if local else Decimal(0)
    other_mean = other_cost / other if other else Decimal(0)
    saving = _money(max(other_mean - local_mean, Decimal(0)) * moved)
    return Recommendation(
        kind="more-local",
        message=(
            f"only {share:.0%} of validated tasks ran locally ({local} of {validated}); at "
            f"{LOCAL_SHARE_TARGET:.0%}, {moved} more would run locally, saving about "
            f"${saving:.2f} (${other_mean:.4f} per non-local task against ${local_mean:.4f} "
            "per local one)"
        ),
        saving_usd=saving,
        local_share=share,
        target_share=LOCAL_SHARE_TARGET,
    )

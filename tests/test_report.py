"""The cost report: each figure from a real DuckDB ledger of known rows, against a computation
of its own in the test, in the budget timezone; renderings and files; the CLI."""

from __future__ import annotations

import calendar
import json
import statistics
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest
from typer.testing import CliRunner

from frugalflow.cli.app import app
from frugalflow.core.models import PROVIDER_TIERS
from frugalflow.core.schemas import Tier
from frugalflow.core.settings import Settings
from frugalflow.money.ledger import MIGRATIONS, CostLedger, ModelCall
from frugalflow.money.outcomes import AttemptOutcome, record_outcome
from frugalflow.money.report import CostReport, cost_report, period_days
from frugalflow.money.report_render import (
    chart_note,
    chart_png,
    render_html,
    render_markdown,
    table_rows,
    write_report_files,
)
from tests.support.money import settings_for

PARIS = "Europe/Paris"
runner = CliRunner()


def call(
    at: datetime,
    cost: str,
    *,
    request: str = "r1",
    model: str = "openai:gpt-4o-mini",
    project: str = "textkit",
    step: str = "generate",
    task_type: str | None = "code_generation",
    estimate: str | None = None,
    success: bool = True,
    cache_hit: bool = False,
    tokens: tuple[int, int] = (100, 20),
) -> ModelCall:
    provider, _, name = model.partition(":")
    return ModelCall(
        ts=at,
        request_id=request,
        project=project,
        step=step,
        provider=provider,
        model=name,
        tier=PROVIDER_TIERS[provider],
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        actual_cost_usd=Decimal(cost),
        estimated_cost_usd=Decimal(estimate or 0),
        estimated_input_tokens=None if estimate is None else tokens[0],
        task_type=task_type,
        success=success,
        cache_hit=cache_hit,
    )


def attempt(
    at: datetime,
    request: str,
    number: int,
    model: str,
    passed: bool,
    cost: str,
    task_type: str = "code_generation",
) -> AttemptOutcome:
    return AttemptOutcome(
        ts=at,
        request_id=request,
        project="textkit",
        attempt=number,
        model=model,
        task_type=task_type,  # type: ignore[arg-type]
        language="python",
        complexity="simple",  # type: ignore[arg-type]
        passed=passed,
        cost_usd=Decimal(cost),
    )


def paris(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of the test week in Paris: the 26th to the 30th are November's, the rest
    December's."""
    month = 11 if day >= 26 else 12
    return datetime(2026, month, day, hour, minute, tzinfo=ZoneInfo(PARIS))


def write(
    ledger: CostLedger, calls: Sequence[ModelCall], outcomes: Sequence[AttemptOutcome]
) -> None:
    ledger.record_many(calls)
    for outcome in outcomes:
        record_outcome(ledger, outcome)


def in_period(items: Sequence[ModelCall], report: CostReport) -> list[ModelCall]:
    return [c for c in items if report.start <= c.ts < report.end]


LOCAL = "llamacpp:qwen2.5-coder-0.5b-instruct"
MINI = "openai:gpt-4o-mini"
BIG = "anthropic:claude-opus-4"

# A week in Paris, ending Thursday 3 December 2026. Request r1: local fails, mini passes
# (an escalation); r2: local passes; r3: big passes at $3 (expensive), r4: mini passes for a
# coding task; r5: fails everywhere. Calls of the days around the week are outside it.
CALLS = [
    call(paris(27, 0, 10), "0", request="r1", model=LOCAL, estimate="0"),
    call(paris(27, 0, 20), "0.40", request="r1", estimate="0.50"),
    call(paris(27, 0, 30), "0.05", request="r1", step="document", estimate="0.04"),
    call(paris(28, 9), "0", request="r2", model=LOCAL, project="webapp"),
    call(paris(1, 12), "3.00", request="r3", model=BIG, estimate="2.00", tokens=(900, 400)),
    call(paris(2, 15), "0.30", request="r4", estimate="0.30", task_type="file_editing"),
    call(paris(3, 23, 30), "1.20", request="r5", model=BIG, estimate="1.50"),
    call(paris(3, 23, 40), "0.60", request="r5", model=BIG, success=False),
    call(paris(3, 23, 50), "0", request="r6", model=MINI, cache_hit=True, tokens=(0, 0)),
    call(paris(26, 23, 50), "9.00", request="before", model=BIG),
    call(paris(4, 0, 10), "7.00", request="after", model=BIG),
]
OUTCOMES = [
    attempt(paris(27, 0, 15), "r1", 1, LOCAL, False, "0"),
    attempt(paris(27, 0, 25), "r1", 2, MINI, True, "0.40"),
    attempt(paris(28, 9), "r2", 1, LOCAL, True, "0"),
    attempt(paris(1, 12), "r3", 1, BIG, True, "3.00"),
    attempt(paris(2, 15), "r4", 1, MINI, True, "0.30", task_type="file_editing"),
    attempt(paris(2, 16), "r7", 1, MINI, True, "0.20"),
    attempt(paris(3, 23, 35), "r5", 1, BIG, False, "1.20"),
    attempt(paris(3, 23, 45), "r5", 2, BIG, False, "0.60"),
]


@pytest.fixture
def week(tmp_path: Path) -> tuple[CostReport, Settings]:
    settings = settings_for(
        tmp_path,
        timezone=PARIS,
        monthly_budget_usd=Decimal("50"),
        project_budgets_usd={"textkit": Decimal("2")},
        subscriptions_usd_per_month={"claude-code": Decimal("200")},
    )
    ledger = CostLedger(settings.ledger_file)
    write(ledger, CALLS, OUTCOMES)
    return cost_report(ledger, settings, "week", date(2026, 12, 3)), settings


def test_the_period_is_seven_local_days_and_totals_count_only_its_calls(
    week: tuple[CostReport, Settings],
) -> None:
    report, _ = week
    assert report.days == period_days("week", date(2026, 12, 3))
    assert report.start == paris(27, 0) and report.end == paris(4, 0)
    inside = in_period(CALLS, report)
    assert len(inside) == 9
    assert report.calls == len(inside)
    assert report.total_usd == sum((c.actual_cost_usd for c in inside), Decimal(0))
    assert report.input_tokens == sum(c.input_tokens for c in inside)
    assert report.failed_calls == 1
    assert report.failed_calls_usd == Decimal("0.60")


def test_breakdowns_match_the_calls_summed_by_hand(week: tuple[CostReport, Settings]) -> None:
    report, _ = week
    inside = in_period(CALLS, report)
    keys = {
        "provider": lambda c: c.provider,
        "model": lambda c: f"{c.provider}:{c.model}",
        "tier": lambda c: str(c.tier),
        "task_type": lambda c: c.task_type or "unknown",
        "project": lambda c: c.project,
        "step": lambda c: c.step,
    }
    for dimension, key in keys.items():
        expected: dict[str, tuple[Decimal, int, int, int]] = {}
        for c in inside:
            cost, n, tin, tout = expected.get(key(c), (Decimal(0), 0, 0, 0))
            expected[key(c)] = (
                cost + c.actual_cost_usd,
                n + 1,
                tin + c.input_tokens,
                tout + c.output_tokens,
            )
        got = {
            r.key: (r.cost_usd, r.calls, r.input_tokens, r.output_tokens)
            for r in report.breakdown[dimension]
        }
        assert got == expected, dimension
        costs = [r.cost_usd for r in report.breakdown[dimension]]
        assert costs == sorted(costs, reverse=True)  # most expensive first


def test_a_call_at_23_30_local_belongs_to_that_local_day(
    week: tuple[CostReport, Settings],
) -> None:
    report, _ = week
    # 3 December 23:30 in Paris is 22:30 UTC; 4 December 00:10 (outside the week) is 23:10 UTC
    # on the 3rd, yet belongs to the next local day.
    trend = {d.day: d for d in report.trend}
    assert trend[date(2026, 12, 3)].by_tier["api"] == Decimal("1.80")
    assert trend[date(2026, 11, 27)].by_tier["api"] == Decimal("0.45")
    assert trend[date(2026, 12, 1)].by_tier["api"] == Decimal("3.00")
    assert list(trend) == list(report.days)
    assert sum((d.total_usd for d in report.trend), Decimal(0)) == report.total_usd
    daily = {w.key: w.spent_usd for w in report.windows if w.kind == "daily"}
    assert daily["daily:2026-12-03"] == Decimal("1.80")
    assert len(daily) == 7


@pytest.mark.parametrize("zone", ["Asia/Kathmandu", "America/St_Johns", "Pacific/Chatham"])
def test_local_days_are_exact_in_zones_with_odd_offsets(tmp_path: Path, zone: str) -> None:
    settings = settings_for(tmp_path, timezone=zone)
    ledger = CostLedger(settings.ledger_file)
    here = ZoneInfo(zone)
    late = datetime(2026, 12, 3, 23, 59, tzinfo=here)
    early = datetime(2026, 12, 4, 0, 1, tzinfo=here)
    ledger.record_many([call(late, "1"), call(early, "2", request="r2")])
    report = cost_report(ledger, settings, "day", date(2026, 12, 3))
    assert report.total_usd == Decimal(1)
    assert [d.total_usd for d in report.trend] == [Decimal(1)]


def test_budget_windows_daily_monthly_and_project(week: tuple[CostReport, Settings]) -> None:
    report, settings = week
    monthly = {w.key: w for w in report.windows if w.kind == "monthly"}
    # November's window counts the whole month up to the period's end: 9.00 on the 26th too.
    november = [c for c in CALLS if c.ts.astimezone(ZoneInfo(PARIS)).month == 11]
    assert monthly["monthly:2026-11"].spent_usd == sum(
        (c.actual_cost_usd for c in november), Decimal(0)
    )
    december = [c for c in in_period(CALLS, report) if c.ts >= paris(1, 0)]
    assert monthly["monthly:2026-12"].spent_usd == sum(
        (c.actual_cost_usd for c in december), Decimal(0)
    )
    assert monthly["monthly:2026-12"].limit_usd == Decimal(50)
    project = {w.key: w for w in report.windows if w.kind == "project"}
    assert len(project) == 7
    assert project["project:textkit:2026-12-01"].spent_usd == Decimal("3.00")
    assert project["project:textkit:2026-12-01"].used == 1.5
    assert project["project:textkit:2026-11-28"].spent_usd == 0  # r2 is webapp's
    assert all(
        w.limit_usd == settings.daily_budget_usd for w in report.windows if w.kind == "daily"
    )


def test_validation_figures_match_the_attempts(week: tuple[CostReport, Settings]) -> None:
    report, _ = week
    requests = {o.request_id for o in OUTCOMES}
    solved = {
        r: min((o for o in OUTCOMES if o.request_id == r and o.passed), key=lambda o: o.attempt)
        for r in requests
        if any(o.passed for o in OUTCOMES if o.request_id == r)
    }
    assert report.requests == len(requests) == 6
    assert report.validated == len(solved) == 5
    assert report.cost_per_validated_usd == (report.total_usd / len(solved)).quantize(
        Decimal("1e-8")
    )
    local = [r for r, o in solved.items() if o.model.startswith("llamacpp:")]
    assert report.validated_local == len(local) == 1
    assert report.local_share == pytest.approx(1 / 5)
    # r1 went from local to mini; r5 repaired on one model, which is no escalation.
    assert report.escalated == 1
    assert report.escalation_rate == pytest.approx(1 / 6)
    failed = [o for o in OUTCOMES if not o.passed]
    assert report.failed_attempts == len(failed) == 3
    assert report.failed_attempts_usd == sum((o.cost_usd for o in failed), Decimal(0))


def test_cache_hits_are_valued_at_the_mean_paid_call_of_their_model_and_step(
    week: tuple[CostReport, Settings],
) -> None:
    report, _ = week
    paid = [
        c
        for c in in_period(CALLS, report)
        if c.provider == "openai" and c.step == "generate" and c.success and not c.cache_hit
    ]
    assert report.cache_hits == 1
    assert report.cache_saved_usd == sum((c.actual_cost_usd for c in paid), Decimal(0)) / len(paid)


def test_estimate_error_is_the_median_absolute_percentage_over_paid_requests(
    week: tuple[CostReport, Settings],
) -> None:
    report, _ = week
    per_request: dict[str, tuple[Decimal, Decimal]] = {}
    for c in in_period(CALLS, report):
        if c.estimated_input_tokens is None or c.cache_hit:
            continue
        est, act = per_request.get(c.request_id, (Decimal(0), Decimal(0)))
        per_request[c.request_id] = (est + c.estimated_cost_usd, act + c.actual_cost_usd)
    errors = [float(abs(e - a) / a * 100) for e, a in per_request.values() if a > 0]
    assert report.estimated_requests == len(errors) == 4
    assert report.estimate_error_percent == pytest.approx(statistics.median(errors))
    signed = [float((e - a) / a * 100) for e, a in per_request.values() if a > 0]
    assert report.estimate_bias_percent == pytest.approx(statistics.mean(signed))


def test_subscriptions_and_the_month_end_forecast(week: tuple[CostReport, Settings]) -> None:
    report, _ = week
    nov, dec = calendar.monthrange(2026, 11)[1], calendar.monthrange(2026, 12)[1]
    expected = Decimal(200) / nov * 4 + Decimal(200) / dec * 3  # 27-30 Nov, 1-3 Dec
    assert report.subscriptions_usd["claude-code"] == expected.quantize(Decimal("1e-8"))
    assert report.subscriptions_per_day_usd["claude-code"] == (Decimal(200) / dec).quantize(
        Decimal("1e-8")
    )
    to_date = sum(
        (c.actual_cost_usd for c in CALLS if paris(1, 0) <= c.ts < paris(4, 0)), Decimal(0)
    )
    assert report.month_to_date_usd == to_date
    assert report.forecast_month_usd == (to_date / 3 * dec).quantize(Decimal("0.01"))
    assert report.forecast_with_subscriptions_usd == report.forecast_month_usd + 200


def test_recommendations_name_cheaper_models_and_the_local_target(
    week: tuple[CostReport, Settings],
) -> None:
    report, _ = week
    cheaper = [r for r in report.recommendations if r.kind == "cheaper-model"]
    # The big model: $4.80 over its code_generation attempts for one success; mini solved two
    # for (0.40 + 0.20), the local model one for $0 (and a failed attempt, also $0).
    [big] = cheaper
    assert big.model == BIG and big.task_type == "code_generation"
    assert big.cost_per_success_usd == Decimal("3.00") + Decimal("1.20") + Decimal("0.60")
    assert big.alternatives == {LOCAL: Decimal(0), MINI: Decimal("0.60") / 2}
    assert big.saving_usd == big.cost_per_success_usd  # one success, at the local model's $0
    assert "$4.80 per successful code_generation task" in big.message
    [local] = [r for r in report.recommendations if r.kind == "more-local"]
    assert local.local_share == pytest.approx(0.2) and local.target_share == 0.7
    # 5 validated, 1 local: 70% is 4 (3.5 rounded half-even), 3 more; the non-local ones'
    # attempts cost (0.40 + 3.00 + 0.30 + 0.20) / 4, the local one's $0.
    non_local = (
        Decimal("0.40") + Decimal("0") + Decimal("3.00") + Decimal("0.30") + Decimal("0.20")
    ) / 4
    assert local.saving_usd == (non_local * 3).quantize(Decimal("1e-8"))
    assert "20%" in local.message and "70%" in local.message


def test_no_recommendation_when_models_are_cheap_and_mostly_local(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    ledger = CostLedger(settings.ledger_file)
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    write(
        ledger,
        [call(now, "0.10", model=MINI), call(now, "0", request="r2", model=LOCAL)],
        [attempt(now, "r1", 1, MINI, True, "0.10"), attempt(now, "r2", 1, LOCAL, True, "0")],
    )
    report = cost_report(ledger, settings, "day", date(2026, 12, 3))
    assert report.local_share == 0.5
    assert report.recommendations == ()


def test_the_local_machine_is_kept_apart_and_added_to_the_cost_per_validated_task(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    ledger = CostLedger(settings.ledger_file)
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    local_calls = [
        call(now, "0", request=f"l{n}", model=LOCAL).model_copy(
            update={"compute_cost_usd": Decimal(seconds) / 10_000}
        )
        for n, seconds in enumerate((12, 30))
    ]
    paid = call(now, "0.10", model=MINI, tokens=(4_000, 600)).model_copy(
        update={"cached_tokens": 3_000, "cache_write_tokens": 500, "reasoning_tokens": 200}
    )
    write(
        ledger,
        [*local_calls, paid],
        [attempt(now, "l0", 1, LOCAL, True, "0"), attempt(now, "r1", 1, MINI, True, "0.10")],
    )
    report = cost_report(ledger, settings, "day", date(2026, 12, 3))

    machine = sum((c.compute_cost_usd or Decimal(0) for c in local_calls), Decimal(0))
    assert report.machine_usd == machine == Decimal("0.0042")
    assert report.total_usd == Decimal("0.10")  # the machine is not spend
    assert report.cost_per_validated_usd == Decimal("0.05")
    assert report.cost_per_validated_with_machine_usd == (Decimal("0.10") + machine) / 2
    assert (report.cached_tokens, report.cache_write_tokens, report.reasoning_tokens) == (
        3_000,
        500,
        200,
    )
    markdown = render_markdown(report)
    assert "| local machine time | $0.0042 |" in markdown
    assert "3000 / 500, 200 tokens" in markdown


def test_a_day_of_free_calls_has_a_chart_that_says_no_spend(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    ledger = CostLedger(settings.ledger_file)
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    write(ledger, [call(now, "0", model=LOCAL), call(now, "0", request="r2", model=LOCAL)], [])
    free = cost_report(ledger, settings, "day", date(2026, 12, 3))
    assert chart_note(free) == "No spend: 2 model calls, all free (local or subscription)"
    assert chart_png(free).startswith(b"\x89PNG")
    nothing = cost_report(ledger, settings, "day", date(2026, 12, 4))
    assert chart_note(nothing) == "No spend: no model call in this period"
    ledger.record(call(now, "0.01", request="r3", model=MINI))
    assert chart_note(cost_report(ledger, settings, "day", date(2026, 12, 3))) is None


def test_a_missing_ledger_gives_an_empty_report_and_creates_nothing(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, subscriptions_usd_per_month={"claude-code": Decimal(300)})
    report = cost_report(CostLedger(settings.ledger_file), settings, "month", date(2026, 12, 3))
    assert report.empty and report.calls == 0 and report.total_usd == 0
    assert report.cost_per_validated_usd is None and report.local_share is None
    assert "nothing has been spent" in report.notes[0]
    assert [w.key for w in report.windows] == [f"daily:2026-12-0{d}" for d in (1, 2, 3)]
    assert len(report.trend) == 3
    assert report.forecast_with_subscriptions_usd == 300
    assert not settings.ledger_file.exists()
    assert "nothing has been spent" in render_markdown(report)


def test_an_empty_ledger_says_no_call_in_the_period(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    ledger = CostLedger(settings.ledger_file)
    ledger.record(call(datetime(2026, 1, 1, tzinfo=UTC), "1"))
    report = cost_report(ledger, settings, "day", date(2026, 12, 3))
    assert report.empty and report.notes == ("no model call in this period",)
    assert report.requests == 0 and report.escalation_rate is None


def test_a_ledger_of_an_older_schema_is_read(tmp_path: Path) -> None:
    """A schema-3 ledger (no attempt_outcomes table) still gives its spend."""
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_info (version INTEGER NOT NULL)")
    for statements in MIGRATIONS[:3]:
        for statement in statements:
            con.execute(statement)
    con.execute("INSERT INTO schema_info VALUES (3)")
    con.execute(
        "INSERT INTO model_calls (call_id, ts, request_id, project, step, provider, model, tier,"
        " input_tokens, output_tokens, cached_tokens, estimated_cost_usd, actual_cost_usd,"
        " latency_ms, success, cache_hit, price_catalog) VALUES ('c1', ?, 'r1', 'p', 'generate',"
        " 'openai', 'gpt-4o', 'api', 10, 5, 0, 0, 1.25, 5, true, false, 'old')",
        [datetime(2026, 12, 3, 12, tzinfo=UTC)],
    )
    con.close()
    settings = settings_for(tmp_path, ledger_path=path)
    report = cost_report(CostLedger(path), settings, "day", date(2026, 12, 3))
    assert report.total_usd == Decimal("1.25")
    assert report.breakdown["task_type"][0].key == "unknown"
    assert report.validated == 0 and report.recommendations == ()


def test_a_ledger_without_the_outcomes_table_gives_a_note(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    ledger = CostLedger(settings.ledger_file)
    ledger.record(call(datetime(2026, 12, 3, 12, tzinfo=UTC), "1"))
    con = duckdb.connect(str(settings.ledger_file))
    con.execute("DROP TABLE attempt_outcomes")
    con.close()
    report = cost_report(ledger, settings, "day", date(2026, 12, 3))
    assert report.total_usd == 1
    assert any("attempt_outcomes" in note for note in report.notes)
    assert report.validated == 0


def test_the_default_day_is_today_in_the_budget_timezone(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, timezone="Pacific/Kiritimati")  # UTC+14
    now = datetime(2026, 12, 3, 11, tzinfo=UTC)  # already 4 December there
    report = cost_report(CostLedger(settings.ledger_file), settings, now=now)
    assert report.reference_date == date(2026, 12, 4)
    with pytest.raises(ValueError, match="period"):
        cost_report(CostLedger(settings.ledger_file), settings, "year")  # type: ignore[arg-type]


def test_renderings_show_the_figures_and_embed_the_chart(
    week: tuple[CostReport, Settings], tmp_path: Path
) -> None:
    report, _ = week
    png = chart_png(report)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    markdown = render_markdown(report, png)
    assert "![daily spend by tier](data:image/png;base64," in markdown
    assert "| daily:2026-12-03 | $20.00 | $1.80 | 9% |" in markdown
    assert "| monthly budget | $50.00 (forecast over by $2.70) |" in markdown  # 5.10 / 3 * 31
    assert f"| {BIG} | $4.80 | 3 |" in markdown
    page = render_html(report, png)
    assert 'src="data:image/png;base64,' in page
    assert "http://" not in page and "https://" not in page  # no external asset
    rows = table_rows(report)
    local = {"dimension": "tier", "value": "local", "cost_usd": "0", "calls": 2}
    assert local | {"input_tokens": 200, "output_tokens": 40} in rows
    files = write_report_files(report, tmp_path / "reports", png)
    assert files.html.name == "cost-report-week-2026-12-03.html"
    assert files.markdown.read_text() == markdown
    assert files.html.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in (tmp_path / "reports").iterdir() if p.name.startswith(".")] == []


def test_cli_report_prints_the_tables(
    week: tuple[CostReport, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, settings = week
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("FRUGALFLOW_LEDGER_PATH", str(settings.ledger_file))
    monkeypatch.setenv("FRUGALFLOW_TIMEZONE", PARIS)
    result = runner.invoke(app, ["report", "--week", "--date", "2026-12-03"])
    assert result.exit_code == 0, result.output
    assert "Cost report: week ending 2026-12-03 (Europe/Paris)" in result.output
    assert BIG in result.output and "$4.80" in result.output
    assert "Recommendations" in result.output


def test_cli_report_json_and_html(
    week: tuple[CostReport, Settings], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    report, settings = week
    monkeypatch.setenv("FRUGALFLOW_LEDGER_PATH", str(settings.ledger_file))
    monkeypatch.setenv("FRUGALFLOW_TIMEZONE", PARIS)
    out = tmp_path / "out"
    out.mkdir()
    result = runner.invoke(
        app, ["report", "--week", "--date", "2026-12-03", "--json", "--html", str(out)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert Decimal(data["total_usd"]) == report.total_usd
    assert data["validated"] == report.validated and data["period"] == "week"
    assert data["files"] == [
        str(out / "cost-report-week-2026-12-03.html"),
        str(out / "cost-report-week-2026-12-03.md"),
    ]
    assert "data:image/png;base64," in Path(data["files"][0]).read_text()


def test_cli_report_refuses_two_periods_and_a_bad_date() -> None:
    both = runner.invoke(app, ["report", "--day", "--month"])
    assert both.exit_code == 2 and "one period" in both.output
    bad = runner.invoke(app, ["report", "--date", "3/12/2026"])
    assert bad.exit_code == 2 and "2026-12-03" in bad.output


def test_days_of_a_period() -> None:
    assert period_days("day", date(2026, 3, 1)) == (date(2026, 3, 1),)
    assert period_days("month", date(2026, 3, 31))[0] == date(2026, 3, 1)
    assert len(period_days("month", date(2026, 3, 31))) == 31
    assert period_days("week", date(2026, 3, 1))[0] == date(2026, 3, 1) - timedelta(days=6)


def test_a_dst_day_is_its_local_length(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, timezone=PARIS)
    ledger = CostLedger(settings.ledger_file)
    # 29 March 2026 in Paris has 23 hours: 00:00 is 23:00 UTC the day before, 24:00 is 22:00 UTC.
    ledger.record_many(
        [
            call(datetime(2026, 3, 28, 23, 5, tzinfo=UTC), "1"),
            call(datetime(2026, 3, 29, 21, 55, tzinfo=UTC), "2", request="r2"),
            call(datetime(2026, 3, 29, 22, 5, tzinfo=UTC), "4", request="r3"),
        ]
    )
    report = cost_report(ledger, settings, "day", date(2026, 3, 29))
    assert report.end.astimezone(UTC) - report.start.astimezone(UTC) == timedelta(hours=23)
    assert report.total_usd == 3
    assert report.trend[0].total_usd == 3
    assert Tier.API.value in report.trend[0].by_tier


def test_a_call_at_23_30_in_new_york_is_counted_on_its_local_day(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, timezone="America/New_York")
    ledger = CostLedger(settings.ledger_file)
    late = datetime(
        2026, 12, 3, 23, 30, tzinfo=ZoneInfo("America/New_York")
    )  # 04:30 UTC on the 4th
    ledger.record_many([call(late, "1.50"), call(late + timedelta(hours=1), "9", request="r2")])
    day = cost_report(ledger, settings, "day", date(2026, 12, 3))
    assert day.total_usd == Decimal("1.50")
    assert day.windows[0].key == "daily:2026-12-03" and day.windows[0].spent_usd == Decimal("1.50")
    assert day.trend[0].by_tier["api"] == Decimal("1.50")


def test_money_saved_by_prompt_caching_is_cached_tokens_at_the_rate_difference(
    tmp_path: Path,
) -> None:
    """Each call's cached tokens times (its input rate - its cache-read rate), from the rates
    the ledger booked with it; a call without rates (before schema 6) saves $0."""
    settings = settings_for(tmp_path)
    ledger = CostLedger(settings.ledger_file)
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    sonnet = call(now, "0.02", model="anthropic:claude-sonnet-4-5", tokens=(10_000, 100))
    sonnet = sonnet.model_copy(
        update={
            "cached_tokens": 8_000,
            "input_per_mtok": Decimal(3),
            "cached_input_per_mtok": Decimal("0.30"),
        }
    )
    mini = call(now, "0.001", request="r2", model=MINI, tokens=(2_048, 50)).model_copy(
        update={
            "cached_tokens": 1_024,
            "input_per_mtok": Decimal("0.15"),
            "cached_input_per_mtok": Decimal("0.075"),
        }
    )
    unrated = call(now, "0.001", request="r3", model=MINI).model_copy(
        update={"cached_tokens": 50, "input_per_mtok": None, "cached_input_per_mtok": None}
    )
    write(ledger, [sonnet, mini, unrated], [])
    report = cost_report(ledger, settings, "day", date(2026, 12, 3))
    by_hand = (
        Decimal(8_000) * (Decimal(3) - Decimal("0.30"))
        + Decimal(1_024) * (Decimal("0.15") - Decimal("0.075"))
    ) / 1_000_000
    assert report.prompt_cache_saved_usd == by_hand == Decimal("0.0216768")
    assert "| money saved by prompt caching | $0.0216768 |" in render_markdown(report)

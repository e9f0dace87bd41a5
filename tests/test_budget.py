"""The budget gate against a real ledger file: the budget day, emergency mode, caps, deferral."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from frugalflow.core.errors import ConfigurationError
from frugalflow.core.schemas import (
    Tier,
)
from frugalflow.core.settings import Settings, load_settings
from frugalflow.money.budget import day_window
from frugalflow.money.ledger import CostLedger, ModelCall
from frugalflow.tasks.budget import check_budget
from frugalflow.tasks.estimate import estimate_request
from tests.support.money import BIG, LOCAL, MINI, estimate_of, settings_for
from tests.support.money import budget_request as request

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2025, 3, 14, 15, 0, tzinfo=UTC)


def elapsed(window: tuple[datetime, datetime]) -> timedelta:
    start, end = window
    return end.astimezone(UTC) - start.astimezone(UTC)


# --- day_window -----------------------------------------------------------------------------


def test_utc_day_window() -> None:
    start, end = day_window(NOW, "UTC")
    assert start == datetime(2025, 3, 14, tzinfo=UTC)
    assert end == datetime(2025, 3, 15, tzinfo=UTC)


def test_window_is_the_local_day_not_the_utc_day() -> None:
    # 23:30 UTC on the 13th is already 00:30 on the 14th in Paris (UTC+1 in March)
    start, end = day_window(datetime(2025, 3, 13, 23, 30, tzinfo=UTC), "Europe/Paris")
    assert start == datetime(2025, 3, 14, 0, 0, tzinfo=PARIS)
    assert start.astimezone(UTC) == datetime(2025, 3, 13, 23, 0, tzinfo=UTC)
    assert end == datetime(2025, 3, 15, 0, 0, tzinfo=PARIS)


def test_local_midnight_starts_a_new_day() -> None:
    now = datetime(2025, 7, 1, 0, 0, tzinfo=PARIS)  # exactly local midnight: a new day begins
    start, end = day_window(now, "Europe/Paris")
    assert start == now
    assert elapsed((start, end)) == timedelta(hours=24)


def test_paris_spring_forward_day_lasts_23_hours() -> None:
    window = day_window(datetime(2025, 3, 30, 12, 0, tzinfo=UTC), "Europe/Paris")
    assert window[0].astimezone(UTC) == datetime(2025, 3, 29, 23, 0, tzinfo=UTC)
    assert window[1].astimezone(UTC) == datetime(2025, 3, 30, 22, 0, tzinfo=UTC)
    assert elapsed(window) == timedelta(hours=23)


def test_paris_fall_back_day_lasts_25_hours() -> None:
    # 00:30 UTC is 02:30 CEST, before the clocks go back at 03:00 CEST
    window = day_window(datetime(2025, 10, 26, 0, 30, tzinfo=UTC), "Europe/Paris")
    assert window[0].astimezone(UTC) == datetime(2025, 10, 25, 22, 0, tzinfo=UTC)
    assert window[1].astimezone(UTC) == datetime(2025, 10, 26, 23, 0, tzinfo=UTC)
    assert elapsed(window) == timedelta(hours=25)


def test_days_around_a_dst_change_are_contiguous() -> None:
    saturday = day_window(datetime(2025, 3, 29, 12, 0, tzinfo=UTC), "Europe/Paris")
    sunday = day_window(datetime(2025, 3, 30, 12, 0, tzinfo=UTC), "Europe/Paris")
    assert saturday[1] == sunday[0]
    assert elapsed(saturday) == timedelta(hours=24)


@pytest.mark.parametrize(
    ("now", "timezone", "start", "end"),
    [
        (
            datetime(2025, 1, 31, 22, 0, tzinfo=UTC),
            "UTC",
            datetime(2025, 1, 31, tzinfo=UTC),
            datetime(2025, 2, 1, tzinfo=UTC),
        ),
        (
            datetime(2024, 2, 29, 8, 0, tzinfo=UTC),
            "UTC",
            datetime(2024, 2, 29, tzinfo=UTC),
            datetime(2024, 3, 1, tzinfo=UTC),
        ),
        (
            datetime(2025, 12, 31, 23, 30, tzinfo=UTC),  # already 1 January in Paris
            "Europe/Paris",
            datetime(2026, 1, 1, tzinfo=PARIS),
            datetime(2026, 1, 2, tzinfo=PARIS),
        ),
        (
            datetime(2025, 4, 30, 23, 30, tzinfo=PARIS),
            "Europe/Paris",
            datetime(2025, 4, 30, tzinfo=PARIS),
            datetime(2025, 5, 1, tzinfo=PARIS),
        ),
    ],
)
def test_end_of_month_and_year(
    now: datetime, timezone: str, start: datetime, end: datetime
) -> None:
    assert day_window(now, timezone) == (start, end)


@pytest.mark.parametrize("timezone", ["Mars/Olympus_Mons", "CET+1", "", "../etc/passwd"])
def test_invalid_timezone_is_a_configuration_error(timezone: str) -> None:
    with pytest.raises(ConfigurationError, match="is not an IANA zone name"):
        day_window(NOW, timezone)


# --- check_budget ---------------------------------------------------------------------------


def spend(settings: Settings, amount: str, ts: datetime) -> None:
    CostLedger(settings.ledger_file).record(
        ModelCall(
            request_id="earlier",
            project="demo",
            step="generate",
            provider="openai",
            model="gpt-4o-mini",
            tier=Tier.API,
            actual_cost_usd=Decimal(amount),
            ts=ts,
        )
    )


def test_empty_ledger_allows_every_candidate(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    decision = check_budget(
        request(tmp_path), estimate_of(local="0", mini="0.01"), settings, now=NOW
    )
    assert decision.admitted
    assert decision.spent_today_usd == 0
    assert decision.remaining_usd == Decimal("20")
    assert not decision.emergency
    assert decision.allowed_models == (LOCAL, MINI)
    assert decision.retry_at is None


def test_today_spend_counts_and_yesterday_does_not(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    midnight = datetime(2025, 3, 14, tzinfo=UTC)
    spend(settings, "2.50", midnight)  # first instant of today
    spend(settings, "1.25", NOW - timedelta(minutes=1))
    spend(settings, "7.00", midnight - timedelta(microseconds=1))  # last instant of yesterday
    spend(settings, "9.00", datetime(2025, 3, 15, tzinfo=UTC))  # tomorrow (clock skew)

    decision = check_budget(request(tmp_path), estimate_of(mini="0.01"), settings, now=NOW)
    assert decision.spent_today_usd == Decimal("3.75")
    assert decision.remaining_usd == Decimal("16.25")
    assert decision.daily_budget_usd == Decimal("20")
    assert decision.admitted


def test_budget_day_follows_the_configured_timezone(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, timezone="Europe/Paris")
    # 23:30 UTC on the 13th is 00:30 on the 14th in Paris: today there, yesterday in UTC
    spend(settings, "4.00", datetime(2025, 3, 13, 23, 30, tzinfo=UTC))
    spend(settings, "8.00", datetime(2025, 3, 13, 22, 30, tzinfo=UTC))  # 23:30 the 13th, Paris
    paris = check_budget(request(tmp_path), estimate_of(local="0"), settings, now=NOW)
    assert paris.spent_today_usd == Decimal("4.00")

    utc = check_budget(request(tmp_path), estimate_of(local="0"), settings_for(tmp_path), now=NOW)
    assert utc.spent_today_usd == 0


def test_settings_loaded_with_a_home_use_the_ledger_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    settings = load_settings(home=tmp_path / "state")
    assert settings.ledger_file == tmp_path / "state" / "ledger.duckdb"
    spend(settings, "5", NOW - timedelta(hours=1))
    decision = check_budget(request(tmp_path), estimate_of(mini="0.01"), settings, now=NOW)
    assert decision.spent_today_usd == Decimal("5")


def test_emergency_mode_allows_only_free_models(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    spend(settings, "19.50", NOW - timedelta(hours=2))
    decision = check_budget(
        request(tmp_path), estimate_of(local="0", mini="0.01"), settings, now=NOW
    )
    assert decision.remaining_usd == Decimal("0.50")
    assert decision.emergency
    # the paid model would fit the $0.50 left, but emergency mode keeps it out
    assert decision.allowed_models == (LOCAL,)
    assert decision.admitted
    assert "emergency mode" in decision.reason


def test_just_at_the_threshold_is_not_an_emergency(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    spend(settings, "19", NOW - timedelta(hours=2))
    decision = check_budget(request(tmp_path), estimate_of(mini="0.01"), settings, now=NOW)
    assert decision.remaining_usd == Decimal("1")
    assert not decision.emergency
    assert decision.allowed_models == (MINI,)


def test_paid_candidate_whose_worst_case_exceeds_what_is_left_is_not_allowed(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    spend(settings, "15", NOW - timedelta(hours=2))
    decision = check_budget(
        request(tmp_path), estimate_of(local="0", mini="5.00", big="5.01"), settings, now=NOW
    )
    assert decision.remaining_usd == Decimal("5")
    assert not decision.emergency
    assert decision.allowed_models == (LOCAL, MINI)  # exactly what is left still fits


def test_nothing_allowed_defers_until_the_budget_day_ends(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, timezone="Europe/Paris")
    spend(settings, "17", NOW - timedelta(hours=2))
    decision = check_budget(
        request(tmp_path), estimate_of(mini="3.50", big="10"), settings, now=NOW
    )
    assert not decision.admitted
    assert decision.allowed_models == ()
    assert not decision.emergency
    assert decision.retry_at == datetime(2025, 3, 15, 0, 0, tzinfo=PARIS)
    assert decision.retry_at.astimezone(UTC) == datetime(2025, 3, 14, 23, 0, tzinfo=UTC)
    assert "deferred" in decision.reason


def test_overspent_day_has_nothing_left_and_defers_paid_only_requests(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    spend(settings, "25", NOW - timedelta(hours=2))
    decision = check_budget(request(tmp_path), estimate_of(mini="0.0001"), settings, now=NOW)
    assert decision.spent_today_usd == Decimal("25")
    assert decision.remaining_usd == 0
    assert decision.emergency
    assert not decision.admitted
    assert decision.retry_at == datetime(2025, 3, 15, tzinfo=UTC)


def test_request_cap_excludes_a_paid_candidate_above_it(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    decision = check_budget(
        request(tmp_path, cap="0.10"),
        estimate_of(local="0", mini="0.05", big="0.20"),
        settings,
        now=NOW,
    )
    assert decision.allowed_models == (LOCAL, MINI)
    uncapped = check_budget(
        request(tmp_path), estimate_of(local="0", mini="0.05", big="0.20"), settings, now=NOW
    )
    assert uncapped.allowed_models == (LOCAL, MINI, BIG)


def test_zero_cap_still_allows_free_models(tmp_path: Path) -> None:
    decision = check_budget(
        request(tmp_path, cap="0"),
        estimate_of(local="0", mini="0.01"),
        settings_for(tmp_path),
        now=NOW,
    )
    assert decision.allowed_models == (LOCAL,)


def test_gate_with_a_real_estimate(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, models=[LOCAL, MINI], daily_budget_usd=Decimal("1.5"))
    estimate = estimate_request(request(tmp_path), settings)
    decision = check_budget(request(tmp_path), estimate, settings, now=NOW)
    # $1.50 left is above the $1 emergency threshold and covers gpt-4o-mini's worst case
    assert decision.allowed_models == (LOCAL, MINI)
    spend(settings, "1", NOW)
    decision = check_budget(request(tmp_path), estimate, settings, now=NOW)
    assert decision.emergency
    assert decision.allowed_models == (LOCAL,)


def test_invalid_timezone_in_settings_is_a_configuration_error(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, timezone="Europe/Atlantis")
    with pytest.raises(ConfigurationError, match="Europe/Atlantis"):
        check_budget(request(tmp_path), estimate_of(local="0"), settings, now=NOW)


def test_economy_quality_allows_only_free_models_whatever_the_budget(tmp_path: Path) -> None:
    from frugalflow.core.schemas import QualityMode

    settings = settings_for(tmp_path)
    economy = request(tmp_path).model_copy(update={"quality": QualityMode.ECONOMY})
    decision = check_budget(economy, estimate_of(local="0", mini="0.01"), settings, now=NOW)
    assert decision.allowed_models == (LOCAL,)
    assert "economy" in decision.reason
    paid_only = check_budget(economy, estimate_of(mini="0.01"), settings, now=NOW)
    assert not paid_only.admitted and "economy" in paid_only.reason


def test_a_request_that_rules_out_every_paid_model_fails_instead_of_waiting(
    tmp_path: Path,
) -> None:
    from frugalflow.core.schemas import QualityMode

    settings = settings_for(tmp_path)
    economy = request(tmp_path).model_copy(update={"quality": QualityMode.ECONOMY})
    decision = check_budget(economy, estimate_of(mini="0.01"), settings, now=NOW)
    assert not decision.admitted and decision.retry_at is None
    assert "--quality balanced" in decision.reason

    capped = check_budget(
        request(tmp_path, cap="0.001"), estimate_of(mini="0.01"), settings, now=NOW
    )
    assert not capped.admitted and capped.retry_at is None
    assert "raise --budget-cap" in capped.reason

    # Only the budget is short: that is worth waiting for.
    poor = settings_for(tmp_path, daily_budget_usd=Decimal("0"))
    waiting = check_budget(request(tmp_path), estimate_of(mini="0.01"), poor, now=NOW)
    assert not waiting.admitted and waiting.retry_at is not None

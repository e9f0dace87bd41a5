"""BudgetManager against real ledger files: windows, reservations, expiry, and concurrency."""

from __future__ import annotations

import logging
import multiprocessing
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from frugalflow.core.errors import BudgetExceededError, ConfigurationError
from frugalflow.core.schemas import Tier
from frugalflow.core.settings import Settings
from frugalflow.money.budget import (
    BudgetManager,
    BudgetWindow,
    Reservation,
    day_window,
    in_emergency,
    month_window,
    windows_in_emergency,
)
from frugalflow.money.ledger import CostLedger, ModelCall

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def paid_call(cost: str, *, ts: datetime = NOW, project: str = "demo", **changes: Any) -> ModelCall:
    values: dict[str, Any] = {
        "request_id": "req",
        "project": project,
        "step": "generate",
        "provider": "openai",
        "model": "gpt-4o",
        "tier": Tier.API,
        "ts": ts,
        "actual_cost_usd": Decimal(cost),
    }
    return ModelCall(**{**values, **changes})


def make_settings(path: Path, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "home": path.parent / "home",
        "ledger_path": path,
        "daily_budget_usd": Decimal("1.00"),
        "emergency_threshold_usd": Decimal("0.10"),
        "reservation_ttl_seconds": 600,
    }
    return Settings(**{**values, **changes})


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def make_manager(tmp_path: Path, clock: Clock) -> Any:
    def make(**settings: Any) -> BudgetManager:
        path = tmp_path / "ledger.duckdb"
        return BudgetManager(CostLedger(path), make_settings(path, **settings), clock=clock)

    return make


def reserve(
    manager: BudgetManager, amount: str, project: str = "demo", request_id: str = "req"
) -> Reservation:
    return manager.reserve(
        request_id=request_id,
        project=project,
        model="openai:gpt-4o",
        amount_usd=Decimal(amount),
    )


def by_key(windows: list[BudgetWindow]) -> dict[str, BudgetWindow]:
    return {window.key.split(":")[0]: window for window in windows}


# --- windows -------------------------------------------------------------------------------


def test_a_spend_at_2330_utc_counts_for_the_next_day_in_tokyo(make_manager: Any) -> None:
    manager = make_manager(timezone="Asia/Tokyo")
    utc_evening = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)  # 08:30 on the 28th in Tokyo
    tokyo_yesterday = datetime(2026, 11, 27, 14, 30, tzinfo=UTC)  # 23:30 on the 27th in Tokyo
    manager.ledger.record_many(
        [paid_call("0.30", ts=utc_evening), paid_call("0.20", ts=tokyo_yesterday)]
    )

    [daily] = manager.windows()

    assert daily.key == "daily:2026-11-28"
    assert daily.start == datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    assert daily.end == datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
    assert daily.spent_usd == Decimal("0.30")
    assert daily.remaining_usd == Decimal("0.70")


def test_in_utc_the_same_evening_spend_is_yesterday_and_not_counted(make_manager: Any) -> None:
    manager = make_manager(timezone="UTC")
    manager.ledger.record(paid_call("0.30", ts=datetime(2026, 11, 27, 23, 30, tzinfo=UTC)))

    [daily] = manager.windows()

    assert daily.start == datetime(2026, 11, 28, tzinfo=UTC)
    assert daily.spent_usd == 0
    assert daily.remaining_usd == Decimal("1.00")


def test_month_window_turns_over_at_local_midnight_on_the_first() -> None:
    last_second = datetime(2026, 1, 31, 23, 59, 59, tzinfo=PARIS)
    assert month_window(last_second, "Europe/Paris") == (
        datetime(2026, 1, 1, tzinfo=PARIS),
        datetime(2026, 2, 1, tzinfo=PARIS),
    )
    assert month_window(last_second + timedelta(seconds=1), "Europe/Paris") == (
        datetime(2026, 2, 1, tzinfo=PARIS),
        datetime(2026, 3, 1, tzinfo=PARIS),
    )
    december = month_window(datetime(2026, 12, 31, 23, 0, tzinfo=UTC), "UTC")
    assert december == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def test_monthly_window_counts_only_this_local_month(make_manager: Any, clock: Clock) -> None:
    clock.now = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)  # 00:30 on 1 February in Paris
    manager = make_manager(timezone="Europe/Paris", monthly_budget_usd=Decimal(10))
    manager.ledger.record_many(
        [
            paid_call("0.40", ts=datetime(2026, 1, 31, 22, 30, tzinfo=UTC)),  # 23:30 Jan 31
            paid_call("0.25", ts=datetime(2026, 1, 31, 23, 15, tzinfo=UTC)),  # 00:15 Feb 1
        ]
    )

    windows = by_key(manager.windows())

    assert windows["monthly"].key == "monthly:2026-02"
    assert windows["monthly"].start == datetime(2026, 2, 1, tzinfo=PARIS)
    assert windows["monthly"].end == datetime(2026, 3, 1, tzinfo=PARIS)
    assert windows["monthly"].spent_usd == Decimal("0.25")
    assert windows["daily"].key == "daily:2026-02-01"
    assert windows["daily"].spent_usd == Decimal("0.25")


def test_a_dst_day_in_paris_is_23_or_25_hours_long(make_manager: Any, clock: Clock) -> None:
    spring_start, spring_end = day_window(datetime(2026, 3, 29, 12, tzinfo=UTC), "Europe/Paris")
    assert spring_start == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert spring_end == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    autumn_start, autumn_end = day_window(datetime(2026, 10, 25, 12, tzinfo=UTC), "Europe/Paris")
    # Subtracting datetimes that share a tzinfo is wall-clock arithmetic: compare instants.
    assert autumn_end.astimezone(UTC) - autumn_start.astimezone(UTC) == timedelta(hours=25)
    assert spring_end.astimezone(UTC) - spring_start.astimezone(UTC) == timedelta(hours=23)

    clock.now = datetime(2026, 3, 29, 21, 0, tzinfo=UTC)
    manager = make_manager(timezone="Europe/Paris")
    manager.ledger.record_many(
        [
            paid_call("0.10", ts=datetime(2026, 3, 28, 23, 30, tzinfo=UTC)),  # 00:30 CET
            paid_call("0.20", ts=datetime(2026, 3, 29, 21, 59, tzinfo=UTC)),  # 23:59 CEST
            paid_call("0.40", ts=datetime(2026, 3, 29, 22, 0, tzinfo=UTC)),  # 00:00 next day
            paid_call("0.80", ts=datetime(2026, 3, 28, 22, 59, tzinfo=UTC)),  # 23:59 the day before
        ]
    )
    [daily] = manager.windows()
    assert daily.key == "daily:2026-03-29"
    assert daily.spent_usd == Decimal("0.30")


def test_an_unknown_timezone_is_a_configuration_error(make_manager: Any) -> None:
    with pytest.raises(ConfigurationError, match="Mars/Olympus"):
        make_manager(timezone="Mars/Olympus").windows()


def test_a_project_window_exists_only_for_projects_with_a_budget(make_manager: Any) -> None:
    manager = make_manager(project_budgets_usd={"textkit": Decimal("0.50")})
    manager.ledger.record_many([paid_call("0.10", project="textkit"), paid_call("0.20")])

    assert [w.key for w in manager.windows("other")] == ["daily:2026-11-28"]
    windows = manager.windows("textkit")
    assert [w.key for w in windows] == ["daily:2026-11-28", "project:textkit:2026-11-28"]
    assert [w.spent_usd for w in windows] == [Decimal("0.30"), Decimal("0.10")]
    assert windows[1].project == "textkit"


# --- reservations --------------------------------------------------------------------------


def test_a_reservation_that_fits_is_counted_and_one_that_does_not_is_refused(
    make_manager: Any,
) -> None:
    manager = make_manager()
    manager.ledger.record(paid_call("0.25"))
    reserve(manager, "0.60")

    with pytest.raises(BudgetExceededError, match=r"daily:2026-11-28") as refused:
        reserve(manager, "0.20")

    assert refused.value.remaining_usd == Decimal("0.15")
    assert refused.value.retry_at == datetime(2026, 11, 29, tzinfo=UTC)
    [daily] = manager.windows()
    assert (daily.spent_usd, daily.reserved_usd, daily.remaining_usd) == (
        Decimal("0.25"),
        Decimal("0.60"),
        Decimal("0.15"),
    )
    reserve(manager, "0.15")  # exactly what is left fits
    assert manager.windows()[0].remaining_usd == 0


def test_a_project_budget_binds_that_project_only(make_manager: Any) -> None:
    manager = make_manager(project_budgets_usd={"textkit": Decimal("0.30")})
    reserve(manager, "0.25", project="textkit")

    with pytest.raises(BudgetExceededError, match="project:textkit") as refused:
        reserve(manager, "0.10", project="textkit")

    assert refused.value.remaining_usd == Decimal("0.05")
    assert refused.value.retry_at == datetime(2026, 11, 29, tzinfo=UTC)
    reserve(manager, "0.10", project="other")


def test_a_monthly_budget_binds_and_retries_next_month(make_manager: Any) -> None:
    manager = make_manager(monthly_budget_usd=Decimal("2.00"))
    manager.ledger.record(paid_call("1.90", ts=datetime(2026, 11, 3, tzinfo=UTC)))

    with pytest.raises(BudgetExceededError, match="monthly:2026-11") as refused:
        reserve(manager, "0.20")

    assert refused.value.remaining_usd == Decimal("0.10")
    assert refused.value.retry_at == datetime(2026, 12, 1, tzinfo=UTC)


def test_an_amount_larger_than_a_whole_limit_has_no_retry_time(make_manager: Any) -> None:
    with pytest.raises(BudgetExceededError, match="never fit") as refused:
        reserve(make_manager(), "1.50")
    assert refused.value.retry_at is None


def test_a_zero_reservation_never_blocks_and_stores_nothing(make_manager: Any) -> None:
    manager = make_manager()
    manager.ledger.record(paid_call("1.00"))

    free = reserve(manager, "0")
    manager.settle(free, paid_call("0", request_id="free", tier=Tier.LOCAL))
    manager.release(free)

    assert manager.reservations() == []
    assert [c.reservation_id for c in manager.ledger.calls_for_request("free")] == [
        free.reservation_id
    ]
    with pytest.raises(BudgetExceededError):
        reserve(manager, "0.00000001")


def test_a_negative_amount_is_refused(make_manager: Any) -> None:
    with pytest.raises(ValueError, match="negative"):
        reserve(make_manager(), "-0.01")


def test_settling_turns_the_reservation_into_spend(make_manager: Any) -> None:
    manager = make_manager()
    held = reserve(manager, "0.40")

    manager.settle(held, paid_call("0.25", request_id="settled"))

    [daily] = manager.windows()
    assert (daily.spent_usd, daily.reserved_usd) == (Decimal("0.25"), 0)
    [call] = manager.ledger.calls_for_request("settled")
    assert call.reservation_id == held.reservation_id
    assert [r.state for r in manager.reservations()] == ["settled"]
    manager.release(held)  # too late: a settled reservation stays settled
    assert [r.state for r in manager.reservations()] == ["settled"]


def test_a_call_costing_more_than_its_reservation_is_recorded_with_a_warning(
    make_manager: Any, caplog: pytest.LogCaptureFixture
) -> None:
    manager = make_manager()
    held = reserve(manager, "0.10")

    with caplog.at_level(logging.WARNING, logger="frugalflow.budget"):
        manager.settle(held, paid_call("0.12", request_id="underestimated"))

    assert manager.windows()[0].spent_usd == Decimal("0.12")
    assert "cost $0.12, more than the $0.10 reserved" in caplog.text


def test_releasing_frees_the_money_and_is_idempotent(make_manager: Any) -> None:
    manager = make_manager()
    held = reserve(manager, "0.80")
    with pytest.raises(BudgetExceededError):
        reserve(manager, "0.30")

    manager.release(held)
    manager.release(held.reservation_id)

    assert [r.state for r in manager.reservations()] == ["released"]
    reserve(manager, "0.30")
    assert manager.windows()[0].reserved_usd == Decimal("0.30")


def test_a_crashed_runs_reservation_stops_counting_after_its_ttl(
    make_manager: Any, clock: Clock
) -> None:
    manager = make_manager(reservation_ttl_seconds=600)
    crashed = reserve(manager, "0.90")
    assert crashed.expires_at == NOW + timedelta(seconds=600)

    clock.advance(seconds=599)
    with pytest.raises(BudgetExceededError):
        reserve(manager, "0.20")
    assert manager.expire_stale() == 0

    clock.advance(seconds=1)
    assert manager.windows()[0].reserved_usd == 0
    assert manager.expire_stale() == 1
    assert manager.expire_stale() == 0
    assert manager.reservations(state="released")[0].reservation_id == crashed.reservation_id
    reserve(manager, "0.20")


def test_settling_after_expiry_still_records_the_call(make_manager: Any, clock: Clock) -> None:
    manager = make_manager(reservation_ttl_seconds=60)
    slow = reserve(manager, "0.50")
    clock.advance(minutes=5)
    assert manager.expire_stale() == 1

    manager.settle(slow, paid_call("0.45", request_id="slow", ts=clock.now))

    assert [c.actual_cost_usd for c in manager.ledger.calls_for_request("slow")] == [
        Decimal("0.45")
    ]
    assert manager.windows()[0].spent_usd == Decimal("0.45")
    assert [r.state for r in manager.reservations()] == ["settled"]


def test_emergency_when_a_window_has_less_than_the_threshold_left(make_manager: Any) -> None:
    manager = make_manager(
        emergency_threshold_usd=Decimal("0.10"), project_budgets_usd={"p": Decimal("0.20")}
    )
    manager.ledger.record(paid_call("0.85", project="q"))
    assert not manager.is_emergency()

    manager.ledger.record(paid_call("0.05", project="p"))
    held = reserve(manager, "0.06", project="p")
    assert manager.is_emergency("p")  # 0.09 left in the project window
    manager.release(held)
    assert not manager.is_emergency("p")
    assert manager.status("p") == manager.windows("p")


def test_the_emergency_rule_is_strictly_less_than_the_threshold_left() -> None:
    settings = Settings(emergency_threshold_usd=Decimal("0.10"))
    assert in_emergency(Decimal("0.09"), settings)
    assert in_emergency(Decimal("-0.01"), settings)  # overspent
    assert not in_emergency(Decimal("0.10"), settings)
    assert not in_emergency(Decimal("5"), settings)


def test_windows_are_in_emergency_when_any_one_of_them_is(make_manager: Any) -> None:
    manager = make_manager(
        emergency_threshold_usd=Decimal("0.10"), project_budgets_usd={"p": Decimal("0.20")}
    )
    manager.ledger.record(paid_call("0.15", project="p"))
    windows = manager.windows("p")
    assert [in_emergency(w.remaining_usd, manager.settings) for w in windows] == [False, True]
    assert windows_in_emergency(windows, manager.settings)
    assert not windows_in_emergency(windows[:1], manager.settings)
    assert not windows_in_emergency([], manager.settings)


def test_a_naive_clock_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    manager = BudgetManager(CostLedger(path), make_settings(path), clock=datetime.now)
    with pytest.raises(ValueError, match="timezone-aware"):
        manager.windows()


# --- concurrency ---------------------------------------------------------------------------


def reserve_and_settle(path: str, worker: str, count: int, start: Any, results: Any) -> None:
    """In a spawned process: try ``count`` reservations of $0.15, settling each admitted one."""
    manager = BudgetManager(
        CostLedger(Path(path), lock_timeout_seconds=60), make_settings(Path(path))
    )
    start.wait(60)
    admitted = 0
    for index in range(count):
        request_id = f"{worker}-{index}"
        try:
            held = manager.reserve(
                request_id=request_id, project="demo", model="m", amount_usd=Decimal("0.15")
            )
        except BudgetExceededError:
            continue
        manager.settle(held, paid_call("0.15", request_id=request_id, ts=datetime.now(UTC)))
        admitted += 1
    results.put(admitted)


def test_four_processes_reserving_at_once_admit_exactly_what_fits(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    spawn = multiprocessing.get_context("spawn")
    start, results = spawn.Barrier(4), spawn.Queue()
    processes = [
        spawn.Process(target=reserve_and_settle, args=(str(path), f"p{i}", 10, start, results))
        for i in range(4)
    ]
    for process in processes:
        process.start()
    admitted = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)

    assert [process.exitcode for process in processes] == [0, 0, 0, 0]
    assert sum(admitted) == 6
    manager = BudgetManager(CostLedger(path), make_settings(path))
    [daily] = manager.windows()
    assert daily.spent_usd == Decimal("0.90") <= Decimal("1.00")
    assert daily.reserved_usd == 0
    assert len(manager.reservations(state="settled")) == 6


def test_threads_reserving_at_once_admit_exactly_what_fits(make_manager: Any) -> None:
    manager = make_manager()
    start = threading.Barrier(8)
    admitted: list[str] = []

    def body(name: str) -> None:
        start.wait(10)
        for index in range(3):
            try:
                reserve(manager, "0.15", request_id=f"{name}-{index}")
                admitted.append(f"{name}-{index}")
            except BudgetExceededError:
                pass

    threads = [threading.Thread(target=body, args=(f"t{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(admitted) == 6
    assert manager.windows()[0].reserved_usd == Decimal("0.90")

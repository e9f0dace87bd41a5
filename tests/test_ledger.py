"""The DuckDB cost ledger, against real files: round trips, sums, ordering, locking, errors,
the schema 2 migration and the transaction/query seam the budget modules use."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from pydantic import ValidationError

from frugalflow.core.errors import LedgerError
from frugalflow.core.schemas import Tier
from frugalflow.money.ledger import MIGRATIONS, SCHEMA_VERSION, CostLedger, ModelCall, RequestUsage

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def call(**changes: Any) -> ModelCall:
    values: dict[str, Any] = {
        "request_id": "req1",
        "project": "demo",
        "step": "generate",
        "provider": "llamacpp",
        "model": "qwen2.5-coder-0.5b-instruct",
        "tier": Tier.LOCAL,
        "ts": T0,
    }
    return ModelCall(**{**values, **changes})


def count_rows(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute("SELECT count(*) FROM model_calls").fetchone()
    assert row is not None
    return int(row[0])


@contextmanager
def held_lock(ledger: CostLedger) -> Iterator[None]:
    """Hold the ledger's lock through a separate open file description, as another run would."""
    ledger.lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(ledger.lock_path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write_batch(path: str, worker: str, count: int) -> None:
    """Run in a spawned process: record ``count`` calls one by one."""
    ledger = CostLedger(Path(path), lock_timeout_seconds=60)
    for index in range(count):
        ledger.record(call(request_id=f"{worker}-{index}", actual_cost_usd=Decimal("0.001")))


@pytest.fixture
def ledger(tmp_path: Path) -> CostLedger:
    return CostLedger(tmp_path / "state" / "ledger.duckdb", lock_timeout_seconds=10)


def test_every_field_round_trips(ledger: CostLedger) -> None:
    original = ModelCall(
        ts=datetime(2025, 3, 1, 13, 30, 15, 123456, tzinfo=timezone(timedelta(hours=1))),
        flow_run_id="flow-7",
        request_id="abc123",
        project="demo",
        step="document",
        provider="openai",
        model="gpt-x",
        tier=Tier.API,
        input_tokens=1234,
        output_tokens=567,
        cached_tokens=89,
        estimated_cost_usd=Decimal("0.00012345"),
        actual_cost_usd=Decimal("12345.67890123"),
        latency_ms=4321,
        success=False,
        cache_hit=True,
        error="rate limited",
        price_catalog="genai-prices 0.2.3",
    )

    ledger.record(original)
    [back] = ledger.calls_for_request("abc123")

    assert back == original
    assert back.model_dump() == original.model_dump()
    assert back.estimated_cost_usd == Decimal("0.00012345")
    assert str(back.actual_cost_usd) == "12345.67890123"
    assert back.ts == datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    assert back.ts.utcoffset() == timedelta(0)
    assert back.tier is Tier.API


def test_ledger_and_parent_directories_are_created_on_first_write(ledger: CostLedger) -> None:
    assert not ledger.path.parent.exists()
    ledger.record(call())
    assert ledger.path.is_file()
    assert ledger.schema_version() == SCHEMA_VERSION


def test_reading_a_missing_ledger_is_empty_and_creates_nothing(ledger: CostLedger) -> None:
    spend = ledger.spend_between(T0, T0 + timedelta(days=1))

    assert spend == Decimal(0)
    assert isinstance(spend, Decimal)
    assert ledger.recent() == []
    assert ledger.calls_for_request("req1") == []
    assert ledger.schema_version() == 0
    assert not ledger.path.parent.exists()


def test_spend_between_counts_start_but_not_end(ledger: CostLedger) -> None:
    end = T0 + timedelta(hours=1)
    ledger.record_many(
        [
            call(ts=T0 - timedelta(microseconds=1), actual_cost_usd=Decimal(100)),
            call(ts=T0, actual_cost_usd=Decimal("0.00000001")),
            call(ts=T0 + timedelta(minutes=30), actual_cost_usd=Decimal("0.1")),
            call(ts=end, actual_cost_usd=Decimal(1000)),
        ]
    )

    assert ledger.spend_between(T0, end) == Decimal("0.10000001")
    assert ledger.spend_between(T0 + timedelta(hours=2), T0 + timedelta(hours=3)) == Decimal(0)


def test_spend_between_filters_by_project_and_accepts_any_timezone(ledger: CostLedger) -> None:
    ledger.record_many(
        [
            call(project="a", actual_cost_usd=Decimal("0.25")),
            call(project="a", actual_cost_usd=Decimal("0.5")),
            call(project="b", actual_cost_usd=Decimal(2)),
        ]
    )
    paris = timezone(timedelta(hours=1))
    start, end = datetime(2025, 3, 1, tzinfo=paris), datetime(2025, 3, 2, tzinfo=paris)

    assert ledger.spend_between(start, end, project="a") == Decimal("0.75")
    assert ledger.spend_between(start, end, project="b") == Decimal(2)
    assert ledger.spend_between(start, end, project="nobody") == Decimal(0)
    assert ledger.spend_between(start, end) == Decimal("2.75")


def test_spend_between_refuses_naive_datetimes(ledger: CostLedger) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ledger.spend_between(datetime(2025, 3, 1), T0)


def test_recent_is_newest_first_and_limited(ledger: CostLedger) -> None:
    calls = [call(request_id=f"r{i}", ts=T0 + timedelta(seconds=i)) for i in range(5)]
    ledger.record_many([calls[2], calls[0], calls[4], calls[1], calls[3]])

    assert [c.request_id for c in ledger.recent(3)] == ["r4", "r3", "r2"]
    assert [c.request_id for c in ledger.recent()] == ["r4", "r3", "r2", "r1", "r0"]


def test_calls_for_request_is_that_request_only_oldest_first(ledger: CostLedger) -> None:
    ledger.record(call(request_id="x", step="document", ts=T0 + timedelta(seconds=5)))
    ledger.record(call(request_id="y", ts=T0 + timedelta(seconds=1)))
    ledger.record(call(request_id="x", step="generate", ts=T0))

    assert [c.step for c in ledger.calls_for_request("x")] == ["generate", "document"]
    assert ledger.calls_for_request("missing") == []


def test_request_usage_sums_every_call_of_that_request(ledger: CostLedger) -> None:
    ledger.record(
        call(request_id="x", input_tokens=10, output_tokens=4, actual_cost_usd=Decimal("0.25"))
    )
    ledger.record(call(request_id="x", success=False, error="boom"))
    ledger.record(call(request_id="x", cache_hit=True, input_tokens=0))
    ledger.record(call(request_id="y", input_tokens=99, actual_cost_usd=Decimal("1")))
    assert ledger.request_usage("x") == RequestUsage(
        cost_usd=Decimal("0.25"), input_tokens=10, output_tokens=4, calls=3
    )
    assert ledger.request_usage("missing") == RequestUsage(Decimal(0), 0, 0, 0)


def test_model_call_refuses_naive_ts_and_rounds_costs_to_ledger_precision() -> None:
    with pytest.raises(ValidationError):
        call(ts=datetime(2025, 3, 1))
    assert call(actual_cost_usd=Decimal("0.000000075")).actual_cost_usd == Decimal("0.00000008")


def test_record_many_is_all_or_nothing(ledger: CostLedger) -> None:
    ledger.record(call(call_id="dup"))
    with pytest.raises(LedgerError, match=re.escape(str(ledger.path))):
        ledger.record_many([call(call_id="fresh"), call(call_id="dup")])
    assert [c.call_id for c in ledger.recent()] == ["dup"]


def test_concurrent_processes_and_threads_lose_no_writes(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    spawn = multiprocessing.get_context("spawn")
    processes = [spawn.Process(target=write_batch, args=(str(path), f"p{i}", 25)) for i in range(4)]
    errors: list[BaseException] = []

    def thread_body(name: str) -> None:
        try:
            write_batch(str(path), name, 25)
            CostLedger(path, lock_timeout_seconds=60).recent(5)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=thread_body, args=(f"t{i}",)) for i in range(4)]
    for process in processes:
        process.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for process in processes:
        process.join(timeout=60)

    assert errors == []
    assert [process.exitcode for process in processes] == [0, 0, 0, 0]
    ledger = CostLedger(path)
    expected = {f"{w}{i}-{n}" for w in "pt" for i in range(4) for n in range(25)}
    assert {c.request_id for c in ledger.recent(1000)} == expected
    assert count_rows(path) == 200
    assert ledger.spend_between(T0, T0 + timedelta(seconds=1)) == Decimal("0.2")


def test_a_lock_held_too_long_journals_writes_and_fails_reads_naming_the_lock_file(
    ledger: CostLedger, caplog: pytest.LogCaptureFixture
) -> None:
    ledger.record(call(call_id="before"))
    slow = CostLedger(ledger.path, lock_timeout_seconds=0.3)

    with held_lock(ledger):
        started = time.monotonic()
        slow.record_many([call(call_id="a"), call(call_id="b")])  # journaled, not lost
        assert time.monotonic() - started < 5
        assert str(ledger.lock_path) in caplog.text and "journal" in caplog.text
        with pytest.raises(LedgerError, match="busy"):
            slow.recent()

    assert sorted(c.call_id for c in slow.recent()) == ["a", "b", "before"]


def test_a_lock_released_in_time_is_waited_for(ledger: CostLedger) -> None:
    started, released = threading.Event(), threading.Event()

    def hold_briefly() -> None:
        with held_lock(ledger):
            started.set()
            time.sleep(0.4)
        released.set()

    holder = threading.Thread(target=hold_briefly)
    holder.start()
    assert started.wait(5)
    ledger.record(call())
    assert released.is_set()
    holder.join()
    assert len(ledger.recent()) == 1


def test_a_file_that_is_not_duckdb_gives_ledger_error_with_the_path(ledger: CostLedger) -> None:
    ledger.path.parent.mkdir(parents=True)
    ledger.path.write_bytes(b"this is not a database\n" * 500)

    ledger.record(call())  # journaled beside it: the call is not lost
    with pytest.raises(LedgerError, match=re.escape(str(ledger.path))) as caught:
        ledger.spend_between(T0, T0 + timedelta(days=1))
    assert isinstance(caught.value.__cause__, duckdb.Error)
    assert "aside" not in str(caught.value)
    assert ledger.journal_paths[0].exists()


def test_a_ledger_from_a_newer_frugalflow_is_refused(ledger: CostLedger) -> None:
    ledger.record(call())
    with duckdb.connect(str(ledger.path)) as con:
        con.execute("UPDATE schema_info SET version = ?", [SCHEMA_VERSION + 1])

    with pytest.raises(LedgerError, match=r"[Uu]pgrade frugalflow"):
        ledger.replay_journal()
    ledger.record(call())  # journaled, for a frugalflow that can write this ledger
    with pytest.raises(LedgerError, match="newer"):
        ledger.recent()
    assert count_rows(ledger.path) == 1
    assert ledger.journal_paths[0].exists()


def test_an_unversioned_database_is_migrated_before_use(ledger: CostLedger) -> None:
    ledger.path.parent.mkdir(parents=True)
    with duckdb.connect(str(ledger.path)) as con:
        con.execute("CREATE TABLE unrelated (x INTEGER)")

    assert ledger.schema_version() == 0
    assert ledger.recent() == []
    assert ledger.schema_version() == SCHEMA_VERSION
    ledger.record(call())
    assert len(ledger.recent()) == 1


def make_schema_1_ledger(path: Path, calls: list[ModelCall]) -> None:
    """A ledger file exactly as frugalflow wrote it before schema version 2."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = [column for column in ModelCall.model_fields if column in MIGRATIONS[0][0]]
    placeholders = ", ".join("?" * len(columns))
    with duckdb.connect(str(path)) as con:
        for statement in MIGRATIONS[0]:
            con.execute(statement)
        con.execute("CREATE TABLE schema_info (version INTEGER NOT NULL)")
        con.execute("INSERT INTO schema_info VALUES (1)")
        for old in calls:
            con.execute(
                f"INSERT INTO model_calls ({', '.join(columns)}) VALUES ({placeholders})",
                [getattr(old, column) for column in columns],
            )


def test_a_schema_1_ledger_is_migrated_and_old_rows_read_back_with_none(
    ledger: CostLedger,
) -> None:
    make_schema_1_ledger(ledger.path, [call(call_id="old", actual_cost_usd=Decimal("0.5"))])
    assert ledger.schema_version() == 1

    [old] = ledger.recent()

    assert ledger.schema_version() == SCHEMA_VERSION == 8
    assert old.call_id == "old"
    assert old.actual_cost_usd == Decimal("0.5")
    assert (old.task_type, old.estimated_input_tokens, old.estimated_output_tokens) == (None,) * 3
    assert old.reservation_id is None
    tables = {row[0] for row in ledger.query("SELECT table_name FROM duckdb_tables()")}
    assert {"model_calls", "reservations", "deferred_requests", "alerts"} <= tables
    columns = ledger.query(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'deferred_requests'"
    )
    assert ("flow_run_id",) in columns  # schema 5: the run that deferred a request
    ledger.record(call(call_id="new", task_type="analysis", reservation_id="res-1"))
    assert {c.call_id: c.reservation_id for c in ledger.recent()} == {"old": None, "new": "res-1"}


# model_calls as schema version 5 (frugalflow before issue 14) created it: migration 1's table
# plus migration 2's columns, written out here as they were.
SCHEMA_5_MODEL_CALLS = """CREATE TABLE model_calls (
    call_id VARCHAR PRIMARY KEY, ts TIMESTAMPTZ NOT NULL, flow_run_id VARCHAR,
    request_id VARCHAR NOT NULL, project VARCHAR NOT NULL, step VARCHAR NOT NULL,
    provider VARCHAR NOT NULL, model VARCHAR NOT NULL, tier VARCHAR NOT NULL,
    input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL,
    cached_tokens BIGINT NOT NULL, estimated_cost_usd DECIMAL(18, 8) NOT NULL,
    actual_cost_usd DECIMAL(18, 8) NOT NULL, latency_ms BIGINT NOT NULL,
    success BOOLEAN NOT NULL, cache_hit BOOLEAN NOT NULL, error VARCHAR,
    price_catalog VARCHAR NOT NULL, task_type VARCHAR, estimated_input_tokens BIGINT,
    estimated_output_tokens BIGINT, reservation_id VARCHAR)"""


def test_a_schema_5_ledger_gains_the_accounting_columns_and_keeps_its_rows(
    ledger: CostLedger,
) -> None:
    ledger.path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(ledger.path)) as con:
        con.execute(SCHEMA_5_MODEL_CALLS)
        con.execute("CREATE TABLE schema_info (version INTEGER NOT NULL)")
        con.execute("INSERT INTO schema_info VALUES (5)")
        con.execute(
            "INSERT INTO model_calls VALUES ('old', ?, 'flow-1', 'req1', 'demo', 'generate', "
            "'anthropic', 'claude-sonnet-4-5', 'api', 4050, 400, 1000, 0.01, 0.01845, 900, "
            "true, false, NULL, 'genai-prices 0.2.3', 'code_generation', 4000, 380, 'res-1')",
            [T0],
        )
    assert ledger.schema_version() == 5

    [old] = ledger.recent()

    assert ledger.schema_version() == SCHEMA_VERSION
    assert (old.call_id, old.input_tokens, old.cached_tokens) == ("old", 4050, 1000)
    assert old.actual_cost_usd == Decimal("0.01845")
    # What schema 5 did not record reads back as unknown, not as zero.
    assert (old.cache_write_tokens, old.cache_write_1h_tokens, old.reasoning_tokens) == (None,) * 3
    assert (old.answered_model, old.input_per_mtok, old.compute_cost_usd) == (None,) * 3
    assert old.prompt_cache_key is None  # schema 7: the stable part sent was not recorded
    new = call(
        call_id="new",
        provider="anthropic",
        model="claude-sonnet-4-5",
        tier=Tier.API,
        input_tokens=4050,
        cached_tokens=1000,
        cache_write_tokens=3000,
        cache_write_1h_tokens=1000,
        output_tokens=400,
        reasoning_tokens=0,
        answered_model="claude-sonnet-4-5-20250929",
        input_per_mtok=Decimal(3),
        cached_input_per_mtok=Decimal("0.3"),
        cache_write_per_mtok=Decimal("3.75"),
        cache_write_1h_per_mtok=Decimal(6),
        output_per_mtok=Decimal(15),
        price_tier_above_tokens=200_000,
        compute_cost_usd=Decimal("0.00125"),
        actual_cost_usd=Decimal("0.01995"),
    )
    ledger.record(new)
    assert {c.call_id: c for c in ledger.recent()}["new"] == new
    assert ledger.spend_between(T0, T0 + timedelta(days=1)) == Decimal("0.0384")


def test_schema_2_fields_round_trip(ledger: CostLedger) -> None:
    original = call(
        task_type="code_generation",
        estimated_input_tokens=1200,
        estimated_output_tokens=350,
        reservation_id="r-42",
    )
    ledger.record(original)
    assert ledger.calls_for_request("req1") == [original]


def test_usage_history_is_successful_uncached_calls_filtered_newest_first(
    ledger: CostLedger,
) -> None:
    def at(seconds: int, **changes: Any) -> ModelCall:
        values = {"provider": "openai", "model": "gpt-4o", "task_type": "analysis"}
        return call(ts=T0 + timedelta(seconds=seconds), **{**values, **changes})

    ledger.record_many(
        [
            at(1, call_id="old"),
            at(2, call_id="failed", success=False),
            at(3, call_id="cached", cache_hit=True),
            at(4, call_id="other-model", model="gpt-4o-mini"),
            at(5, call_id="other-provider", provider="anthropic"),
            at(6, call_id="other-task", task_type="documentation"),
            at(7, call_id="new"),
        ]
    )

    def ids(**filters: Any) -> list[str]:
        return [c.call_id for c in ledger.usage_history(**filters)]

    assert ids() == ["new", "other-task", "other-provider", "other-model", "old"]
    assert ids(provider="openai", model="gpt-4o", task_type="analysis") == ["new", "old"]
    assert ids(model="gpt-4o-mini") == ["other-model"]
    assert ids(task_type="documentation") == ["other-task"]
    assert ids(provider="openai", limit=2) == ["new", "other-task"]
    assert CostLedger(ledger.path.with_name("missing.duckdb")).usage_history() == []


def test_transaction_commits_on_success_and_rolls_back_on_error(ledger: CostLedger) -> None:
    with ledger.transaction() as con:
        con.execute("INSERT INTO alerts VALUES ('k', 50, ?, 1, 2)", [T0])

    with pytest.raises(RuntimeError, match="boom"), ledger.transaction() as con:
        con.execute("INSERT INTO alerts VALUES ('k', 80, ?, 1, 2)", [T0])
        raise RuntimeError("boom")

    assert ledger.query("SELECT window_key, threshold_percent FROM alerts") == [("k", 50)]


def test_transaction_holds_the_exclusive_lock_for_its_whole_block(ledger: CostLedger) -> None:
    impatient = CostLedger(ledger.path, lock_timeout_seconds=0.2)
    with ledger.transaction():
        with pytest.raises(LedgerError, match="busy"):
            impatient.query("SELECT count(*) FROM model_calls")
        impatient.record(call())  # journaled: it cannot wait for the lock
        assert impatient.journal_paths[0].exists()
    assert impatient.query("SELECT count(*) FROM model_calls") == [(1,)]  # booked once free


def test_query_of_a_missing_ledger_is_empty_and_query_cannot_write(ledger: CostLedger) -> None:
    assert ledger.query("SELECT 1", []) == []
    assert not ledger.path.parent.exists()

    ledger.record(call())
    assert ledger.query("SELECT count(*) FROM model_calls WHERE project = ?", ["demo"]) == [(1,)]
    with pytest.raises(LedgerError):
        ledger.query("DELETE FROM model_calls")
    assert count_rows(ledger.path) == 1

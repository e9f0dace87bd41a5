"""The performance history in the ledger: attempt outcomes round-trip, are stored once,
aggregate per model and class in SQL, survive two threads writing at once, and an old
schema-3 ledger is migrated to hold them."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from pydantic import ValidationError

from frugalflow.core.schemas import Complexity, RoutingDecision, TaskType, Tier
from frugalflow.money.ledger import MIGRATIONS, SCHEMA_VERSION, CostLedger, ModelCall
from frugalflow.money.outcomes import (
    AttemptOutcome,
    PerformanceRow,
    outcomes_for_request,
    performance,
    record_outcome,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LOCAL = "llamacpp:qwen2.5-coder-0.5b-instruct"
MINI = "openai:gpt-4o-mini"
FAKE_KEY = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0" * 2


def outcome(**changes: Any) -> AttemptOutcome:
    values: dict[str, Any] = {
        "request_id": "req1",
        "project": "demo",
        "attempt": 1,
        "model": LOCAL,
        "task_type": TaskType.CODE_GENERATION,
        "language": "python",
        "complexity": Complexity.SIMPLE,
        "passed": True,
        "ts": T0,
    }
    return AttemptOutcome(**{**values, **changes})


@pytest.fixture
def ledger(tmp_path: Path) -> CostLedger:
    return CostLedger(tmp_path / "state" / "ledger.duckdb", lock_timeout_seconds=30)


def test_every_field_round_trips(ledger: CostLedger) -> None:
    decision = RoutingDecision(attempt=2, model=MINI, tier=Tier.API, reason="escalated", rule="r")
    original = AttemptOutcome(
        outcome_id="o-1",
        ts=datetime(2025, 3, 1, 13, 30, 15, 123456, tzinfo=timezone(timedelta(hours=1))),
        request_id="abc",
        flow_run_id="flow-7",
        project="demo",
        attempt=2,
        model=MINI,
        task_type=TaskType.ANALYSIS,
        language=" Python ",
        complexity=Complexity.MEDIUM,
        passed=False,
        repeated=True,
        cost_usd=Decimal("0.000123456"),
        latency_ms=4321,
        rule="medium-best-value",
        decision_json=decision.model_dump_json(),
    )

    assert record_outcome(ledger, original)
    [back] = outcomes_for_request(ledger, "abc")

    assert back == original
    assert back.ts == datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    assert back.language == "python"
    assert back.cost_usd == Decimal("0.00012346")  # half-even to the ledger's 8 places
    assert back.task_type is TaskType.ANALYSIS
    assert back.complexity is Complexity.MEDIUM
    assert back.decision == decision


def test_the_same_outcome_is_stored_once(ledger: CostLedger) -> None:
    first = outcome(outcome_id="same")

    assert record_outcome(ledger, first) is True
    assert record_outcome(ledger, first.model_copy(update={"passed": False})) is False

    assert outcomes_for_request(ledger, "req1") == [first]


def test_secrets_are_redacted_from_the_decision_and_the_rule(ledger: CostLedger) -> None:
    decision = RoutingDecision(
        attempt=1,
        model=MINI,
        tier=Tier.API,
        reason=f"failover after anthropic:x failed (401 for key {FAKE_KEY})",
    )
    stored = AttemptOutcome.from_decision(
        decision,
        request_id="req1",
        project="demo",
        task_type=TaskType.CODE_GENERATION,
        language="python",
        complexity=Complexity.SIMPLE,
        passed=True,
    )
    record_outcome(ledger, stored)
    rule = outcome(outcome_id="r", attempt=2, rule=f"rule {FAKE_KEY}")
    record_outcome(ledger, rule)

    raw = ledger.query("SELECT decision_json, rule FROM attempt_outcomes ORDER BY attempt")
    assert all(FAKE_KEY not in (text or "") for row in raw for text in row)
    assert "[redacted]" in raw[0][0] and "[redacted]" in raw[1][1]
    [back, _] = outcomes_for_request(ledger, "req1")
    assert back.attempt == 1 and back.model == MINI and back.rule is None
    assert back.decision is not None
    assert back.decision.reason.endswith("(401 for key [redacted])")


def test_invalid_outcomes_are_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        outcome(ts=datetime(2025, 3, 1, 12, 0))
    with pytest.raises(ValidationError, match="attempt"):
        outcome(attempt=0)
    with pytest.raises(ValidationError, match="cost_usd"):
        outcome(cost_usd=Decimal("-0.01"))
    with pytest.raises(ValidationError, match="task_type"):
        outcome(task_type="poetry")
    with pytest.raises(ValidationError, match="secret"):
        outcome(secret="x")


def test_performance_aggregates_per_model_and_class(ledger: CostLedger) -> None:
    rows = [
        # LOCAL on python/simple codegen: 3 attempts, 1 passed, 1 a repeat
        outcome(passed=True, latency_ms=100, cost_usd=Decimal(0)),
        outcome(passed=False, latency_ms=200, cost_usd=Decimal(0), request_id="r2"),
        outcome(passed=False, repeated=True, latency_ms=600, request_id="r3"),
        # MINI on the same class: 2 attempts, both passed
        outcome(model=MINI, cost_usd=Decimal("0.00000001"), latency_ms=1000),
        outcome(model=MINI, cost_usd=Decimal("0.00000002"), latency_ms=2000, request_id="r2"),
        # LOCAL on other classes
        outcome(language="JavaScript", passed=False, latency_ms=50),
        outcome(complexity=Complexity.MEDIUM, passed=False, latency_ms=70),
        outcome(task_type=TaskType.DOCUMENTATION, latency_ms=30),
    ]
    for row in rows:
        record_outcome(ledger, row)

    python_simple = performance(
        ledger, task_type=TaskType.CODE_GENERATION, language="PYTHON", complexity=Complexity.SIMPLE
    )

    assert python_simple == [
        PerformanceRow(
            LOCAL, TaskType.CODE_GENERATION, "python", Complexity.SIMPLE, 3, 1, 1, 300.0, Decimal(0)
        ),
        PerformanceRow(
            MINI,
            TaskType.CODE_GENERATION,
            "python",
            Complexity.SIMPLE,
            2,
            2,
            0,
            1500.0,
            Decimal("0.00000002"),  # 0.000000015 rounded half-even, computed from the exact sum
        ),
    ]
    everything = performance(ledger)
    assert sum(row.attempts for row in everything) == len(rows)
    assert len(everything) == 5
    assert [
        (row.model, row.task_type, row.language, row.complexity)
        for row in performance(ledger, language="javascript")
    ] == [(LOCAL, TaskType.CODE_GENERATION, "javascript", Complexity.SIMPLE)]
    assert {row.complexity for row in performance(ledger, complexity=Complexity.MEDIUM)} == {
        Complexity.MEDIUM
    }
    assert [row.successes for row in performance(ledger, task_type=TaskType.DOCUMENTATION)] == [1]


def test_reading_a_missing_ledger_is_empty_and_creates_nothing(ledger: CostLedger) -> None:
    assert performance(ledger) == []
    assert outcomes_for_request(ledger, "req1") == []
    assert not ledger.path.parent.exists()


def test_a_requests_outcomes_come_in_attempt_order(ledger: CostLedger) -> None:
    for attempt in (3, 1, 2):
        record_outcome(ledger, outcome(attempt=attempt, ts=T0 - timedelta(minutes=attempt)))
    record_outcome(ledger, outcome(request_id="other", attempt=1))

    assert [o.attempt for o in outcomes_for_request(ledger, "req1")] == [1, 2, 3]


def test_two_threads_recording_at_once_lose_nothing(ledger: CostLedger) -> None:
    per_thread = 25
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def body(name: str) -> None:
        try:
            start.wait(timeout=30)
            for index in range(per_thread):
                record_outcome(ledger, outcome(request_id=f"{name}-{index}", model=name))
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(name,)) for name in (LOCAL, MINI)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert {row.model: row.attempts for row in performance(ledger)} == {
        LOCAL: per_thread,
        MINI: per_thread,
    }


def schema_3_columns() -> list[str]:
    """The model_calls columns of schema version 3."""
    schema_3 = " ".join(statement for statements in MIGRATIONS[:3] for statement in statements)
    return [column for column in ModelCall.model_fields if column in schema_3]


def make_schema_3_ledger(path: Path, old: ModelCall) -> None:
    """A ledger file as frugalflow wrote it at schema version 3, with one call in it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = schema_3_columns()
    with duckdb.connect(str(path)) as con:
        for statements in MIGRATIONS[:3]:
            for statement in statements:
                con.execute(statement)
        con.execute("CREATE TABLE schema_info (version INTEGER NOT NULL)")
        con.execute("INSERT INTO schema_info VALUES (3)")
        con.execute(
            f"INSERT INTO model_calls ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})",
            [getattr(old, column) for column in columns],
        )


def test_a_schema_3_ledger_is_migrated_and_keeps_its_calls(ledger: CostLedger) -> None:
    old = ModelCall(
        call_id="old",
        ts=T0,
        request_id="req0",
        project="demo",
        step="generate",
        provider="openai",
        model="gpt-4o-mini",
        tier=Tier.API,
        actual_cost_usd=Decimal("0.25"),
    )
    make_schema_3_ledger(ledger.path, old)
    assert ledger.schema_version() == 3

    assert performance(ledger) == []  # a read upgrades it first

    assert ledger.schema_version() == SCHEMA_VERSION
    # What schema 3 did not record (schema 6's accounting columns) reads back as unknown.
    unknown = {
        column: None for column in ModelCall.model_fields if column not in schema_3_columns()
    }
    assert ledger.recent() == [old.model_copy(update=unknown)]
    assert record_outcome(ledger, outcome())
    assert [row.attempts for row in performance(ledger)] == [1]

"""DeferredStore against real ledger files: requests wait for their time and are never lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from frugalflow.core.schemas import CodeRequest, QualityMode, TaskType
from frugalflow.money.deferred import DeferredStore
from frugalflow.money.ledger import CostLedger

RETRY_AT = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)


def request(
    description: str = "Add a function that counts words", **changes: object
) -> CodeRequest:
    return CodeRequest.model_validate(
        {"description": description, "repo": "/srv/repos/textkit", **changes}
    )


@pytest.fixture
def store(tmp_path: Path) -> DeferredStore:
    return DeferredStore(CostLedger(tmp_path / "ledger.duckdb"))


def row_count(store: DeferredStore) -> int:
    with duckdb.connect(str(store.ledger.path), read_only=True) as con:
        row = con.execute("SELECT count(*) FROM deferred_requests").fetchone()
    assert row is not None
    return int(row[0])


def test_a_deferred_request_round_trips_every_field(store: DeferredStore) -> None:
    original = request(
        target="src/textkit/words.py",
        language="Python",
        task_type=TaskType.CODE_GENERATION,
        quality=QualityMode.MAX,
        project="textkit",
        budget_cap_usd=Decimal("0.25"),
        examples=('assert count_words("a b") == 2',),
    )
    paris = timezone(timedelta(hours=1))

    deferred_id = store.add(
        original, reason="$0.02 left today", retry_at=datetime(2026, 11, 29, 1, tzinfo=paris)
    )

    [back] = store.pending()
    assert back.deferred_id == deferred_id
    assert back.request == original
    assert back.request.budget_cap_usd == Decimal("0.25")
    assert back.request.repo == Path("/srv/repos/textkit")
    assert (back.reason, back.state, back.attempts, back.last_flow_run_id) == (
        "$0.02 left today",
        "pending",
        0,
        None,
    )
    assert back.retry_at == RETRY_AT
    assert back.deferred_at.utcoffset() == timedelta(0)


def test_a_request_is_due_at_its_retry_time_and_not_before(store: DeferredStore) -> None:
    store.add(request(), reason="budget", retry_at=RETRY_AT)

    assert store.due(RETRY_AT - timedelta(microseconds=1)) == []
    assert len(store.due(RETRY_AT)) == 1
    assert len(store.due(RETRY_AT + timedelta(days=3))) == 1
    assert len(store.pending()) == 1


def test_due_is_oldest_deferral_first_and_skips_later_ones(store: DeferredStore) -> None:
    first = store.add(request(request_id="first"), reason="r", retry_at=RETRY_AT)
    second = store.add(request(request_id="second"), reason="r", retry_at=RETRY_AT - timedelta(1))
    store.add(request(request_id="later"), reason="r", retry_at=RETRY_AT + timedelta(hours=1))

    assert [d.deferred_id for d in store.due(RETRY_AT)] == [first, second]
    assert [d.request.request_id for d in store.pending()] == ["first", "second", "later"]


def test_resubmitted_and_done_requests_leave_the_queue_but_are_never_deleted(
    store: DeferredStore,
) -> None:
    resubmitted = store.add(request(request_id="again"), reason="r", retry_at=RETRY_AT)
    done = store.add(request(request_id="ran"), reason="r", retry_at=RETRY_AT)

    store.mark_resubmitted(resubmitted, "flow-run-1")
    store.mark_done(done)

    assert store.due(RETRY_AT) == []
    assert store.pending() == []
    states = {d.request.request_id: d for d in store.all()}
    assert states["again"].state == "resubmitted"
    assert states["again"].attempts == 1
    assert states["again"].last_flow_run_id == "flow-run-1"
    assert states["ran"].state == "done"
    assert row_count(store) == 2


def test_a_request_deferred_again_is_a_new_pending_row(store: DeferredStore) -> None:
    same = request(request_id="twice")
    old = store.add(same, reason="first deferral", retry_at=RETRY_AT)
    store.mark_resubmitted(old, "flow-run-1")

    new = store.add(same, reason="second deferral", retry_at=RETRY_AT + timedelta(days=1))

    assert new != old
    assert [d.deferred_id for d in store.pending()] == [new]
    assert row_count(store) == 2


def test_marking_an_unknown_id_fails_loudly(store: DeferredStore) -> None:
    store.add(request(), reason="r", retry_at=RETRY_AT)
    with pytest.raises(KeyError, match="nope"):
        store.mark_done("nope")
    with pytest.raises(KeyError, match="nope"):
        store.mark_resubmitted("nope", "run")


def test_naive_times_are_refused(store: DeferredStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.add(request(), reason="r", retry_at=datetime(2026, 11, 29))
    with pytest.raises(ValueError, match="timezone-aware"):
        store.due(datetime(2026, 11, 29))


def test_an_empty_or_missing_store_has_nothing_due(store: DeferredStore) -> None:
    assert store.due(RETRY_AT) == []
    assert store.pending() == []
    assert not store.ledger.path.exists()

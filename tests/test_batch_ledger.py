"""The batch book against real DuckDB ledgers: a batch survives a restart, its reservation
holds for the vendor's window, a result settles it at the batch rate once, and a failed or
expired batch gives the money back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from frugalflow.core.settings import Settings
from frugalflow.money.batches import BATCH_RESERVATION_TTL, BatchBook, BatchRecord
from frugalflow.money.budget import BudgetManager
from frugalflow.money.ledger import CostLedger
from frugalflow.money.pricing import PriceCatalog
from frugalflow.money.usage import CallUsage
from frugalflow.providers.base import Completion
from tests.support.money import settings_for

SONNET = "anthropic:claude-sonnet-4-5"


def book_for(settings: Settings) -> BatchBook:
    return BatchBook(CostLedger(settings.ledger_file), settings)


def submitted(book: BatchBook, batch_id: str = "msgbatch_01") -> BatchRecord:
    reservation = book.reserve(
        request_id="r1", project="p", model=SONNET, input_tokens=4_000, max_tokens=1_000
    )
    now = datetime.now(UTC)
    record = BatchRecord(
        batch_id=batch_id,
        provider="anthropic",
        model="claude-sonnet-4-5",
        request_id="r1",
        project="p",
        reservation_id=reservation.reservation_id,
        custom_id="r1:generate:1",
        submitted_at=now,
        updated_at=now,
        task_type="code_generation",
        request_json='{"description": "add"}',
    )
    book.record(record)
    return record


RESULT = Completion(
    text="def add(a, b):\n    return a + b\n",
    model="claude-sonnet-4-5",
    input_tokens=4_000,
    output_tokens=300,
    cached_tokens=2_000,
    cache_write_tokens=1_000,
    answered_model="claude-sonnet-4-5-20250929",
)


def test_a_batch_and_its_reservation_survive_a_restart(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    record = submitted(book_for(settings))
    again = book_for(settings)  # a new process: nothing but the ledger file
    assert again.open_batches() == [record]
    [reservation] = BudgetManager(CostLedger(settings.ledger_file), settings).reservations(
        state="active"
    )
    assert reservation.reservation_id == record.reservation_id
    held = reservation.expires_at - reservation.created_at
    assert held == BATCH_RESERVATION_TTL > timedelta(hours=24)
    # the full standard worst case, every prompt token as a cache write: not weakened
    assert reservation.amount_usd == PriceCatalog().worst_case(
        SONNET, input_tokens=4_000, output_tokens=1_000
    ).quantize(Decimal("1e-8"))


def test_a_result_is_booked_at_the_batch_rate_and_settles_once(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    book = book_for(settings)
    record = submitted(book)
    call = book.settle(record, RESULT)
    book.settle(record, RESULT)  # a second poller saw it too
    ledger = CostLedger(settings.ledger_file)
    [booked] = ledger.calls_for_request("r1")
    usage = CallUsage(
        input_tokens=4_000, output_tokens=300, cached_tokens=2_000, cache_write_tokens=1_000
    )
    standard = PriceCatalog().price("anthropic:claude-sonnet-4-5-20250929", usage).cost_usd
    assert (
        booked.actual_cost_usd == call.actual_cost_usd == (standard / 2).quantize(Decimal("1e-8"))
    )
    assert booked.answered_model == "claude-sonnet-4-5-20250929"
    assert booked.reservation_id == record.reservation_id
    assert booked.price_catalog.endswith(" batch")
    assert book.open_batches() == []
    assert book.get(record.batch_id).state == "settled"  # type: ignore[union-attr]
    budget = BudgetManager(ledger, settings)
    assert budget.reservations(state="active") == []
    assert len(budget.reservations(state="settled")) == 1


@pytest.mark.parametrize("state", ["failed", "expired", "cancelled"])
def test_a_batch_that_ends_without_a_result_gives_the_money_back(
    tmp_path: Path, state: str
) -> None:
    settings = settings_for(tmp_path)
    book = book_for(settings)
    budget = BudgetManager(CostLedger(settings.ledger_file), settings)
    before = min(w.remaining_usd for w in budget.status("p"))
    record = submitted(book)
    assert min(w.remaining_usd for w in budget.status("p")) < before
    book.close(record, state, "the vendor said so")  # type: ignore[arg-type]
    assert min(w.remaining_usd for w in budget.status("p")) == before
    closed = book.get(record.batch_id)
    assert closed is not None and (closed.state, closed.error) == (state, "the vendor said so")
    book.settle(record, RESULT)  # a late result of a closed batch books nothing
    assert CostLedger(settings.ledger_file).calls_for_request("r1") == []


def test_a_result_without_usage_is_booked_at_its_reservation_never_free(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    book = book_for(settings)
    record = submitted(book)
    silent = RESULT.model_copy(
        update={
            "usage_reported": False,
            "input_tokens": 0,
            "output_tokens": 0,
            "cached_tokens": 0,
            "cache_write_tokens": 0,
        }
    )
    call = book.settle(record, silent)
    [reservation] = BudgetManager(CostLedger(settings.ledger_file), settings).reservations()
    assert call.actual_cost_usd == reservation.amount_usd > 0

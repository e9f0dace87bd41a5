"""The batch tier's book: each batch sent to a vendor's batch API, its reservation, its state.

A batch is recorded in the ledger's ``batches`` table the moment the vendor accepted it, with
the reservation that holds its worst case, so that a restart loses nothing: the poller
(:meth:`BatchBook.open_batches`) finds every batch still running, whoever sent it.

The reservation is taken for :data:`BATCH_RESERVATION_TTL` (the vendors end a batch within 24
hours) at the full standard worst case, every prompt token as a cache write (as for any call;
the batch discount is not counted on before it is billed). It holds until the batch ends:

* **ended with a result**: :meth:`BatchBook.settle` books the call, priced at the batch rate
  (:meth:`~frugalflow.money.pricing.PriceCatalog.price_batch`), settles the reservation and
  marks the batch ``settled``, in one transaction;
* **failed, expired or cancelled** (or ended without a result for its request):
  :meth:`BatchBook.close` releases the reservation and records why, in one transaction; the
  request then goes the normal way.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import duckdb
from pydantic import AwareDatetime, BaseModel, ConfigDict, field_validator

from frugalflow.core.models import ModelAddress, parse_address
from frugalflow.core.settings import Settings
from frugalflow.money.budget import BudgetManager, Reservation
from frugalflow.money.estimation import TokenCount
from frugalflow.money.ledger import CostLedger, ModelCall, insert_calls
from frugalflow.money.metering import booked_usage
from frugalflow.money.pricing import PriceCatalog
from frugalflow.money.usage import PricedCall, answered_elsewhere
from frugalflow.providers.base import Completion

BATCH_RESERVATION_TTL = timedelta(hours=25)
"""How long a batch's reservation counts: the vendors' 24-hour batch window and an hour for
the poller to see it end."""

BatchBookState = Literal["running", "settled", "failed", "expired", "cancelled"]
CLOSED_STATES: tuple[BatchBookState, ...] = ("failed", "expired", "cancelled")

_COLUMNS = (
    "batch_id",
    "provider",
    "model",
    "request_id",
    "project",
    "reservation_id",
    "custom_id",
    "state",
    "submitted_at",
    "updated_at",
    "flow_run_id",
    "task_type",
    "request_json",
    "error",
)


class BatchRecord(BaseModel):
    """One batch as the ledger keeps it.

    Attributes:
        batch_id: the vendor's id.
        provider: ``openai``, ``anthropic`` or ``gemini``.
        model: the model name (without the provider).
        request_id: the request the batch's call is for.
        project: the project it is booked under.
        reservation_id: the reservation holding its worst case (None: nothing reserved).
        custom_id: the id of the request's call inside the batch.
        state: ``running`` until it ends; then ``settled`` or one of :data:`CLOSED_STATES`.
        submitted_at: when the vendor accepted it.
        updated_at: when its state last changed, or it was last polled.
        flow_run_id: the flow run that sent it.
        task_type: the request's task type, for the call's record.
        request_json: the request, to run the rest of it when the result arrives.
        error: why it closed without a result.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_id: str
    provider: str
    model: str
    request_id: str
    project: str
    reservation_id: str | None
    custom_id: str
    state: BatchBookState = "running"
    submitted_at: AwareDatetime
    updated_at: AwareDatetime
    flow_run_id: str | None = None
    task_type: str | None = None
    request_json: str | None = None
    error: str | None = None

    @field_validator("submitted_at", "updated_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @property
    def address(self) -> ModelAddress:
        return parse_address(f"{self.provider}:{self.model}")


def _running(con: duckdb.DuckDBPyConnection, batch_id: str) -> bool:
    """Whether the batch is still running, read inside the caller's transaction."""
    row = con.execute("SELECT state FROM batches WHERE batch_id = ?", [batch_id]).fetchone()
    return row is not None and row[0] == "running"


class BatchBook:
    """The ``batches`` table, with the reservations and the calls it settles.

    Args:
        ledger: the cost ledger.
        settings: the budgets and prices.
    """

    def __init__(self, ledger: CostLedger, settings: Settings) -> None:
        self.ledger = ledger
        self.settings = settings
        self.budget = BudgetManager(ledger, settings)
        self.catalog = PriceCatalog(settings.prices)

    def reserve(
        self, *, request_id: str, project: str, model: str, input_tokens: int, max_tokens: int
    ) -> Reservation:
        """Reserve a batch call's worst case (standard rates, every prompt token as a cache
        write) for :data:`BATCH_RESERVATION_TTL`.

        Raises:
            BudgetExceededError: it does not fit a budget window.
            PricingError: the model has no price.
        """
        worst_case = self.catalog.worst_case(
            model, input_tokens=input_tokens, output_tokens=max_tokens
        )
        return self.budget.reserve(
            request_id=request_id,
            project=project,
            model=model,
            amount_usd=worst_case,
            ttl=BATCH_RESERVATION_TTL,
        )

    def record(self, batch: BatchRecord) -> None:
        """Keep a batch the vendor accepted (before anything else happens to it)."""
        with self.ledger.transaction() as con:
            con.execute(
                f"INSERT INTO batches ({', '.join(_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_COLUMNS))})",
                [getattr(batch, column) for column in _COLUMNS],
            )

    def open_batches(self) -> list[BatchRecord]:
        """Every batch still running, oldest first."""
        return self._select("WHERE state = 'running' ORDER BY submitted_at, batch_id", [])

    def get(self, batch_id: str) -> BatchRecord | None:
        found = self._select("WHERE batch_id = ?", [batch_id])
        return found[0] if found else None

    def polled(self, batch: BatchRecord) -> None:
        """Note that a running batch was polled (``updated_at``)."""
        with self.ledger.transaction() as con:
            con.execute(
                "UPDATE batches SET updated_at = ? WHERE batch_id = ?",
                [datetime.now(UTC), batch.batch_id],
            )

    def price(self, batch: BatchRecord, completion: Completion) -> PricedCall:
        """A batch result priced at the batch rate, on the model that answered (its usage read
        as the meter reads a reply's, :func:`~frugalflow.money.metering.booked_usage`; the
        prompt is not kept, so a result without usage counts only its reply)."""
        usage = booked_usage(batch.address, (), completion, counted_prompt=TokenCount(0, False))
        answering = self.catalog.answering_model(batch.address, completion.answered_model)
        return self.catalog.price_batch(answering, usage)

    def settle(self, batch: BatchRecord, completion: Completion) -> ModelCall:
        """Book a running batch's result at the batch rate, settle its reservation and mark it
        ``settled``, atomically. A batch already settled is left alone (a second poller).

        Returns:
            The call as booked (or as it was booked before).

        Raises:
            PricingError: the model has no price (nothing is changed).
        """
        priced = self.price(batch, completion)
        fields: dict[str, Any] = priced.ledger_fields()
        if not completion.usage_reported:
            # No usage in the result: never $0; the reservation is the most it could cost.
            reserved = self._reserved(batch.reservation_id)
            fields["actual_cost_usd"] = max(priced.cost_usd, reserved)
        call = ModelCall(
            request_id=batch.request_id,
            project=batch.project,
            flow_run_id=batch.flow_run_id,
            step="generate",
            provider=batch.provider,
            model=batch.model,
            tier=batch.address.tier,
            task_type=batch.task_type,
            price_catalog=f"{self.catalog.version} batch",
            reservation_id=batch.reservation_id,
            answered_model=answered_elsewhere(batch.address, completion.answered_model),
            **fields,
        )
        now = datetime.now(UTC)
        with self.ledger.transaction() as con:
            if not _running(con, batch.batch_id):
                return call
            insert_calls(con, [call])
            if batch.reservation_id is not None:
                con.execute(
                    "UPDATE reservations SET state = 'settled', settled_at = ? "
                    "WHERE reservation_id = ? AND state <> 'settled'",
                    [now, batch.reservation_id],
                )
            con.execute(
                "UPDATE batches SET state = 'settled', updated_at = ? WHERE batch_id = ?",
                [now, batch.batch_id],
            )
        return call

    def close(self, batch: BatchRecord, state: BatchBookState, error: str) -> None:
        """A batch that ended without a result for its request: release its reservation and
        record why, atomically. A batch no longer running is left alone."""
        if state not in CLOSED_STATES:
            raise ValueError(f"a batch closes as one of {CLOSED_STATES}, not {state!r}")
        now = datetime.now(UTC)
        with self.ledger.transaction() as con:
            if not _running(con, batch.batch_id):
                return
            if batch.reservation_id is not None:
                con.execute(
                    "UPDATE reservations SET state = 'released' "
                    "WHERE reservation_id = ? AND state = 'active'",
                    [batch.reservation_id],
                )
            con.execute(
                "UPDATE batches SET state = ?, updated_at = ?, error = ? WHERE batch_id = ?",
                [state, now, error[:500], batch.batch_id],
            )

    def _reserved(self, reservation_id: str | None) -> Decimal:
        if reservation_id is None:
            return Decimal(0)
        rows = self.ledger.query(
            "SELECT amount_usd FROM reservations WHERE reservation_id = ?", [reservation_id]
        )
        return Decimal(rows[0][0]) if rows else Decimal(0)

    def _select(self, where: str, params: list[Any]) -> list[BatchRecord]:
        rows = self.ledger.query(f"SELECT {', '.join(_COLUMNS)} FROM batches {where}", params)
        return [BatchRecord(**dict(zip(_COLUMNS, row, strict=True))) for row in rows]

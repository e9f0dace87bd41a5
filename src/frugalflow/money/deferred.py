"""Requests the budget could not pay for, kept in the ledger until they can run.

A request is never silently dropped: nothing here deletes a row. A deferred request is
``pending`` until its ``retry_at``; whoever runs it again marks it ``resubmitted`` (with the flow
run that took it) or ``done`` with its ``outcome`` (it ran; it failed and why, for instance
because it can never fit a budget; or it was dropped by hand, and why). A request deferred once
more is added again as a new pending row, so each row is one deferral and the history of a
request stays readable.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, field_validator

from frugalflow.core.schemas import CodeRequest
from frugalflow.money.ledger import CostLedger

DeferredState = Literal["pending", "resubmitted", "done"]

_COLUMNS = (
    "deferred_id, request_json, reason, deferred_at, retry_at, state, attempts, "
    "last_flow_run_id, outcome, flow_run_id"
)


class DeferredRequest(BaseModel):
    """One deferral of one request.

    Attributes:
        deferred_id: the row's id.
        request: the request as it was submitted.
        reason: why it was deferred (the budget message).
        deferred_at: when it was deferred.
        retry_at: when it may run again.
        state: ``pending``, ``resubmitted`` or ``done``.
        attempts: how many times it was resubmitted.
        last_flow_run_id: the flow run that last took it, if any.
        outcome: why it left the queue (``done`` rows), e.g. ``failed: ...``, ``dropped: ...``.
        flow_run_id: the flow run that deferred it (None for rows from before schema 5, and
            outside Prefect).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    deferred_id: str
    request: CodeRequest
    reason: str
    deferred_at: AwareDatetime
    retry_at: AwareDatetime
    state: DeferredState
    attempts: int
    last_flow_run_id: str | None = None
    outcome: str | None = None
    flow_run_id: str | None = None

    @field_validator("deferred_at", "retry_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


class DeferredStore:
    """The deferred requests of one ledger.

    Attributes:
        ledger: where they are stored.
    """

    def __init__(self, ledger: CostLedger) -> None:
        self.ledger = ledger

    def add(
        self,
        request: CodeRequest,
        *,
        reason: str,
        retry_at: datetime,
        flow_run_id: str | None = None,
    ) -> str:
        """Store a request to run again at ``retry_at``.

        Args:
            request: the request, stored as JSON.
            reason: why it cannot run now.
            retry_at: the earliest time to run it again; timezone-aware.
            flow_run_id: the flow run that deferred it, if any.

        Returns:
            The new row's ``deferred_id``.

        Raises:
            ValueError: ``retry_at`` is naive.
            LedgerError: the ledger cannot be written.
        """
        if retry_at.tzinfo is None or retry_at.utcoffset() is None:
            raise ValueError(f"retry_at must be timezone-aware, got {retry_at.isoformat()}")
        deferred_id = uuid.uuid4().hex
        with self.ledger.transaction() as con:
            con.execute(
                "INSERT INTO deferred_requests VALUES "
                "(?, ?, ?, ?, ?, ?, ?, 'pending', 0, NULL, NULL, ?)",
                [
                    deferred_id,
                    request.request_id,
                    request.project_name,
                    request.model_dump_json(),
                    reason,
                    datetime.now(UTC),
                    retry_at.astimezone(UTC),
                    flow_run_id,
                ],
            )
        return deferred_id

    def due(self, now: datetime) -> list[DeferredRequest]:
        """Pending requests whose ``retry_at`` has come, oldest deferral first.

        Raises:
            ValueError: ``now`` is naive.
        """
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError(f"now must be timezone-aware, got {now.isoformat()}")
        return self._select("state = 'pending' AND retry_at <= ?", [now.astimezone(UTC)])

    def pending(self) -> list[DeferredRequest]:
        """Every pending request, due or not, oldest deferral first."""
        return self._select("state = 'pending'", [])

    def all(self) -> list[DeferredRequest]:
        """Every row whatever its state, oldest deferral first."""
        return self._select("true", [])

    def mark_resubmitted(self, deferred_id: str, flow_run_id: str) -> None:
        """Record that a flow run took the request; counts an attempt.

        Raises:
            KeyError: no deferred request has this id.
        """
        self._update(
            deferred_id,
            "state = 'resubmitted', attempts = attempts + 1, last_flow_run_id = ?",
            [flow_run_id],
        )

    def mark_done(self, deferred_id: str, outcome: str | None = None) -> None:
        """Record that the request left the queue, and why.

        Args:
            deferred_id: the row.
            outcome: what happened (``completed: ...``, ``failed: <reason>``).

        Raises:
            KeyError: no deferred request has this id.
        """
        self._update(deferred_id, "state = 'done', outcome = ?", [outcome])

    def drop(self, deferred_id: str, reason: str) -> None:
        """Take a pending request out of the queue without running it; the reason is kept.

        Raises:
            KeyError: no pending request has this id.
        """
        self._update(
            deferred_id, "state = 'done', outcome = ?", [f"dropped: {reason}"], pending_only=True
        )

    def find(self, wanted: str) -> list[DeferredRequest]:
        """The pending rows a user means by ``wanted``: a deferred id, a unique prefix of one
        (at least 6 characters), or a request id."""
        pending = self.pending()
        exact = [d for d in pending if wanted in (d.deferred_id, d.request.request_id)]
        if exact or len(wanted) < 6:
            return exact
        prefixed = [d for d in pending if d.deferred_id.startswith(wanted)]
        return prefixed if len(prefixed) == 1 else []

    def _update(
        self, deferred_id: str, assignments: str, params: list[Any], *, pending_only: bool = False
    ) -> None:
        only = " AND state = 'pending'" if pending_only else ""
        with self.ledger.transaction() as con:
            changed = con.execute(
                f"UPDATE deferred_requests SET {assignments} WHERE deferred_id = ?{only} "
                "RETURNING deferred_id",
                [*params, deferred_id],
            ).fetchall()
        if not changed:
            which = "pending request" if pending_only else "deferred request"
            raise KeyError(f"no {which} has id {deferred_id!r}")

    def _select(self, condition: str, params: list[Any]) -> list[DeferredRequest]:
        rows = self.ledger.query(
            f"SELECT {_COLUMNS} FROM deferred_requests WHERE {condition} "
            "ORDER BY deferred_at, deferred_id",
            params,
        )
        return [
            DeferredRequest(
                deferred_id=row[0],
                request=CodeRequest.model_validate_json(row[1]),
                reason=row[2],
                deferred_at=row[3],
                retry_at=row[4],
                state=row[5],
                attempts=row[6],
                last_flow_run_id=row[7],
                outcome=row[8],
                flow_run_id=row[9],
            )
            for row in rows
        ]

"""The performance history: one row per generation attempt and its validation verdict.

Routing learns from it (:mod:`frugalflow.routing.learning`): per model, task type, language and
complexity class, how many attempts passed validation, at what cost and latency. It lives in
the ledger's ``attempt_outcomes`` table (schema version 4), so there is nothing to reset and
nothing kept elsewhere; the ledger owns the file and its locking, and this module uses it only
through :meth:`CostLedger.transaction` and :meth:`CostLedger.query`.

A repeated attempt (the model returned code an earlier attempt of the request had already
validated, so it was not validated again) is counted as an attempt with the verdict it got,
which is a failure: it spent a call and brought nothing new. :class:`PerformanceRow` also
counts them apart, for whoever wants to leave them out.

Unlike a model call, an outcome is not journaled when the ledger cannot be written: it carries
no money, and losing one only makes routing learn a little slower. :func:`record_outcome`
raises, and the caller decides whether to go on.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, NamedTuple

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from frugalflow.core.redaction import redact
from frugalflow.core.schemas import Complexity, RoutingDecision, TaskType
from frugalflow.money.ledger import CostLedger

_LEDGER_PRECISION = Decimal("1e-8")  # DECIMAL(18,8)


class AttemptOutcome(BaseModel):
    """One generation attempt and its validation verdict, as stored in ``attempt_outcomes``.

    Attributes:
        outcome_id: the row's id; recording the same id twice stores it once.
        ts: when the attempt ended; timezone-aware, stored in UTC.
        request_id: the request it was made for.
        flow_run_id: the flow run that made it, if any.
        project: the project its cost is booked under.
        attempt: the attempt number, from 1.
        model: the model's address (``provider:model``).
        task_type: the request's task type.
        language: the language of the code, lower case.
        complexity: the request's complexity class.
        passed: whether the attempt's code passed validation.
        repeated: the model returned code already validated for this request.
        cost_usd: what the attempt's model calls cost, rounded to 8 decimal places.
        latency_ms: how long the attempt's generation took.
        rule: the routing policy's rule that admitted the model, if any.
        decision_json: the attempt's :class:`RoutingDecision` as JSON, for ``frugalflow
            explain``; secrets redacted.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    outcome_id: str = Field(default_factory=lambda: uuid.uuid4().hex, min_length=1)
    ts: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    request_id: str = Field(min_length=1)
    flow_run_id: str | None = None
    project: str
    attempt: int = Field(ge=1)
    model: str = Field(min_length=1)
    task_type: TaskType
    language: str = Field(min_length=1)
    complexity: Complexity
    passed: bool
    repeated: bool = False
    cost_usd: Decimal = Field(default=Decimal(0), ge=0, lt=Decimal("1e10"))
    latency_ms: int = Field(default=0, ge=0)
    rule: str | None = None
    decision_json: str | None = None

    @field_validator("ts")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @field_validator("language")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()

    @field_validator("cost_usd")
    @classmethod
    def _to_ledger_precision(cls, value: Decimal) -> Decimal:
        return value.quantize(_LEDGER_PRECISION, rounding=ROUND_HALF_EVEN)

    @field_validator("rule", "decision_json")
    @classmethod
    def _without_secrets(cls, value: str | None) -> str | None:
        # A decision's reason quotes provider errors (failover), which may echo a key.
        return None if value is None else redact(value)

    @classmethod
    def from_decision(cls, decision: RoutingDecision, **fields: Any) -> AttemptOutcome:
        """The outcome of the attempt ``decision`` routed: its attempt, model, rule and JSON.

        Args:
            decision: the routing decision of the attempt.
            **fields: the other fields (``request_id``, ``project``, ``task_type``,
                ``language``, ``complexity``, ``passed``...).

        Raises:
            pydantic.ValidationError: a field is missing or invalid.
        """
        return cls(
            attempt=decision.attempt,
            model=decision.model,
            rule=decision.rule,
            decision_json=decision.model_dump_json(),
            **fields,
        )

    @property
    def decision(self) -> RoutingDecision | None:
        """The stored routing decision, or None when none was recorded."""
        if self.decision_json is None:
            return None
        return RoutingDecision.model_validate_json(self.decision_json)


class PerformanceRow(NamedTuple):
    """How one model did on one class of tasks (see :func:`performance`).

    Attributes:
        model: the model's address.
        task_type: the task type.
        language: the language.
        complexity: the complexity class.
        attempts: attempts recorded, repeated ones included.
        successes: attempts that passed validation.
        repeats: attempts that repeated code already validated.
        mean_latency_ms: their mean latency.
        mean_cost_usd: their mean cost, rounded to 8 decimal places.
    """

    model: str
    task_type: TaskType
    language: str
    complexity: Complexity
    attempts: int
    successes: int
    repeats: int
    mean_latency_ms: float
    mean_cost_usd: Decimal


_COLUMNS = tuple(AttemptOutcome.model_fields)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM attempt_outcomes"
_INSERT = (
    f"INSERT INTO attempt_outcomes ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_COLUMNS))}) "
    "ON CONFLICT (outcome_id) DO NOTHING RETURNING outcome_id"
)


def record_outcome(ledger: CostLedger, outcome: AttemptOutcome) -> bool:
    """Store one attempt's outcome in the ledger, once.

    Args:
        ledger: the cost ledger.
        outcome: the outcome.

    Returns:
        True when it was stored, False when a row with its ``outcome_id`` was already there.

    Raises:
        LedgerError: the ledger cannot be written (the outcome is not kept elsewhere).
    """
    values = [_column_value(getattr(outcome, column)) for column in _COLUMNS]
    with ledger.transaction() as con:
        stored = con.execute(_INSERT, values).fetchall()
    return bool(stored)


def performance(
    ledger: CostLedger,
    *,
    task_type: TaskType | None = None,
    language: str | None = None,
    complexity: Complexity | None = None,
) -> list[PerformanceRow]:
    """Attempts, successes, mean latency and mean cost per model and class of tasks.

    Args:
        ledger: the cost ledger.
        task_type: only this task type, when given.
        language: only this language (any case), when given.
        complexity: only this complexity class, when given.

    Returns:
        One row per (model, task type, language, complexity) with at least one attempt,
        sorted by those; empty when the ledger does not exist.

    Raises:
        LedgerError: the ledger cannot be read.
    """
    conditions: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("task_type", task_type),
        ("language", None if language is None else language.strip().lower()),
        ("complexity", complexity),
    ):
        if value is not None:
            conditions.append(f"{column} = ?")
            params.append(str(value))
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    # The cost is summed exactly in SQL and divided here: DuckDB's avg() of a DECIMAL is a DOUBLE.
    rows = ledger.query(
        "SELECT model, task_type, language, complexity, count(*), "
        "count(*) FILTER (WHERE passed), count(*) FILTER (WHERE repeated), "
        "avg(latency_ms), sum(cost_usd) "
        f"FROM attempt_outcomes {where} "
        "GROUP BY model, task_type, language, complexity "
        "ORDER BY model, task_type, language, complexity",
        params,
    )
    return [
        PerformanceRow(
            model=model,
            task_type=TaskType(kind),
            language=lang,
            complexity=Complexity(size),
            attempts=int(attempts),
            successes=int(successes),
            repeats=int(repeats),
            mean_latency_ms=float(latency),
            mean_cost_usd=(Decimal(total) / int(attempts)).quantize(
                _LEDGER_PRECISION, rounding=ROUND_HALF_EVEN
            ),
        )
        for model, kind, lang, size, attempts, successes, repeats, latency, total in rows
    ]


def outcomes_for_request(ledger: CostLedger, request_id: str) -> list[AttemptOutcome]:
    """Every recorded attempt of one request, by attempt number (then time).

    Raises:
        LedgerError: the ledger cannot be read.
    """
    rows = ledger.query(
        f"{_SELECT} WHERE request_id = ? ORDER BY attempt, ts, outcome_id", [request_id]
    )
    return [AttemptOutcome(**dict(zip(_COLUMNS, row, strict=True))) for row in rows]


def _column_value(value: object) -> object:
    """What DuckDB stores for a field: the enums by their value."""
    return str(value) if isinstance(value, (TaskType, Complexity)) else value

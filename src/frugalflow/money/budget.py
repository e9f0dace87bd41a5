"""Budget windows and reservations: money is set aside before a paid call, atomically.

Checking "spent < limit" and then calling a model lets concurrent runs all see the same money
left and together spend several times the budget. So a run first *reserves* its call's worst
case: inside one exclusive ledger transaction (see :meth:`CostLedger.transaction`, which
serialises threads and processes), the spend and live reservations of every window the call
falls in are summed, and the reservation is stored only if it fits all of them. When the call
ends, :meth:`BudgetManager.settle` writes the priced call and retires the reservation in one
transaction, so the money moves from "reserved" to "spent" without ever being counted twice or
not at all. A failed call gives its reservation back with :meth:`BudgetManager.release`.

Spend can pass a limit in two ways only. A run that crashes never settles, so its reservation
stops counting once ``reservation_ttl_seconds`` have passed; a run that looked crashed but comes
back after its TTL still records what it spent (a cost record is never lost), on top of money
reserved by others meanwhile. And a call that costs more than was reserved for it (a wrong
worst-case estimate) is recorded in full, with a warning.

Windows need no reset job: each one is a time range in ``settings.timezone`` summed from the
ledger when asked.

Somewhat over 400 lines, on purpose: the windows and the reservations are one decision (a
reservation fits only if it fits every window, measured in the same transaction), and the
emergency-mode rule (:func:`in_emergency`) belongs with them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, computed_field, field_validator

from frugalflow.core.errors import BudgetExceededError, ConfigurationError
from frugalflow.core.settings import Settings
from frugalflow.money.ledger import CostLedger, ModelCall, insert_calls

_LEDGER_PRECISION = Decimal("1e-8")

logger = logging.getLogger("frugalflow.budget")  # named as before the folders

ReservationState = Literal["active", "settled", "released"]


def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigurationError(
            f"timezone {timezone!r} is not an IANA zone name such as 'Europe/Paris' or 'UTC'"
        ) from exc


def day_window(now: datetime, timezone: str) -> tuple[datetime, datetime]:
    """The budget day containing ``now``: local midnight to the next local midnight.

    Raises:
        ConfigurationError: the timezone is not an IANA zone name.
    """
    local = now.astimezone(_zone(timezone))
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    # Arithmetic on zoneinfo datetimes is wall-clock: a DST day comes out 23 or 25 hours long.
    return start, start + timedelta(days=1)


def month_window(now: datetime, timezone: str) -> tuple[datetime, datetime]:
    """The calendar month containing ``now`` in ``timezone``: the 1st at midnight to the next 1st.

    Raises:
        ConfigurationError: the timezone is not an IANA zone name.
    """
    local = now.astimezone(_zone(timezone))
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if start.month == 12:
        return start, start.replace(year=start.year + 1, month=1)
    return start, start.replace(month=start.month + 1)


def _aware_now() -> datetime:
    return datetime.now(UTC)


class BudgetWindow(BaseModel):
    """One budget limit over one time range, with what is spent and reserved in it now.

    Attributes:
        key: names the window and its period, e.g. ``daily:2026-11-28``, ``monthly:2026-11``,
            ``project:textkit:2026-11-28``; a new period is a new key.
        start: the window's first instant (inclusive).
        end: the window's end (exclusive); when its money is available again.
        limit_usd: the budget of the window.
        spent_usd: the recorded cost of the calls made in the window.
        reserved_usd: live reservations (active and not expired) that this window covers.
        project: the project a per-project window limits; None for the global windows.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    start: AwareDatetime
    end: AwareDatetime
    limit_usd: Decimal
    spent_usd: Decimal
    reserved_usd: Decimal
    project: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def remaining_usd(self) -> Decimal:
        """What can still be reserved: ``max(limit - spent - reserved, 0)``."""
        return max(self.limit_usd - self.spent_usd - self.reserved_usd, Decimal(0))


class Reservation(BaseModel):
    """Money set aside for one paid call until it is settled or released.

    A reservation of $0 (a free tier) is never stored: settling it only records the call.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    reservation_id: str
    request_id: str
    project: str
    model: str
    amount_usd: Decimal
    created_at: AwareDatetime
    expires_at: AwareDatetime
    state: ReservationState = "active"

    @field_validator("created_at", "expires_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


class _WindowSpec(NamedTuple):
    key: str
    start: datetime
    end: datetime
    limit_usd: Decimal
    project: str | None


# Spend and live reservations of one window. The project filter is optional: ``? IS NULL``.
_WINDOW_TOTALS = """SELECT ? AS position,
    (SELECT coalesce(sum(actual_cost_usd), 0) FROM model_calls
        WHERE ts >= ? AND ts < ? AND (CAST(? AS VARCHAR) IS NULL OR project = ?)),
    (SELECT coalesce(sum(amount_usd), 0) FROM reservations
        WHERE state = 'active' AND expires_at > ? AND (CAST(? AS VARCHAR) IS NULL OR project = ?))"""
_RELEASE_EXPIRED = (
    "UPDATE reservations SET state = 'released' WHERE state = 'active' AND expires_at <= ? "
    "RETURNING reservation_id"
)


class BudgetManager:
    """The budget windows of one ledger, and the reservations that keep spend inside them.

    Safe to use from many threads and processes at once: every decision is made inside one
    ledger transaction.

    Attributes:
        ledger: where spend and reservations are stored.
        settings: the limits, the timezone and the reservation TTL.
    """

    def __init__(
        self,
        ledger: CostLedger,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = _aware_now,
    ) -> None:
        self.ledger = ledger
        self.settings = settings
        self._clock = clock

    def now(self) -> datetime:
        """The manager's clock (injectable for tests), as aware UTC.

        Raises:
            ValueError: the clock returned a naive datetime.
        """
        moment = self._clock()
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"the budget clock must be timezone-aware, got {moment.isoformat()}")
        return moment.astimezone(UTC)

    def windows(self, project: str | None = None) -> list[BudgetWindow]:
        """The windows a call for ``project`` must fit, with current spend and reservations.

        In this order (callers rely on it): the daily window, always; the monthly one when
        ``monthly_budget_usd`` is set; the project's daily window when ``project_budgets_usd``
        names the project.

        Raises:
            ConfigurationError: the timezone is not an IANA zone name.
            LedgerError: the ledger cannot be read.
        """
        now = self.now()
        specs = self._specs(now, project)
        sql, params = _totals_query(specs, now)
        return _measured(specs, self.ledger.query(sql, params))

    def status(self, project: str | None = None) -> list[BudgetWindow]:
        """The windows, for display; the same as :meth:`windows`."""
        return self.windows(project)

    def is_emergency(self, project: str | None = None) -> bool:
        """Whether a window of ``project`` is in emergency mode (see :func:`in_emergency`)."""
        return windows_in_emergency(self.windows(project), self.settings)

    def reserve(
        self,
        *,
        request_id: str,
        project: str,
        model: str,
        amount_usd: Decimal,
        ttl: timedelta | None = None,
    ) -> Reservation:
        """Set ``amount_usd`` aside for one call, if it fits every window of ``project``.

        Args:
            request_id: the request the call is for.
            project: the project the cost is booked under.
            model: the ``provider:model`` address, for the record.
            amount_usd: the call's worst-case cost; rounded up to the ledger's precision.
            ttl: how long the reservation counts unless settled or released;
                ``reservation_ttl_seconds`` when None (a batch holds its reservation for the
                vendor's whole batch window, :data:`frugalflow.money.batches.BATCH_RESERVATION_TTL`).

        Returns:
            The reservation, to :meth:`settle` or :meth:`release`. A $0 amount always succeeds
            and stores nothing, so free tiers never wait for the ledger.

        Raises:
            BudgetExceededError: the amount does not fit a window. ``remaining_usd`` is the
                least left in any window; ``retry_at`` is the end of the latest-ending window
                that is short (money may free up sooner, as reservations are released), or None
                when the amount exceeds a window's whole limit and so will never fit.
            ValueError: the amount is negative.
            LedgerError: the ledger cannot be used.
        """
        amount = Decimal(amount_usd).quantize(_LEDGER_PRECISION, rounding=ROUND_CEILING)
        if amount < 0:
            raise ValueError(f"cannot reserve a negative amount (${amount})")
        now = self.now()
        reservation = Reservation(
            reservation_id=uuid.uuid4().hex,
            request_id=request_id,
            project=project,
            model=model,
            amount_usd=amount,
            created_at=now,
            expires_at=now + (ttl or timedelta(seconds=self.settings.reservation_ttl_seconds)),
        )
        if amount == 0:
            return reservation
        specs = self._specs(now, project)
        sql, params = _totals_query(specs, now)
        with self.ledger.transaction() as con:
            con.execute(_RELEASE_EXPIRED, [now]).fetchall()
            windows = _measured(specs, con.execute(sql, params).fetchall())
            short = [window for window in windows if amount > window.remaining_usd]
            if short:
                raise _exceeded(reservation, windows, short)
            con.execute(
                "INSERT INTO reservations VALUES (?, ?, ?, ?, ?, ?, ?, 'active', NULL)",
                [
                    reservation.reservation_id,
                    request_id,
                    project,
                    model,
                    amount,
                    reservation.created_at,
                    reservation.expires_at,
                ],
            )
        return reservation

    def settle(self, reservation: Reservation | str, call: ModelCall) -> None:
        """Record the call a reservation was for and retire the reservation, atomically.

        A reservation that was released or had expired is settled all the same: the money was
        spent, and a cost record is never dropped (see the module docstring for what this does
        to the limit).

        Args:
            reservation: the reservation, or its id.
            call: the priced call; it is stored with ``reservation_id`` set.

        Raises:
            LedgerError: the ledger cannot be written; neither change is made.
        """
        reservation_id = _reservation_id(reservation)
        if isinstance(reservation, Reservation) and call.actual_cost_usd > reservation.amount_usd:
            # Spend can then pass a limit: the worst-case estimate that was reserved is wrong.
            logger.warning(
                "call %s cost %s, more than the %s reserved for it: its estimate is too low",
                call.call_id,
                usd(call.actual_cost_usd),
                usd(reservation.amount_usd),
            )
        recorded = call.model_copy(update={"reservation_id": reservation_id})
        now = self.now()
        with self.ledger.transaction() as con:
            insert_calls(con, [recorded])
            con.execute(
                "UPDATE reservations SET state = 'settled', settled_at = ? "
                "WHERE reservation_id = ? AND state <> 'settled'",
                [now, reservation_id],
            )

    def release(self, reservation: Reservation | str) -> None:
        """Give a reservation's money back (the call failed before costing anything).

        Idempotent; a settled reservation stays settled.

        Raises:
            LedgerError: the ledger cannot be written.
        """
        if isinstance(reservation, Reservation) and reservation.amount_usd == 0:
            return  # never stored
        with self.ledger.transaction() as con:
            con.execute(
                "UPDATE reservations SET state = 'released' "
                "WHERE reservation_id = ? AND state = 'active'",
                [_reservation_id(reservation)],
            )

    def expire_stale(self) -> int:
        """Release the reservations whose TTL has passed (their runs presumably crashed).

        They already stop counting at ``expires_at``; this records it.

        Returns:
            How many reservations were released.
        """
        with self.ledger.transaction() as con:
            return len(con.execute(_RELEASE_EXPIRED, [self.now()]).fetchall())

    def reservations(self, *, state: ReservationState | None = None) -> list[Reservation]:
        """Stored reservations, oldest first; only those in ``state`` when given."""
        sql = (
            "SELECT reservation_id, request_id, project, model, amount_usd, created_at, "
            "expires_at, state FROM reservations"
        )
        params: list[Any] = []
        if state is not None:
            sql += " WHERE state = ?"
            params.append(state)
        rows = self.ledger.query(f"{sql} ORDER BY created_at, reservation_id", params)
        fields = tuple(Reservation.model_fields)
        return [Reservation(**dict(zip(fields, row, strict=True))) for row in rows]

    def _specs(self, now: datetime, project: str | None) -> list[_WindowSpec]:
        settings = self.settings
        start, end = day_window(now, settings.timezone)
        day = start.date().isoformat()
        specs = [_WindowSpec(f"daily:{day}", start, end, settings.daily_budget_usd, None)]
        if settings.monthly_budget_usd is not None:
            start_m, end_m = month_window(now, settings.timezone)
            month = f"{start_m.year:04d}-{start_m.month:02d}"
            specs.append(
                _WindowSpec(f"monthly:{month}", start_m, end_m, settings.monthly_budget_usd, None)
            )
        if project is not None and project in settings.project_budgets_usd:
            limit = settings.project_budgets_usd[project]
            specs.append(_WindowSpec(f"project:{project}:{day}", start, end, limit, project))
        return specs


def in_emergency(remaining_usd: Decimal, settings: Settings) -> bool:
    """The emergency-mode rule: with less than ``emergency_threshold_usd`` left in a budget
    window, only free tiers run until it resets.

    Args:
        remaining_usd: what is left in the window (or the most that can ever be: its limit).
        settings: the threshold.
    """
    return remaining_usd < settings.emergency_threshold_usd


def windows_in_emergency(windows: Sequence[BudgetWindow], settings: Settings) -> bool:
    """Whether any of the windows is in emergency mode (see :func:`in_emergency`)."""
    return any(in_emergency(window.remaining_usd, settings) for window in windows)


def usd(amount: Decimal) -> str:
    """Money for people: ``$0.50``, ``$0.00012345`` (at least cents, no trailing zeros)."""
    whole, _, fraction = format(amount.normalize(), "f").partition(".")
    return f"${whole}.{fraction.ljust(2, '0')}"


def money_left(amount: Decimal) -> str:
    """Money left, for people: to the cent and rounded down (``$0.43``, never ``$0.4`` or
    ``$0.430000``), so that a message never promises a cent that is not there."""
    return f"${Decimal(amount).quantize(Decimal('0.01'), rounding=ROUND_FLOOR)}"


def _reservation_id(reservation: Reservation | str) -> str:
    return reservation if isinstance(reservation, str) else reservation.reservation_id


def _totals_query(specs: Sequence[_WindowSpec], now: datetime) -> tuple[str, list[Any]]:
    """One statement that measures every window, so a read opens the ledger once."""
    params: list[Any] = []
    for position, spec in enumerate(specs):
        params += [position, spec.start, spec.end, spec.project, spec.project]
        params += [now, spec.project, spec.project]
    return " UNION ALL ".join([_WINDOW_TOTALS] * len(specs)) + " ORDER BY position", params


def _measured(specs: Sequence[_WindowSpec], rows: Sequence[tuple[Any, ...]]) -> list[BudgetWindow]:
    totals = {int(row[0]): (Decimal(row[1]), Decimal(row[2])) for row in rows}
    return [
        BudgetWindow(
            key=spec.key,
            start=spec.start,
            end=spec.end,
            limit_usd=spec.limit_usd,
            spent_usd=totals.get(position, (Decimal(0), Decimal(0)))[0],
            reserved_usd=totals.get(position, (Decimal(0), Decimal(0)))[1],
            project=spec.project,
        )
        for position, spec in enumerate(specs)
    ]


def _exceeded(
    reservation: Reservation, windows: Sequence[BudgetWindow], short: Sequence[BudgetWindow]
) -> BudgetExceededError:
    too_small = [window for window in short if reservation.amount_usd > window.limit_usd]
    never_fits = bool(too_small)
    binding = too_small[0] if too_small else max(short, key=lambda window: window.end)
    remaining = min(window.remaining_usd for window in windows)
    when = (
        f"it exceeds the whole {usd(binding.limit_usd)} limit and will never fit"
        if never_fits
        else f"retry after {binding.end.isoformat()}, when the window ends"
    )
    return BudgetExceededError(
        f"{usd(reservation.amount_usd)} for {reservation.model} (request "
        f"{reservation.request_id}) does not fit the {binding.key} budget: "
        f"{money_left(binding.remaining_usd)} of {usd(binding.limit_usd)} left ({usd(binding.spent_usd)} "
        f"spent, {usd(binding.reserved_usd)} reserved); {when}",
        remaining_usd=remaining,
        retry_at=None if never_fits else binding.end,
    )

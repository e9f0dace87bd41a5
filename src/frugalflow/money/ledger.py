"""The cost ledger: every model call frugalflow makes, priced, in one DuckDB file.

Budgets and reports read it; money is ``Decimal`` (``DECIMAL(18,8)``), timestamps are aware UTC.
This module owns the file (schema, migrations, locking) and the model-call table; the other
tables belong to :mod:`frugalflow.money.budget`, :mod:`frugalflow.money.deferred`, :mod:`frugalflow.money.alerts`,
:mod:`frugalflow.money.outcomes` and :mod:`frugalflow.money.batches`, which use them through :meth:`CostLedger.transaction` and :meth:`CostLedger.query`.

Locking: DuckDB lets only one process at a time open a database file for writing; a second one
fails with "Could not set lock on file". Retrying on that error was measured to lose writes, so
every operation instead holds a cross-process ``fcntl.flock`` on a side file ``<ledger>.lock``
(exclusive for writes, shared for reads), attaches the file to the thread's in-memory DuckDB
inside the lock and detaches it (which checkpoints and closes it) before releasing. A new
lock-file descriptor is opened per operation: flock locks belong to the open file description,
so this serialises the threads of one process too. The lock is taken
by polling with a timeout, and a lock still held when it expires is reported as a LedgerError.
A process that dies releases its flock, so a stale lock file never blocks anyone.

Journal: a call a provider completed is never lost because the ledger could not be written
(locked past the timeout, on a read-only disk, a directory in its place). What cannot be
written is appended, ``fsync``'d, to a journal (:mod:`frugalflow.money.journal`): one JSON line per
call, the same fields as the ledger's row, so no prompt and never a key. The journal is
``<ledger>.journal.jsonl`` beside the ledger, or, when that directory is the unwritable part,
``$XDG_STATE_HOME/frugalflow/journals/`` (``~/.local/state/...``). Every session that opens the
ledger for writing first books what the journals hold, in its own transaction, and only then
removes their lines; rows are inserted ``ON CONFLICT (call_id) DO NOTHING``, so a crash between
the commit and the removal cannot book a call twice. Reads replay first too when a journal is
waiting, and :meth:`CostLedger.spend_between` and :meth:`CostLedger.calls_for_request` add the
calls still waiting (a ledger that can be read but not written). A reservation always writes
to the ledger, so no paid call starts while journaled spend is not yet in the ledger.

Why one module of over 400 lines: the schema, the migrations, the flock'd sessions and the
journal replay keep one invariant together (no write outside a locked session, no journaled
call booked twice or lost); split, each part would be correct only if read with the others.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, Literal, NamedTuple

import duckdb
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from frugalflow.core.errors import LedgerError
from frugalflow.core.redaction import redact
from frugalflow.core.schemas import Tier
from frugalflow.core.settings import user_state_dir
from frugalflow.money.journal import Journal

_CENT_FRACTION = Decimal("1e-8")  # DECIMAL(18,8): what the ledger stores
JOURNAL_SUFFIX = ".journal.jsonl"

logger = logging.getLogger("frugalflow.ledger")  # named as before the folders

# Migration N takes a ledger from schema version N-1 to N. Append only; never edit one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE model_calls (
            call_id VARCHAR PRIMARY KEY, ts TIMESTAMPTZ NOT NULL, flow_run_id VARCHAR,
            request_id VARCHAR NOT NULL, project VARCHAR NOT NULL, step VARCHAR NOT NULL,
            provider VARCHAR NOT NULL, model VARCHAR NOT NULL, tier VARCHAR NOT NULL,
            input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL,
            cached_tokens BIGINT NOT NULL, estimated_cost_usd DECIMAL(18, 8) NOT NULL,
            actual_cost_usd DECIMAL(18, 8) NOT NULL, latency_ms BIGINT NOT NULL,
            success BOOLEAN NOT NULL, cache_hit BOOLEAN NOT NULL, error VARCHAR,
            price_catalog VARCHAR NOT NULL)""",
        "CREATE INDEX model_calls_ts ON model_calls (ts)",
        "CREATE INDEX model_calls_request ON model_calls (request_id)",
    ),
    (
        # What the estimate expected, so that estimates can learn from history; which
        # reservation paid for the call. Nullable: calls written by schema 1 did not know.
        "ALTER TABLE model_calls ADD COLUMN task_type VARCHAR",
        "ALTER TABLE model_calls ADD COLUMN estimated_input_tokens BIGINT",
        "ALTER TABLE model_calls ADD COLUMN estimated_output_tokens BIGINT",
        "ALTER TABLE model_calls ADD COLUMN reservation_id VARCHAR",
        """CREATE TABLE reservations (
            reservation_id VARCHAR PRIMARY KEY, request_id VARCHAR NOT NULL,
            project VARCHAR NOT NULL, model VARCHAR NOT NULL,
            amount_usd DECIMAL(18, 8) NOT NULL CHECK (amount_usd >= 0),
            created_at TIMESTAMPTZ NOT NULL, expires_at TIMESTAMPTZ NOT NULL,
            state VARCHAR NOT NULL CHECK (state IN ('active', 'settled', 'released')),
            settled_at TIMESTAMPTZ)""",
        """CREATE TABLE deferred_requests (
            deferred_id VARCHAR PRIMARY KEY, request_id VARCHAR NOT NULL,
            project VARCHAR NOT NULL, request_json VARCHAR NOT NULL, reason VARCHAR NOT NULL,
            deferred_at TIMESTAMPTZ NOT NULL, retry_at TIMESTAMPTZ NOT NULL,
            state VARCHAR NOT NULL CHECK (state IN ('pending', 'resubmitted', 'done')),
            attempts INTEGER NOT NULL DEFAULT 0, last_flow_run_id VARCHAR)""",
        """CREATE TABLE alerts (
            window_key VARCHAR NOT NULL, threshold_percent INTEGER NOT NULL,
            fired_at TIMESTAMPTZ NOT NULL, spent_usd DECIMAL(18, 8) NOT NULL,
            limit_usd DECIMAL(18, 8) NOT NULL, PRIMARY KEY (window_key, threshold_percent))""",
    ),
    (
        # Why a deferred request left the queue (ran, failed, can never fit, dropped by hand).
        "ALTER TABLE deferred_requests ADD COLUMN outcome VARCHAR",
    ),
    (
        # One row per generation attempt and its validation verdict: the performance history
        # routing learns from (frugalflow.money.outcomes).
        """CREATE TABLE attempt_outcomes (
            outcome_id VARCHAR PRIMARY KEY, ts TIMESTAMPTZ NOT NULL, request_id VARCHAR NOT NULL,
            flow_run_id VARCHAR, project VARCHAR NOT NULL, attempt INTEGER NOT NULL,
            model VARCHAR NOT NULL, task_type VARCHAR NOT NULL, language VARCHAR NOT NULL,
            complexity VARCHAR NOT NULL, passed BOOLEAN NOT NULL, repeated BOOLEAN NOT NULL,
            cost_usd DECIMAL(18, 8) NOT NULL, latency_ms BIGINT NOT NULL, rule VARCHAR,
            decision_json VARCHAR)""",
        "CREATE INDEX attempt_outcomes_request ON attempt_outcomes (request_id)",
    ),
    (
        # The flow run that deferred a request, so that its re-run can link to it.
        "ALTER TABLE deferred_requests ADD COLUMN flow_run_id VARCHAR",
    ),
    (
        # Exact accounting (issue 14): each billed part of a call in its own column, the model
        # that answered, the rate each part was billed at, and the local machine's time as a
        # cost. Nullable: calls written by schema 5 did not know (their cache writes were
        # booked as plain input).
        "ALTER TABLE model_calls ADD COLUMN cache_write_tokens BIGINT",
        "ALTER TABLE model_calls ADD COLUMN cache_write_1h_tokens BIGINT",
        "ALTER TABLE model_calls ADD COLUMN reasoning_tokens BIGINT",
        "ALTER TABLE model_calls ADD COLUMN answered_model VARCHAR",
        "ALTER TABLE model_calls ADD COLUMN input_per_mtok DECIMAL(18, 8)",
        "ALTER TABLE model_calls ADD COLUMN cached_input_per_mtok DECIMAL(18, 8)",
        "ALTER TABLE model_calls ADD COLUMN cache_write_per_mtok DECIMAL(18, 8)",
        "ALTER TABLE model_calls ADD COLUMN cache_write_1h_per_mtok DECIMAL(18, 8)",
        "ALTER TABLE model_calls ADD COLUMN output_per_mtok DECIMAL(18, 8)",
        "ALTER TABLE model_calls ADD COLUMN price_tier_above_tokens BIGINT",
        "ALTER TABLE model_calls ADD COLUMN compute_cost_usd DECIMAL(18, 8)",
    ),
    (
        # The stable part of the prompt a call sent (a hash of the system text and the messages
        # before the request: one per repository state), so that an estimate can tell that the
        # vendor's prompt cache holds it (issue 14). Null: sent before schema 7, or no stable part.
        "ALTER TABLE model_calls ADD COLUMN prompt_cache_key VARCHAR",
    ),
    (
        # The batch tier (issue 14): each batch sent to a vendor's batch API, the reservation
        # that holds its worst case until it ends, and where it is, so that a restart loses
        # nothing (frugalflow.money.batches).
        """CREATE TABLE batches (
            batch_id VARCHAR PRIMARY KEY, provider VARCHAR NOT NULL, model VARCHAR NOT NULL,
            request_id VARCHAR NOT NULL, project VARCHAR NOT NULL, reservation_id VARCHAR,
            custom_id VARCHAR NOT NULL,
            state VARCHAR NOT NULL CHECK (state IN
                ('running', 'settled', 'failed', 'expired', 'cancelled')),
            submitted_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL,
            flow_run_id VARCHAR, task_type VARCHAR, request_json VARCHAR, error VARCHAR)""",
        "CREATE INDEX batches_state ON batches (state)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


ERROR_CHARS = 500  # of a failed call's error, as stored


class ModelCall(BaseModel):
    """One priced model call, as written to the ledger.

    Costs are rounded half-even to 8 decimal places, the precision the ledger stores; ``ts``
    must be timezone-aware and is converted to UTC. ``task_type``, the ``estimated_*_tokens``
    and ``reservation_id`` are None for calls recorded before schema version 2; the fields
    after them are None for calls recorded before schema version 6.

    Token counts are totals and parts of them, never overlapping as billed (see
    :class:`frugalflow.money.pricing.CallUsage`): ``input_tokens`` is the whole prompt, of
    which ``cached_tokens`` were read from the cache and ``cache_write_tokens`` written to it
    (``cache_write_1h_tokens`` of those for one hour); ``output_tokens`` is the whole reply, of
    which ``reasoning_tokens`` were thinking.

    Attributes:
        model: the model asked for (what routing, budgets and history go by).
        answered_model: the model the reply named when it was another (a snapshot, a
            fallback); the call was priced on it.
        input_per_mtok: the rate, USD per million tokens, that the uncached input was billed
            at; likewise ``cached_input_per_mtok`` (cache reads), ``cache_write_per_mtok``
            (5-minute writes), ``cache_write_1h_per_mtok`` and ``output_per_mtok``. None when
            nothing was priced (a failed call, a cache hit).
        price_tier_above_tokens: the long-context tier whose rates applied (its threshold);
            None for the base rates.
        compute_cost_usd: the local machine's wall time at ``local_cost_usd_per_hour`` (local
            tier only); not in ``actual_cost_usd``, which budgets count.
        prompt_cache_key: the stable part of the prompt sent
            (:func:`frugalflow.money.estimation.stable_part_key`); None before schema 7 or
            for a prompt that is the request alone.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    call_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    ts: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    flow_run_id: str | None = None
    request_id: str
    project: str
    step: str
    provider: str
    model: str
    tier: Tier
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cached_tokens: int = Field(default=0, ge=0)
    estimated_cost_usd: Decimal = Field(default=Decimal(0), ge=0, lt=Decimal("1e10"))
    actual_cost_usd: Decimal = Field(default=Decimal(0), ge=0, lt=Decimal("1e10"))
    latency_ms: int = Field(default=0, ge=0)
    success: bool = True
    cache_hit: bool = False
    error: str | None = None
    price_catalog: str = ""
    task_type: str | None = None
    estimated_input_tokens: int | None = Field(default=None, ge=0)
    estimated_output_tokens: int | None = Field(default=None, ge=0)
    reservation_id: str | None = None
    cache_write_tokens: int | None = Field(default=0, ge=0)
    cache_write_1h_tokens: int | None = Field(default=0, ge=0)
    reasoning_tokens: int | None = Field(default=0, ge=0)
    answered_model: str | None = None
    input_per_mtok: Decimal | None = Field(default=None, ge=0)
    cached_input_per_mtok: Decimal | None = Field(default=None, ge=0)
    cache_write_per_mtok: Decimal | None = Field(default=None, ge=0)
    cache_write_1h_per_mtok: Decimal | None = Field(default=None, ge=0)
    output_per_mtok: Decimal | None = Field(default=None, ge=0)
    price_tier_above_tokens: int | None = Field(default=None, ge=0)
    compute_cost_usd: Decimal | None = Field(default=Decimal(0), ge=0, lt=Decimal("1e10"))
    prompt_cache_key: str | None = None

    @field_validator("ts")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @field_validator(
        "estimated_cost_usd",
        "actual_cost_usd",
        "compute_cost_usd",
        "input_per_mtok",
        "cached_input_per_mtok",
        "cache_write_per_mtok",
        "cache_write_1h_per_mtok",
        "output_per_mtok",
    )
    @classmethod
    def _to_ledger_precision(cls, value: Decimal | None) -> Decimal | None:
        return None if value is None else value.quantize(_CENT_FRACTION, rounding=ROUND_HALF_EVEN)

    @field_validator("error")
    @classmethod
    def _without_secrets(cls, value: str | None) -> str | None:
        # Provider error text may echo a key; the ledger is read by people and reports.
        # Redacted before it is cut, so that a key cut in half cannot slip past.
        return None if value is None else redact(value)[:ERROR_CHARS]


class RequestUsage(NamedTuple):
    """What every call of one request used and cost, summed (see :meth:`CostLedger.request_usage`).

    Attributes:
        cost_usd: the calls' actual cost.
        input_tokens: their input tokens.
        output_tokens: their output tokens.
        calls: how many calls (failed ones and cache hits too).
    """

    cost_usd: Decimal
    input_tokens: int
    output_tokens: int
    calls: int


_COLUMNS = tuple(ModelCall.model_fields)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM model_calls"


def _equal_to(filters: Iterable[tuple[str, object]]) -> tuple[str, list[Any]]:
    """``" AND column = ?"`` for each (column, value) whose value is given (not None), and the
    values, in order."""
    given = [(column, value) for column, value in filters if value is not None]
    return "".join(f" AND {column} = ?" for column, _ in given), [value for _, value in given]


_INSERT = (
    f"INSERT INTO model_calls ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
)


_INSERT_ONCE = f"{_INSERT} ON CONFLICT (call_id) DO NOTHING"
_SETTLE = (
    "UPDATE reservations SET state = 'settled', settled_at = ? "
    "WHERE reservation_id = ? AND state <> 'settled'"
)


def insert_calls(con: duckdb.DuckDBPyConnection, calls: Sequence[ModelCall]) -> None:
    """Insert calls through a :meth:`CostLedger.transaction`, atomically with other rows."""
    if calls:
        con.executemany(_INSERT, [[getattr(call, column) for column in _COLUMNS] for call in calls])


class JournaledCall(BaseModel):
    """A call kept in the journal because the ledger could not be written.

    Attributes:
        call: the call, as it goes into ``model_calls``.
        settles: the reservation that booking the call retires, for a settlement.
        journaled_at: when it was journaled; a settled reservation says it was settled then.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal[1] = 1
    call: ModelCall
    settles: str | None = None
    journaled_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))


def rows_refused(exc: LedgerError) -> bool:
    """Whether the ledger worked but refused the rows (a duplicate ``call_id``...).

    Such an error is a bug to report, not a ledger to wait for: it is raised, never journaled.
    """
    return isinstance(exc.__cause__, (duckdb.IntegrityError, duckdb.DataError))


def default_journal_paths(ledger_path: Path) -> tuple[Path, ...]:
    """Where the journal of a ledger goes, in order of preference.

    Beside the ledger first; then in the user's state directory, named after the ledger's
    absolute path, for when the ledger's directory is what cannot be written.
    """
    path = Path(ledger_path)
    digest = hashlib.sha256(str(path.absolute()).encode()).hexdigest()[:16]
    return (
        path.with_name(path.name + JOURNAL_SUFFIX),
        user_state_dir() / "journals" / f"{path.name}-{digest}{JOURNAL_SUFFIX}",
    )


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


_ALIAS = "frugalflow_ledger"
_engines = threading.local()


def _engine() -> duckdb.DuckDBPyConnection:
    """This thread's in-memory DuckDB, to which the ledger file is attached per operation.

    A new DuckDB instance builds its function catalog (~9 ms of CPU, measured); attaching a file
    to a live one takes ~1 ms. Per thread, as connections are not thread-safe; per process, as
    one inherited through fork is unusable."""
    engine: duckdb.DuckDBPyConnection | None = getattr(_engines, "engine", None)
    if engine is None or _engines.pid != os.getpid():
        engine = duckdb.connect(":memory:", config={"threads": 1})
        _engines.engine, _engines.pid = engine, os.getpid()
    return engine


def _detach(con: duckdb.DuckDBPyConnection) -> None:
    """Close the ledger file (checkpointing it), leaving the engine ready for the next use."""
    try:
        con.execute("USE memory")
        con.execute(f"DETACH DATABASE IF EXISTS {_ALIAS}")
    except duckdb.Error:
        _engines.engine = None  # in an unknown state: closing it detaches everything
        con.close()
        raise


class CostLedger:
    """The DuckDB cost ledger at one path, safe to share between threads and processes.

    The file (and its parent directories) is created on first write; reading a missing ledger
    gives empty results and creates nothing.

    Attributes:
        path: the DuckDB database file.
        lock_path: the side file whose flock guards every use of ``path``.
        lock_timeout_seconds: how long an operation waits for the lock before giving up.
        journal_paths: where calls that cannot be written are kept, in order of preference
            (see the module docstring); every one of them is replayed.
    """

    def __init__(
        self,
        path: Path,
        *,
        lock_timeout_seconds: float = 120.0,
        journal_paths: Sequence[Path] | None = None,
    ) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.lock_timeout_seconds = lock_timeout_seconds
        self.journal_paths = tuple(
            Path(p) for p in (journal_paths or default_journal_paths(self.path))
        )

    def record(self, call: ModelCall) -> None:
        """Write one call, or journal it when the ledger cannot be written.

        Raises:
            LedgerError: neither the ledger nor any journal could be written.
        """
        self.record_many([call])

    def record_many(self, calls: Sequence[ModelCall]) -> None:
        """Write several calls in one transaction: all of them are stored, or none.

        When the ledger cannot be written, the calls are journaled instead (with a warning in
        the log) and booked by the next session that can write it.

        Raises:
            LedgerError: the ledger refused the rows (a duplicate ``call_id``: see
                :func:`rows_refused`), or neither the ledger nor any journal could be written;
                then the calls are in the log (usage and cost, never a prompt or a key).
        """
        if not calls:
            return
        try:
            with self.transaction() as con:
                insert_calls(con, calls)
        except LedgerError as exc:
            if rows_refused(exc):  # the ledger works; journaling would not make them fit
                raise
            self.journal([JournaledCall(call=call) for call in calls], cause=exc)

    def journal_settlement(self, call: ModelCall, reservation_id: str, *, cause: Exception) -> Path:
        """Journal a settlement the ledger refused: the call, and the reservation it retires.

        Args:
            call: the priced call.
            reservation_id: the reservation to mark settled when the call is booked.
            cause: why the ledger could not be written, for the log.

        Returns:
            The journal that holds it.

        Raises:
            LedgerError: no journal could be written either.
        """
        recorded = call.model_copy(update={"reservation_id": reservation_id})
        return self.journal([JournaledCall(call=recorded, settles=reservation_id)], cause=cause)

    def journal(self, entries: Sequence[JournaledCall], *, cause: Exception) -> Path:
        """Keep calls in the first journal that can be written, until the ledger takes them.

        Args:
            entries: the calls, with the reservations they settle.
            cause: why the ledger could not be written, for the log.

        Returns:
            The journal that holds them.

        Raises:
            LedgerError: no journal could be written; the calls are in the log line.
        """
        problems = []
        for path in self.journal_paths:
            try:
                for entry in entries:
                    Journal(path).append(entry.model_dump(mode="json"))
            except OSError as exc:
                problems.append(f"{path}: {exc}")
                continue
            logger.warning(
                "the cost ledger %s could not be written (%s); %d call(s) were kept in %s and "
                "are booked by the next run that can write the ledger. Fix what stops it being "
                "written (permissions, disk space, the program that holds it)",
                self.path,
                cause,
                len(entries),
                path,
            )
            return path
        for entry in entries:
            logger.error("could not record this model call: %s", entry.call.model_dump_json())
        raise LedgerError(
            f"a model call could not be recorded: the cost ledger {self.path} failed ({cause}) "
            f"and so did every journal ({'; '.join(problems)}). The call is in the log above; "
            f"make {self.path.parent} or {self.journal_paths[-1].parent} writable so that "
            "calls can be kept"
        ) from cause

    def unbooked_calls(self) -> list[ModelCall]:
        """Calls waiting in the journals that the ledger does not have yet, oldest first.

        Raises:
            LedgerError: a journal exists but cannot be read.
        """
        waiting: dict[str, ModelCall] = {}
        for path in self.journal_paths:
            try:
                for entry in Journal(path).read(JournaledCall.model_validate):
                    waiting.setdefault(entry.call.call_id, entry.call)
            except OSError as exc:
                raise LedgerError(
                    f"cannot read the ledger's journal {path}: {exc}. Check its permissions; "
                    "it holds calls that the ledger does not have yet"
                ) from exc
        if not waiting:
            return []
        ids = list(waiting)
        placeholders = ", ".join("?" * len(ids))
        booked = {
            row[0]
            for row in self._plain_read(
                f"SELECT call_id FROM model_calls WHERE call_id IN ({placeholders})", ids
            )
        }
        return sorted(
            (call for call_id, call in waiting.items() if call_id not in booked),
            key=lambda call: (call.ts, call.call_id),
        )

    def replay_journal(self) -> None:
        """Book what the journals hold now (any write does it first anyway).

        Raises:
            LedgerError: the ledger still cannot be written; the journals are kept.
        """
        with self._session(write=True):
            pass

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A write transaction under the exclusive lock, for multi-statement atomic work.

        No other thread or process uses the ledger until the block ends, so a check-then-insert
        inside it cannot race. Commits when the block ends, rolls back when it raises. Keep it
        short: everyone waits for it.

        Yields:
            The connection, on the current schema, inside ``BEGIN``.

        Raises:
            LedgerError: the ledger cannot be opened or written, or its lock stays held.
        """
        with self._session(write=True) as con:
            assert con is not None  # a write session always has a connection
            con.begin()
            try:
                yield con
            except BaseException:
                con.rollback()
                raise
            con.commit()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement (``?`` placeholders) read-only under the shared lock.

        Returns:
            Its rows; ``[]`` when the ledger does not exist.

        Raises:
            LedgerError: the ledger cannot be read, or the statement tries to write.
        """
        return self._read(sql, list(params))

    def spend_between(
        self, start: datetime, end: datetime, *, project: str | None = None
    ) -> Decimal:
        """Total actual cost of the calls made in ``start <= ts < end``.

        Args:
            start: beginning of the window, inclusive; timezone-aware.
            end: end of the window, exclusive; timezone-aware.
            project: count only this project's calls; all projects when None.

        Returns:
            The sum in USD; ``Decimal(0)`` when nothing matches or the ledger does not exist.

        Raises:
            ValueError: ``start`` or ``end`` is naive.
            LedgerError: the ledger cannot be read.
        """
        sql = "SELECT sum(actual_cost_usd) FROM model_calls WHERE ts >= ? AND ts < ?"
        params: list[Any] = [_utc(start, "start"), _utc(end, "end")]
        if project is not None:
            sql += " AND project = ?"
            params.append(project)
        rows = self._read(sql, params)
        spent = Decimal(rows[0][0]) if rows and rows[0][0] is not None else Decimal(0)
        if self._journal_waiting():  # the ledger could not take them: they count all the same
            low, high = params[0], params[1]
            spent += sum(
                (
                    call.actual_cost_usd
                    for call in self.unbooked_calls()
                    if low <= call.ts < high and project in (None, call.project)
                ),
                Decimal(0),
            )
        return spent

    def recent(
        self,
        limit: int = 20,
        *,
        request_id: str | None = None,
        project: str | None = None,
        model: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[ModelCall]:
        """The latest ``limit`` calls, newest first (empty when the ledger does not exist).

        Args:
            limit: the most calls returned.
            request_id: only this request's calls.
            project: only this project's.
            model: only this model's: ``provider:model``, or the model name alone.
            since: only calls at or after this moment.
            until: only calls before this moment.
        """
        where, params = _equal_to((("request_id", request_id), ("project", project)))
        sql = f"{_SELECT} WHERE true{where}"
        if model is not None:
            # Model names can hold colons (Ollama's qwen2.5-coder:1.5b): provider:model, or the
            # name alone.
            provider, _, name = model.partition(":")
            sql += " AND ((provider = ? AND model = ?) OR model = ?)"
            params += [provider, name, model]
        if since is not None:
            sql += " AND ts >= ?"
            params.append(since)
        if until is not None:
            sql += " AND ts < ?"
            params.append(until)
        return self._newest(sql, params, limit)

    def usage_history(
        self,
        *,
        provider: str | None = None,
        model: str | None = None,
        task_type: str | None = None,
        limit: int = 200,
    ) -> list[ModelCall]:
        """Successful calls that reached a model, newest first: what real usage looks like.

        Cache hits and failures are left out: their token counts say nothing about real usage.
        ``provider``, ``model`` and ``task_type`` filter when given; at most ``limit`` calls.
        """
        where, params = _equal_to(
            (("provider", provider), ("model", model), ("task_type", task_type))
        )
        return self._newest(f"{_SELECT} WHERE success AND NOT cache_hit{where}", params, limit)

    def cache_activity(self, *, provider: str, prompt_cache_key: str, since: datetime) -> int:
        """The most prompt tokens that one successful call to ``provider`` with this stable
        part read from or wrote to the vendor's prompt cache at or after ``since``; 0 when none
        did (the cache is then not known to hold it)."""
        rows = self._read(
            "SELECT max(cached_tokens + coalesce(cache_write_tokens, 0)) FROM model_calls "
            "WHERE success AND NOT cache_hit AND provider = ? AND prompt_cache_key = ? "
            "AND ts >= ?",
            [provider, prompt_cache_key, _utc(since, "since")],
        )
        return int(rows[0][0] or 0) if rows else 0

    def _newest(self, sql: str, params: list[Any], limit: int) -> list[ModelCall]:
        """The calls ``sql`` selects, newest first, at most ``limit`` of them."""
        return self._calls(
            f"{sql} ORDER BY ts DESC, call_id DESC LIMIT ?", [*params, max(limit, 0)]
        )

    def calls_for_request(self, request_id: str) -> list[ModelCall]:
        """Every call made for one request, oldest first (those still journaled too)."""
        calls = self._calls(f"{_SELECT} WHERE request_id = ? ORDER BY ts, call_id", [request_id])
        if self._journal_waiting():
            calls += [call for call in self.unbooked_calls() if call.request_id == request_id]
            calls.sort(key=lambda call: (call.ts, call.call_id))
        return calls

    def request_usage(self, request_id: str) -> RequestUsage:
        """The sums over :meth:`calls_for_request`: what one request has spent so far."""
        calls = self.calls_for_request(request_id)
        return RequestUsage(
            cost_usd=sum((call.actual_cost_usd for call in calls), Decimal(0)),
            input_tokens=sum(call.input_tokens for call in calls),
            output_tokens=sum(call.output_tokens for call in calls),
            calls=len(calls),
        )

    def schema_version(self) -> int:
        """The schema version stored in the file; 0 when the ledger does not exist yet.

        Raises:
            LedgerError: the ledger cannot be read or was written by a newer frugalflow.
        """
        with self._session(write=False) as con:
            return 0 if con is None else self._stored_version(con)

    def _calls(self, sql: str, params: list[Any]) -> list[ModelCall]:
        rows = self._read(sql, params)
        return [ModelCall(**dict(zip(_COLUMNS, row, strict=True))) for row in rows]

    def _journal_waiting(self) -> bool:
        return any(Journal(path).has_records() for path in self.journal_paths)

    def _read(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        if self._journal_waiting():
            try:
                self.replay_journal()  # so that what is read includes them
            except LedgerError as exc:
                logger.warning("the journaled calls could not be booked yet: %s", exc)
        return self._plain_read(sql, params)

    def _plain_read(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        with self._session(write=False) as con:
            if con is None:
                return []
            if self._stored_version(con) == SCHEMA_VERSION:
                return con.execute(sql, params).fetchall()
        with self._session(write=True):  # an older schema: upgrade it, then read again
            pass
        with self._session(write=False) as con:
            return [] if con is None else con.execute(sql, params).fetchall()

    @contextmanager
    def _session(self, *, write: bool) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """Lock, open, check (and on write, migrate) the schema, yield, close, unlock.

        Yields None for a read of a ledger that does not exist.
        """
        if not write and not self.path.exists():
            yield None
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerError(
                f"cannot create the directory of the cost ledger {self.path}: {exc}. Make "
                f"{self.path.parent} a directory this user can write. Calls made meanwhile are "
                f"journaled in {self.journal_paths[-1].parent} and booked by the next run that "
                "can write the ledger."
            ) from exc
        with self._flock(exclusive=write):
            if not write and not self.path.exists():
                yield None
                return
            try:
                con = self._attach(write=write)
                try:
                    version = self._stored_version(con)
                    if version > SCHEMA_VERSION:
                        raise LedgerError(
                            f"the cost ledger {self.path} has schema version {version}, written "
                            f"by a newer frugalflow (this one knows up to {SCHEMA_VERSION}). "
                            "Upgrade frugalflow to use it."
                        )
                    if write and version < SCHEMA_VERSION:
                        self._migrate(con, version)
                    if write:
                        self._book_journals(con)
                    yield con
                finally:
                    _detach(con)
            except duckdb.Error as exc:
                raise LedgerError(
                    f"cannot use the cost ledger {self.path}: {exc}. Check that it is a "
                    "frugalflow DuckDB file that this user can read and write, on a disk with "
                    f"space, and that no other program holds it (`fuser {self.path}`). Keep "
                    "the file: it is what budgets are counted from. Calls made meanwhile are "
                    f"journaled (in {self.journal_paths[0].parent} or "
                    f"{self.journal_paths[-1].parent}) and booked by the next run that can "
                    "write it."
                ) from exc

    def _book_journals(self, con: duckdb.DuckDBPyConnection) -> None:
        """Book every journaled call, then remove it from its journal (see the module doc).

        Raises:
            LedgerError: a journal cannot be read or removed (its calls stay in it).
            duckdb.Error: the rows cannot be written (nothing is removed).
        """
        for path in self.journal_paths:
            journal = Journal(path)
            if not journal.has_records():
                continue
            try:
                with journal.take(JournaledCall.model_validate) as entries:
                    if entries:
                        self._book(con, entries)
            except OSError as exc:
                raise LedgerError(
                    f"cannot replay the ledger's journal {path}: {exc}. Check its permissions; "
                    "it holds calls that the ledger does not have yet"
                ) from exc

    def _book(self, con: duckdb.DuckDBPyConnection, entries: Sequence[JournaledCall]) -> None:
        con.begin()
        try:
            con.executemany(
                _INSERT_ONCE,
                [[getattr(entry.call, column) for column in _COLUMNS] for entry in entries],
            )
            settled = [[e.journaled_at, e.settles] for e in entries if e.settles is not None]
            if settled:
                con.executemany(_SETTLE, settled)
        except BaseException:
            con.rollback()
            raise
        con.commit()
        logger.info("booked %d journaled call(s) into the cost ledger %s", len(entries), self.path)

    def _attach(self, *, write: bool) -> duckdb.DuckDBPyConnection:
        con = _engine()
        path = str(self.path).replace("'", "''")
        con.execute(f"ATTACH '{path}' AS {_ALIAS}" + ("" if write else " (READ_ONLY)"))
        try:
            con.execute(f"USE {_ALIAS}")  # so that callers' SQL names tables without a prefix
        except duckdb.Error:
            _detach(con)
            raise
        return con

    def _stored_version(self, con: duckdb.DuckDBPyConnection) -> int:
        try:
            row = con.execute("SELECT max(version) FROM schema_info").fetchone()
        except duckdb.CatalogException:  # no schema_info table: nothing migrated yet
            return 0
        return int(row[0]) if row and row[0] is not None else 0

    def _migrate(self, con: duckdb.DuckDBPyConnection, version: int) -> None:
        con.begin()
        con.execute("CREATE TABLE IF NOT EXISTS schema_info (version INTEGER NOT NULL)")
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                con.execute(statement)
        con.execute("DELETE FROM schema_info")
        con.execute("INSERT INTO schema_info VALUES (?)", [SCHEMA_VERSION])
        con.commit()

    @contextmanager
    def _flock(self, *, exclusive: bool) -> Iterator[None]:
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise LedgerError(
                f"cannot open the ledger lock file {self.lock_path}: {exc}. "
                "Check that its directory is writable."
            ) from exc
        try:
            mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
            deadline = time.monotonic() + self.lock_timeout_seconds
            delay = 0.001
            while True:
                try:
                    fcntl.flock(fd, mode)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise LedgerError(
                            f"the cost ledger {self.path} is busy: its lock file "
                            f"{self.lock_path} stayed held by another frugalflow run for more "
                            f"than {self.lock_timeout_seconds:g} s. Wait for that run to finish "
                            f"(`fuser {self.lock_path}` shows it) or raise the lock timeout."
                        ) from None
                    time.sleep(delay)
                    # A short cap: waiters that sleep long miss their turn and starve.
                    delay = min(delay * 2, 0.01)
                except OSError as exc:
                    raise LedgerError(
                        f"cannot lock the ledger lock file {self.lock_path}: {exc}. "
                        "Put the ledger on a local file system that supports flock."
                    ) from exc
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

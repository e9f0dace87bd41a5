"""A call the provider completed is never lost because the ledger could not be written.

Real DuckDB files in tmp_path made unwritable the ways a real one is: its lock held by another
process (through the ``<ledger>.lock`` flock every frugalflow process takes), a directory in
place of the file, a parent that is not a directory. (chmod does not stop root, which the
tests may run as.) The call is journaled, the next run books it exactly once, the journal goes.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from frugalflow.core.errors import LedgerError
from frugalflow.core.schemas import Tier
from frugalflow.core.settings import Settings
from frugalflow.money.budget import BudgetManager
from frugalflow.money.journal import Journal
from frugalflow.money.ledger import JOURNAL_SUFFIX, CostLedger, ModelCall
from tests.support.money import journal_of, lock_held_elsewhere

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user state directory (the journal's fallback), private to the test."""
    path = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(path))
    return path


def paid_call(cost: str = "0.25", **fields: object) -> ModelCall:
    values: dict[str, object] = {
        "request_id": "req-1",
        "project": "textkit",
        "step": "generate",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "tier": Tier.API,
        "input_tokens": 1200,
        "output_tokens": 300,
        "actual_cost_usd": Decimal(cost),
        **fields,
    }
    return ModelCall(**values)  # type: ignore[arg-type]


def rows(path: Path) -> list[tuple[str, Decimal]]:
    """What the file holds, read with DuckDB directly (no replay on the way)."""
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT call_id, actual_cost_usd FROM model_calls").fetchall()


def test_a_call_the_locked_ledger_cannot_take_is_journaled_and_booked_once_next_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ledger.duckdb"
    CostLedger(path).record(paid_call("0.10", request_id="earlier"))
    call = paid_call()

    with lock_held_elsewhere(path), caplog.at_level(logging.WARNING, "frugalflow.ledger"):
        CostLedger(path, lock_timeout_seconds=0.2).record(call)  # does not raise: journaled

    [line] = journal_of(path).read_text().splitlines()
    assert json.loads(line)["call"]["call_id"] == call.call_id
    assert "kept in" in caplog.text and "booked by the next run" in caplog.text
    assert call.call_id not in {call_id for call_id, _ in rows(path)}

    recent = CostLedger(path).recent()  # the next run: it books the journal first

    assert [c.call_id for c in recent].count(call.call_id) == 1
    assert not journal_of(path).exists()
    assert [r[0] for r in rows(path)].count(call.call_id) == 1
    CostLedger(path).record(paid_call("0.01"))  # and later writes do not book it again
    assert [r[0] for r in rows(path)].count(call.call_id) == 1


def test_a_directory_in_place_of_the_ledger_journals_the_call_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    path.mkdir()
    call = paid_call()

    CostLedger(path).record(call)

    assert journal_of(path).exists()
    with pytest.raises(LedgerError) as caught:
        CostLedger(path).recent()
    message = str(caught.value)
    assert "aside" not in message and "journaled" in message and "Keep the file" in message

    path.rmdir()  # the user fixes it
    assert [c.call_id for c in CostLedger(path).recent()] == [call.call_id]
    assert not journal_of(path).exists()


def test_when_the_ledgers_directory_is_unwritable_the_journal_goes_to_the_state_dir(
    tmp_path: Path, state_dir: Path
) -> None:
    blocked = tmp_path / "data"
    blocked.write_text("a file where the ledger's directory should be")
    path = blocked / "ledger.duckdb"
    call = paid_call()

    CostLedger(path).record(call)

    [journal] = (state_dir / "frugalflow" / "journals").glob(f"*{JOURNAL_SUFFIX}")
    assert call.call_id in journal.read_text()

    blocked.unlink()  # the user fixes it; the next run books what the fallback journal holds
    assert [c.call_id for c in CostLedger(path).recent()] == [call.call_id]
    assert not journal.exists()


def test_with_no_writable_journal_either_the_error_says_what_to_make_writable(
    tmp_path: Path, state_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "data"
    blocked.write_text("not a directory")
    state_dir.write_text("not a directory either")
    call = paid_call()

    with pytest.raises(LedgerError, match=r"make .* writable") as caught:
        CostLedger(blocked / "ledger.duckdb").record(call)

    assert "aside" not in str(caught.value)
    assert call.call_id in caplog.text  # the call is in the log, to be booked by hand


def test_a_crash_between_booking_and_removing_the_journal_does_not_book_twice(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.duckdb"
    settings = Settings(home=tmp_path, ledger_path=path, daily_budget_usd=Decimal(5))
    manager = BudgetManager(CostLedger(path), settings)
    reservation = manager.reserve(
        request_id="req-1", project="textkit", model="openai:gpt-4o-mini", amount_usd=Decimal(1)
    )
    call = paid_call("0.40")
    CostLedger(path).journal_settlement(call, reservation.reservation_id, cause=OSError("test"))
    # A run books the journal and dies (no cleanup at all) before it can remove it.
    crash = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from frugalflow.money.ledger import CostLedger\n"
        "real_unlink = os.unlink\n"
        "def unlink(target, *args, **kwargs):\n"
        f"    if str(target).endswith({JOURNAL_SUFFIX!r}):\n"
        "        os._exit(9)\n"
        "    real_unlink(target, *args, **kwargs)\n"
        "os.unlink = unlink\n"
        "CostLedger(Path(sys.argv[1])).replay_journal()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", crash, str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 9, done.stderr
    assert journal_of(path).exists()  # the journal survived the crash...
    assert [r[0] for r in rows(path)] == [call.call_id]  # ...after the row was committed

    windows = BudgetManager(CostLedger(path), settings).windows()  # the next run replays again

    assert [r[0] for r in rows(path)] == [call.call_id]
    assert not journal_of(path).exists()
    assert windows[0].spent_usd == Decimal("0.40")
    assert windows[0].reserved_usd == 0  # the reservation was settled, once
    [settled] = manager.reservations(state="settled")
    assert settled.reservation_id == reservation.reservation_id


def test_journaled_spend_counts_while_the_ledger_can_be_read_but_not_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.duckdb"
    settings = Settings(home=tmp_path, ledger_path=path, daily_budget_usd=Decimal(1))
    CostLedger(path).record(paid_call("0.30", request_id="earlier"))
    call = paid_call("0.50")
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    with lock_held_elsewhere(path, shared=True):  # a long reader: reads work, writes wait
        ledger = CostLedger(path, lock_timeout_seconds=0.2)
        ledger.record(call)
        assert ledger.spend_between(day, day + timedelta(days=1)) == Decimal("0.80")
        assert [c.call_id for c in ledger.calls_for_request("req-1")] == [call.call_id]
        assert [c.call_id for c in ledger.unbooked_calls()] == [call.call_id]
        # No paid call can start meanwhile: reserving needs the ledger to be written.
        with pytest.raises(LedgerError):
            BudgetManager(ledger, settings).reserve(
                request_id="r2", project="textkit", model="openai:gpt-4o-mini", amount_usd=1
            )

    ledger = CostLedger(path)
    assert ledger.spend_between(day, day + timedelta(days=1)) == Decimal("0.80")  # not twice
    assert ledger.unbooked_calls() == []
    assert not journal_of(path).exists()
    assert BudgetManager(ledger, settings).windows()[0].spent_usd == Decimal("0.80")


def test_a_journal_line_holds_the_ledgers_fields_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    path.mkdir()
    call = paid_call(error="AuthenticationError: refused sk-proj-Zq8Wm2Lr5Tx9Kp3Vn7Bc4Hd6Yt1")

    CostLedger(path).record(call)

    [line] = journal_of(path).read_text().splitlines()
    entry = json.loads(line)
    assert set(entry) == {"format", "call", "settles", "journaled_at"}
    assert set(entry["call"]) == set(ModelCall.model_fields)
    assert "Zq8Wm2Lr5Tx9Kp3Vn7Bc4Hd6Yt1" not in line
    assert entry["call"]["actual_cost_usd"] == "0.25000000"  # money stays exact


def test_an_unreadable_journal_line_is_set_aside_and_does_not_block_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ledger.duckdb"
    call = paid_call()
    journal = journal_of(path)
    journal.write_text('{"torn": \n')  # a crash mid-write left half a line
    Journal(journal).append({"format": 1, "call": call.model_dump(mode="json")})

    assert [c.call_id for c in CostLedger(path).recent()] == [call.call_id]

    assert not journal.exists()
    assert Journal(journal).rejected_path.read_text() == '{"torn": \n'
    assert "could not be read back" in caplog.text


def test_appends_racing_a_taker_are_each_taken_exactly_once(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "race.journal.jsonl")
    taken: list[int] = []
    writers_done = threading.Event()

    def write(first: int) -> None:
        for number in range(first, first + 200):
            journal.append({"n": number})

    def take() -> None:
        while True:
            last = writers_done.is_set()
            with journal.take(lambda record: int(record["n"])) as numbers:
                taken.extend(numbers)
            if last:
                return

    writers = [threading.Thread(target=write, args=(start,)) for start in (0, 1000, 2000)]
    taker = threading.Thread(target=take)
    taker.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    writers_done.set()
    taker.join()

    expected = [n for start in (0, 1000, 2000) for n in range(start, start + 200)]
    assert sorted(taken) == expected
    assert not journal.path.exists()


def test_no_message_in_src_advises_moving_the_ledger_aside() -> None:
    offenders = [
        str(file.relative_to(SRC))
        for file in SRC.rglob("*.py")
        if "move it aside" in file.read_text() or "ledger aside" in file.read_text()
    ]
    assert offenders == []

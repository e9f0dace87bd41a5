"""``frugalflow deferred``: list, run now and drop waiting requests, on a real DuckDB ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from frugalflow.cli.app import EXIT_DEFERRED, EXIT_FAILED, EXIT_USAGE, app
from frugalflow.cli.example_repo import create_example_repo
from frugalflow.core.schemas import CodeRequest
from frugalflow.money.deferred import DeferredStore
from frugalflow.money.ledger import CostLedger
from tests.support.money import spend_today

runner = CliRunner()
TOMORROW = datetime.now(UTC) + timedelta(days=1)


@pytest.fixture(autouse=True)
def paid_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("FRUGALFLOW_MODELS", '["openai:gpt-4o-mini"]')
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-never-sent")  # no call is ever made


def waiting(tmp_path: Path, ledger_path: Path, *names: str) -> tuple[DeferredStore, list[str]]:
    repo = create_example_repo(tmp_path / "textkit")
    store = DeferredStore(CostLedger(ledger_path))
    ids = []
    for name in names:
        request = CodeRequest(
            description=f"Add a function {name}() that returns 1", repo=repo, request_id=name
        )
        ids.append(store.add(request, reason="$0.12 left in daily:today", retry_at=TOMORROW))
    return store, ids


def test_the_list_shows_id_description_project_reason_retry_time_and_worst_case(
    tmp_path: Path, ledger_path: Path
) -> None:
    waiting(tmp_path, ledger_path, "first", "second")

    result = runner.invoke(app, ["deferred"])

    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "first" in line or "second" in line]
    assert len(rows) == 2
    first = rows[0]
    assert "Add a function first()" in first and "textkit" in first
    assert "$0.12 left in daily:today" in first
    assert TOMORROW.astimezone().strftime("%Y-%m-%d %H:%M") in first
    assert "$0.000" in first  # gpt-4o-mini's worst case for a small request, a fraction of a cent


def test_an_empty_queue_says_so(ledger_path: Path) -> None:
    result = runner.invoke(app, ["deferred"])
    assert result.exit_code == 0
    assert "no deferred requests are waiting" in result.output


def test_drop_takes_requests_out_with_their_reason_recorded(
    tmp_path: Path, ledger_path: Path
) -> None:
    store, [first, _] = waiting(tmp_path, ledger_path, "first", "second")

    result = runner.invoke(app, ["deferred", "drop", "first", "--reason", "done by hand"])

    assert result.exit_code == 0, result.output
    assert [d.request.request_id for d in store.pending()] == ["second"]
    [dropped] = [d for d in store.all() if d.deferred_id == first]
    assert (dropped.state, dropped.outcome) == ("done", "dropped: done by hand")


def test_an_unknown_id_is_refused_and_nothing_changes(tmp_path: Path, ledger_path: Path) -> None:
    store, _ = waiting(tmp_path, ledger_path, "first")

    for command in (["deferred", "drop", "nope"], ["deferred", "run", "nope"]):
        result = runner.invoke(app, command)
        assert result.exit_code == EXIT_USAGE, result.output
        assert "no waiting request has id nope" in result.output
    assert len(store.pending()) == 1


def test_run_without_ids_or_all_is_refused(ledger_path: Path) -> None:
    result = runner.invoke(app, ["deferred", "run"])
    assert result.exit_code == EXIT_USAGE
    assert "--all" in result.output


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_run_reruns_now_and_one_that_can_never_fit_is_failed_and_dropped(
    tmp_path: Path, ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, [first] = waiting(tmp_path, ledger_path, "first")  # not due until tomorrow
    monkeypatch.setenv("FRUGALFLOW_DAILY_BUDGET_USD", "0.5")  # under the $1 emergency threshold

    result = runner.invoke(app, ["deferred", "run", "first"])

    assert result.exit_code == EXIT_FAILED, result.output
    assert "can never run" in result.output
    assert store.pending() == []
    [row] = store.all()
    assert row.deferred_id == first and row.outcome is not None
    assert row.outcome.startswith("failed: this request can never run")


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_run_all_defers_again_what_still_does_not_fit_today(
    tmp_path: Path, ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, [first] = waiting(tmp_path, ledger_path, "first")
    monkeypatch.setenv("FRUGALFLOW_DAILY_BUDGET_USD", "2")
    spend_today(ledger_path, "1.57")  # $0.43 left: emergency mode until tomorrow

    result = runner.invoke(app, ["deferred", "run", "--all"])

    assert result.exit_code == EXIT_DEFERRED, result.output
    [again] = store.pending()
    assert again.deferred_id != first and "$0.43 left" in again.reason
    assert {d.state for d in store.all()} == {"pending", "resubmitted"}

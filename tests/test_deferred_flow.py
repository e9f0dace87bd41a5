"""A deferred request is stored, and the rerun-deferred flow runs it once it can be paid for."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from frugalflow.cli.example_repo import create_example_repo
from frugalflow.core.schemas import CodeRequest, CodeResult, RunStatus
from frugalflow.flows.codegen import codegen
from frugalflow.flows.deferred import rerun_deferred
from frugalflow.money.deferred import DeferredStore
from frugalflow.money.ledger import CostLedger
from tests.support.git import git
from tests.support.money import spend_today

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect_server")]


@pytest.mark.model
def test_a_deferred_request_is_kept_and_rerun_when_it_can_be_paid_for(
    tmp_path: Path, ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = create_example_repo(tmp_path / "textkit")
    request = CodeRequest(
        description="Add a function count_words(text) that returns the number of words in text",
        repo=repo,
        examples=('assert count_words("a b  c") == 3',),
    )
    # Only a paid model, and too little money left today: the request must wait, not vanish.
    monkeypatch.setenv("FRUGALFLOW_MODELS", '["openai:gpt-4o-mini"]')
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-never-sent")  # no call is made
    monkeypatch.setenv("FRUGALFLOW_DAILY_BUDGET_USD", "2")
    spend_today(ledger_path, "1.9")

    async def first() -> CodeResult:
        state = await codegen(request, return_state=True)
        return await state.aresult(raise_on_failure=False)  # type: ignore[no-any-return]

    deferred_result = asyncio.run(first())
    assert deferred_result.status is RunStatus.DEFERRED
    store = DeferredStore(CostLedger(ledger_path))
    [waiting] = store.pending()
    assert waiting.request == request
    assert waiting.retry_at == deferred_result.retry_at
    assert store.due(datetime.now(UTC)) == []  # not before its time

    # The next budget day: the free local model is configured again, and the flow runs it.
    monkeypatch.setenv("FRUGALFLOW_MODELS", '["llamacpp:qwen2.5-coder-0.5b-instruct"]')
    assert waiting.retry_at is not None
    with monkeypatch.context() as later:
        later.setattr(
            "frugalflow.tasks.defer.datetime",
            type("Later", (), {"now": staticmethod(lambda tz: waiting.retry_at + timedelta(1))}),
        )
        results = asyncio.run(rerun_deferred())

    [rerun] = results
    assert rerun.status is RunStatus.COMPLETED, rerun.reason
    assert rerun.request_id == request.request_id
    assert "def count_words(" in git(repo, "show", f"{rerun.branch}:src/textkit/count_words.py")
    assert store.pending() == []
    assert [row.state for row in store.all()] == ["done"]
    assert store.all()[0].outcome.startswith("completed: committed")


def test_a_stored_request_that_can_never_fit_now_is_failed_and_dropped_with_its_reason(
    tmp_path: Path, ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = create_example_repo(tmp_path / "textkit")
    request = CodeRequest(description="Add a function f() that returns 1", repo=repo)
    store = DeferredStore(CostLedger(ledger_path))
    store.add(request, reason="$0.12 left today", retry_at=datetime.now(UTC) - timedelta(1))
    # Since it was deferred, the budget was set below the emergency threshold: a paid model
    # can never run, and waiting another day would not change that.
    monkeypatch.setenv("FRUGALFLOW_MODELS", '["openai:gpt-4o-mini"]')
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-never-sent")  # no call is made
    monkeypatch.setenv("FRUGALFLOW_DAILY_BUDGET_USD", "0.5")

    [result] = asyncio.run(rerun_deferred())

    assert result.status is RunStatus.FAILED
    assert "can never run" in result.reason and "($0.50)" in result.reason
    assert store.pending() == []  # not deferred again
    [row] = store.all()
    assert row.state == "done"
    assert row.outcome is not None and row.outcome.startswith("failed: this request can never run")
    assert CostLedger(ledger_path).calls_for_request(request.request_id) == []

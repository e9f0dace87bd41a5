"""What a codegen run shows in Prefect, read back through the API as the UI reads it: its money
(each model call, the budget left), where the code went, a Deferred state with its reason and
retry time, the CodeResult persisted for other processes, a re-run linked to its first run, and
rerun-deferred's summary; and the request form the UI builds from the flow's parameters."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from frugalflow.core.schemas import CodeRequest, CodeResult, RunStatus
from frugalflow.flows.codegen import codegen
from frugalflow.flows.deferred import rerun_deferred
from frugalflow.money.deferred import DeferredStore
from frugalflow.money.ledger import CostLedger
from frugalflow.tasks.defer import due_moment, requests_to_rerun
from tests.support.flows import add_request, artifact_key, latest_artifact, run
from tests.support.git import git
from tests.support.models import ReplyingModel
from tests.support.money import spend_today

RIGHT = '```python\ndef add(a, b):\n    """Add two numbers."""\n    return a + b\n```'


def _flow_run(flow_run_id: str) -> Any:
    from prefect import get_client

    async def read() -> Any:
        async with get_client() as client:
            return await client.read_flow_run(flow_run_id)  # type: ignore[arg-type]

    return asyncio.run(read())


def _result_from_api(flow_run_id: str) -> object:
    """The run's result as another process reads it: the state from the API, the value from
    Prefect's result storage (this is what ``run_deployment(...).state.result()`` does)."""
    state = _flow_run(flow_run_id).state

    async def read() -> object:
        return await state.aresult(raise_on_failure=False)

    return asyncio.run(read())


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_a_completed_run_shows_each_call_the_budget_left_and_the_commit(
    tmp_path: Path, ledger_path: Path, use_providers: Callable[..., None]
) -> None:
    use_providers({"llamacpp": ReplyingModel(RIGHT)})
    request = add_request(tmp_path, "run page")

    result = run(request)

    assert result.status is RunStatus.COMPLETED, result.reason
    page = latest_artifact(artifact_key(request))
    [call] = CostLedger(ledger_path).calls_for_request(request.request_id)
    row = (
        f"| generate | {call.provider}:{call.model} | local | {call.input_tokens} "
        f"| {call.output_tokens} | $0.000000 | ok |"
    )
    assert row in page
    assert f"Branch `{result.branch}`, commit `{result.commit}`" in page
    assert result.commit and git(request.repo, "rev-parse", str(result.branch)) == result.commit
    assert (
        f"| daily:{datetime.now().astimezone():%Y-%m-%d} | $" in page
    )  # each window, and what is left
    assert "| 1 | llamacpp:" in page  # the routing decision
    # The result is persisted: another process reads the CodeResult from the API and storage.
    assert result.flow_run_id is not None
    stored = _result_from_api(result.flow_run_id)
    assert isinstance(stored, CodeResult) and stored.commit == result.commit


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_a_deferred_run_has_its_own_state_with_the_reason_and_the_retry_time(
    tmp_path: Path,
    ledger_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    use_providers: Callable[..., None],
) -> None:
    monkeypatch.setenv("FRUGALFLOW_MODELS", '["openai:gpt-4o-mini"]')
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-never-sent")  # no call is made
    monkeypatch.setenv("FRUGALFLOW_DAILY_BUDGET_USD", "2")
    monkeypatch.setenv("FRUGALFLOW_TIMEZONE", "Europe/Paris")
    spend_today(ledger_path, "1.9")
    request = add_request(tmp_path, "deferred run page")

    result = run(request)

    assert result.status is RunStatus.DEFERRED and result.retry_at is not None
    assert result.flow_run_id is not None
    state = _flow_run(result.flow_run_id).state
    assert state.type.value == "CANCELLED" and state.name == "Deferred"  # not a green success
    local = result.retry_at.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    assert state.message.startswith(f"Deferred until {local:%Y-%m-%d %H:%M} Europe/Paris: ")
    assert result.reason[:60] in state.message
    stored = _result_from_api(result.flow_run_id)
    assert isinstance(stored, CodeResult) and stored.status is RunStatus.DEFERRED
    assert "No model was called." in latest_artifact(artifact_key(request))

    # Its re-run, the next budget day, links back to the run that deferred it.
    use_providers({"llamacpp": ReplyingModel(RIGHT)})
    monkeypatch.setenv("FRUGALFLOW_MODELS", '["llamacpp:qwen2.5-coder-0.5b-instruct"]')
    [again] = asyncio.run(rerun_deferred(deferred_ids=[request.request_id]))
    assert again.status is RunStatus.COMPLETED, again.reason
    assert again.flow_run_id != result.flow_run_id
    page = latest_artifact(artifact_key(request))
    assert f"its first run: `{result.flow_run_id}`" in page
    summary = latest_artifact("rerun-deferred")
    assert summary.startswith("1 due at ")
    assert "1 re-run (1 completed, 0 deferred again, 0 failed)" in summary
    assert f"| {request.request_id} | completed |" in summary


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_the_run_scheduled_at_a_reset_takes_the_requests_due_then_on_a_clock_behind(
    tmp_path: Path,
    ledger_path: Path,
    use_providers: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server starts a scheduled run at its time by the server's clock; the worker's clock
    can be behind. The run scheduled at the budget reset must still take the requests that
    wait for that reset."""
    from prefect import get_client
    from prefect.flow_engine import run_flow_async
    from prefect.states import Scheduled

    from frugalflow.tasks import defer

    class WorkerClock(datetime):
        """The worker machine's clock: 10 s behind the server's."""

        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return datetime.now(tz) - timedelta(seconds=10)

    use_providers({"llamacpp": ReplyingModel(RIGHT)})
    store = DeferredStore(CostLedger(ledger_path))
    due_then = add_request(tmp_path / "due", "due at the reset")
    later = add_request(tmp_path / "later", "due after the reset")

    async def scheduled_run() -> tuple[list[CodeResult], datetime, Any]:
        async with get_client() as client:
            reset = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
            store.add(due_then, reason="$0.01 left today", retry_at=reset)
            store.add(later, reason="$0.01 left today", retry_at=reset + timedelta(minutes=15))
            flow_run = await client.create_flow_run(
                rerun_deferred, state=Scheduled(scheduled_time=reset)
            )
            monkeypatch.setattr(defer, "datetime", WorkerClock)
            results = await run_flow_async(rerun_deferred, flow_run=flow_run)
            return results, reset, await client.read_flow_run(flow_run.id)  # type: ignore[return-value]

    results, reset, flow_run = asyncio.run(scheduled_run())

    assert flow_run.start_time >= reset - timedelta(seconds=1)  # the server held it till then
    assert [r.request_id for r in results] == [due_then.request_id]
    assert [d.request.request_id for d in store.pending()] == [later.request_id]
    summary = latest_artifact("rerun-deferred")
    assert summary.startswith(f"1 due at {reset:%Y-%m-%d %H:%M:%S} UTC, 1 re-run")
    assert f"| {later.request_id} | {later_retry(store):%Y-%m-%d %H:%M} |" in summary


def later_retry(store: DeferredStore) -> datetime:
    [waiting] = store.pending()
    return waiting.retry_at


def test_due_is_judged_at_the_scheduled_start_when_that_is_later(ledger_path: Path) -> None:
    now = datetime(2026, 12, 3, 22, 59, 55, tzinfo=UTC)
    midnight = datetime(2026, 12, 3, 23, 0, tzinfo=UTC)  # 00:00 in Paris
    assert due_moment(midnight, now) == midnight
    assert due_moment(now - timedelta(hours=1), now) == now  # a late start: now
    assert due_moment(None, now) == now
    store = DeferredStore(CostLedger(ledger_path))
    request = CodeRequest(description="Add a function f()", repo=ledger_path.parent)
    store.add(request, reason="reset", retry_at=midnight)
    assert requests_to_rerun(store, None, now=now) == []
    assert [d.request for d in requests_to_rerun(store, None, now=midnight)] == [request]


def test_every_request_field_has_a_title_and_a_description_in_the_form() -> None:
    schema = codegen.parameters.model_dump()["definitions"]["CodeRequest"]
    fields = schema["properties"]
    assert next(iter(fields)) == "repo"  # checked first, shown first
    assert set(fields) == set(CodeRequest.model_fields)
    for name, field in fields.items():
        assert field.get("title") and field.get("description"), name
        # A plain box or choice, not a "string or null" toggle.
        assert "anyOf" not in field, (name, field)
    assert schema["required"] == ["repo", "description"]
    assert fields["task_type"]["enum"] == [
        "file_editing",
        "code_generation",
        "content_writing",
        "analysis",
        "documentation",
    ]


def test_empty_form_fields_mean_the_defaults(tmp_path: Path) -> None:
    request = CodeRequest.model_validate(
        {
            "repo": str(tmp_path),
            "description": "Add a function f()",
            "target": "",
            "project": " ",
            "task_type": "",
            "budget_cap_usd": "",
            "request_id": "",
        }
    )
    assert (request.target, request.project, request.task_type) == (None, None, None)
    assert request.budget_cap_usd is None
    assert len(request.request_id) == 12


def test_the_repository_path_expands_home_and_refuses_a_relative_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert CodeRequest(description="Add f()", repo=Path("~/textkit")).repo == tmp_path / "textkit"
    with pytest.raises(ValidationError) as refused:
        CodeRequest(description="Add f()", repo=Path("textkit"))
    message = str(refused.value)
    assert "'textkit' is relative; give its absolute path" in message
    assert "--" not in message.split("[type=")[0]  # no CLI flag in a message for the UI


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_a_missing_repository_is_the_first_thing_the_run_says(
    tmp_path: Path, ledger_path: Path
) -> None:
    request = CodeRequest(
        description="Add a function f()", repo=tmp_path / "nowhere", examples=("f(",)
    )

    result = run(request)

    assert result.status is RunStatus.FAILED
    assert result.reason.startswith(f"{tmp_path / 'nowhere'} does not exist")
    assert "--" not in result.reason

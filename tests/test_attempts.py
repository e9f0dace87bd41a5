"""Attempts that differ: a candidate identical to one already validated is not validated
again (issue 10: every same-model repair of the 0.5B returned exactly the failing code)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from frugalflow.cli.example_repo import create_example_repo
from frugalflow.core.schemas import CodeRequest, CodeResult, RunStatus
from frugalflow.flows.codegen import codegen
from frugalflow.money.ledger import CostLedger
from tests.support.models import ReplyingModel

WRONG = '```python\ndef add(a, b):\n    """Add two numbers."""\n    return a - b\n```'


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_the_same_failing_code_again_is_not_validated_again(
    tmp_path: Path,
    ledger_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    use_providers: Callable[..., None],
) -> None:
    monkeypatch.setenv("FRUGALFLOW_MAX_ATTEMPTS", "3")
    model = ReplyingModel(WRONG, input_tokens=60)  # every answer, repairs too, the same
    use_providers({"llamacpp": model})
    # A prompt of its own: the session shares Prefect's result cache, and this wrong answer must
    # not become another test's cached generation.
    request = CodeRequest(
        description="Add a function add(a, b) that adds two numbers (stubborn model)",
        repo=create_example_repo(tmp_path / "textkit"),
        examples=("assert add(2, 3) == 5",),
    )

    async def go() -> CodeResult:
        state = await codegen(request, return_state=True)
        return await state.aresult(raise_on_failure=False)  # type: ignore[no-any-return]

    result = asyncio.run(go())

    assert result.status is RunStatus.FAILED
    assert result.attempts == 3
    # The third prompt (same code, same report) is the second's: Prefect's cache answers it.
    assert model.calls == 2
    assert [s.step for s in result.steps].count("validate") == 1  # but validated the code once
    assert all("not validated again" in d.reason for d in result.routing[1:])
    assert "add(2, 3) == 5" in result.reason  # the one report is still what the user sees
    calls = CostLedger(ledger_path).calls_for_request(request.request_id)
    assert [call.cache_hit for call in calls] == [False, False, True]

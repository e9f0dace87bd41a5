"""Transient provider errors are retried, permanent ones are not, and every call is booked."""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from frugalflow.errors import (
    AuthenticationError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
)
from frugalflow.example_repo import create_example_repo
from frugalflow.flows.codegen import codegen
from frugalflow.ledger import CostLedger
from frugalflow.providers.base import Availability, ChatMessage, Completion
from frugalflow.schemas import CodeRequest, CodeResult, RunStatus, Tier
from frugalflow.tasks import generate as generate_module
from tests.conftest import git

# The package re-exports the flow under the module's name; the module itself is needed here.
codegen_module = importlib.import_module("frugalflow.flows.codegen")
document_module = importlib.import_module("frugalflow.tasks.document")

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect_server")]

REPLY = '```python\ndef add(a, b):\n    """Add two numbers."""\n    return a + b\n```'


class ScriptedProvider:
    """Raises the scripted errors in order, then answers; counts its calls."""

    name = "llamacpp"
    tier = Tier.LOCAL

    def __init__(self, errors: Sequence[ProviderError]) -> None:
        self.errors = list(errors)
        self.calls = 0
        self.call_times: list[float] = []

    def complete(
        self,
        model: str,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        on_text: Callable[[str], None] | None = None,
    ) -> Completion:
        self.calls += 1
        self.call_times.append(time.monotonic())
        if self.errors:
            raise self.errors.pop(0)
        return Completion(text=REPLY, model=model, input_tokens=50, output_tokens=20)

    def availability(self) -> Availability:
        return Availability(usable=True, reason="scripted")


def run(
    repo: Path,
    provider: ScriptedProvider | dict[str, ScriptedProvider],
    monkeypatch: pytest.MonkeyPatch,
) -> CodeResult:
    by_name = provider if isinstance(provider, dict) else {"llamacpp": provider}

    def fake_get_provider(name: str, settings: object, **_: object) -> ScriptedProvider:
        return by_name[name]

    monkeypatch.setattr(generate_module, "get_provider", fake_get_provider)
    monkeypatch.setattr(codegen_module, "get_provider", fake_get_provider)
    request = CodeRequest(
        description=f"Add a function add(a, b) that adds two numbers ({repo.name})",
        repo=repo,
        examples=("assert add(2, 3) == 5",),
    )

    async def go() -> CodeResult:
        state = await codegen(request, return_state=True)
        result = await state.aresult(raise_on_failure=False)
        assert isinstance(result, CodeResult)
        return result

    return asyncio.run(go())


def test_a_rate_limited_call_is_retried_and_both_calls_are_in_the_ledger(
    tmp_path: Path, ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = ScriptedProvider([RateLimitedError("429 Too Many Requests", retry_after=5)])
    result = run(create_example_repo(tmp_path / "retry"), provider, monkeypatch)

    assert result.status is RunStatus.COMPLETED, result.reason
    assert provider.calls == 2
    # The provider's Retry-After (5 s) was honoured, not just Prefect's fixed 2 s delay.
    assert provider.call_times[1] - provider.call_times[0] >= 5
    assert result.attempts == 1  # a retry is not an escalation
    calls = CostLedger(ledger_path).calls_for_request(result.request_id)
    assert [call.success for call in calls] == [False, True]
    assert "RateLimitedError" in (calls[0].error or "")


def test_an_authentication_error_is_not_retried_and_the_run_says_why(
    tmp_path: Path, ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = ScriptedProvider([AuthenticationError("the API key was rejected (401)")])
    result = run(create_example_repo(tmp_path / "auth"), provider, monkeypatch)

    assert result.status is RunStatus.FAILED
    assert provider.calls == 1
    assert "the API key was rejected" in result.reason
    [call] = CostLedger(ledger_path).calls_for_request(result.request_id)
    assert not call.success


def test_a_provider_that_keeps_failing_hands_the_request_to_the_next_model(
    tmp_path: Path, ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "FRUGALFLOW_MODELS", '["ollama:qwen2.5-coder", "llamacpp:qwen2.5-coder-0.5b-instruct"]'
    )
    monkeypatch.setenv("FRUGALFLOW_PROVIDER_RETRIES", "1")
    down = ProviderUnavailableError("no Ollama server answers at http://127.0.0.1:11434")
    ollama, local = ScriptedProvider([down, down, down]), ScriptedProvider([])

    result = run(
        create_example_repo(tmp_path / "failover"),
        {"ollama": ollama, "llamacpp": local},
        monkeypatch,
    )

    assert result.status is RunStatus.COMPLETED, result.reason
    assert (ollama.calls, local.calls) == (2, 1)  # first try + 1 retry, then failover
    assert [d.model for d in result.routing] == [
        "ollama:qwen2.5-coder",
        "llamacpp:qwen2.5-coder-0.5b-instruct",
    ]
    assert "failover after ollama:qwen2.5-coder failed" in result.routing[1].reason
    calls = CostLedger(ledger_path).calls_for_request(result.request_id)
    assert [(c.provider, c.success) for c in calls] == [
        ("ollama", False),
        ("ollama", False),
        ("llamacpp", True),
    ]


class ReplyingProvider(ScriptedProvider):
    """Answers each call with the next scripted reply."""

    def __init__(self, replies: Sequence[str]) -> None:
        super().__init__([])
        self.replies = list(replies)

    def complete(
        self,
        model: str,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        on_text: Callable[[str], None] | None = None,
    ) -> Completion:
        self.calls += 1
        return Completion(text=self.replies.pop(0), model=model, input_tokens=30, output_tokens=9)


def test_generated_code_is_renamed_and_documented_before_it_is_committed(
    tmp_path: Path, ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = (
        "```python\ndef addAll(numbers):\n    return sumOf(numbers)\n\n\n"
        "def sumOf(values):\n    total = 0\n    for value in values:\n        total += value\n"
        "    return total\n```"
    )
    docstrings = [
        '"""Add up all the numbers.\n\nArgs:\n    numbers: the numbers to add.\n\n'
        'Returns:\n    Their sum.\n"""',
        '"""Sum the values.\n\nArgs:\n    values: the values.\n\nReturns:\n    The total.\n"""',
    ]
    provider = ReplyingProvider([code, *docstrings])
    repo = create_example_repo(tmp_path / "textkit")
    monkeypatch.setattr(generate_module, "get_provider", lambda name, settings, **_: provider)
    monkeypatch.setattr(codegen_module, "get_provider", lambda name, settings, **_: provider)
    monkeypatch.setattr(document_module, "get_provider", lambda name, settings, **_: provider)
    request = CodeRequest(
        description="Add a function that adds up a list of numbers",
        repo=repo,
        examples=("assert addAll([1, 2, 3]) == 6",),  # a name the user asked for: kept
    )

    async def go() -> CodeResult:
        state = await codegen(request, return_state=True)
        return await state.aresult(raise_on_failure=False)  # type: ignore[no-any-return]

    result = asyncio.run(go())

    assert result.status is RunStatus.COMPLETED, result.reason
    committed = git(repo, "show", f"{result.branch}:{result.files[0]}")
    assert "def addAll(numbers):" in committed  # used by the examples: kept
    assert "def sum_of(values):" in committed and "return sum_of(numbers)" in committed
    # The example repository writes one-line docstrings; the model's sections are dropped.
    assert '"""Add up all the numbers."""' in committed and "Args:" not in committed
    assert result.documentation is not None and result.documentation.completeness == 1.0
    steps = [call.step for call in CostLedger(ledger_path).calls_for_request(result.request_id)]
    assert steps == ["generate", "document", "document"]

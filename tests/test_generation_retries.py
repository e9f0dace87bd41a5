"""Transient provider errors are retried, permanent ones are not, and every call is booked."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx2
import pytest

from frugalflow.cli.example_repo import create_example_repo
from frugalflow.core.errors import (
    AuthenticationError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
)
from frugalflow.core.schemas import CodeRequest, CodeResult, RunStatus, Tier
from frugalflow.core.settings import Settings
from frugalflow.flows.codegen import codegen
from frugalflow.money.ledger import CostLedger
from frugalflow.providers.base import Availability, ChatMessage, Completion
from frugalflow.providers.openai import OpenAIProvider
from tests.support.git import git
from tests.support.http import HttpRecorder
from tests.support.openai_api import CHAT_COMPLETION, completion_with, error

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
    use_providers: Callable[..., None],
) -> CodeResult:
    use_providers(provider if isinstance(provider, dict) else {"llamacpp": provider})
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
    tmp_path: Path,
    ledger_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    use_providers: Callable[..., None],
) -> None:
    provider = ScriptedProvider([RateLimitedError("429 Too Many Requests", retry_after=5)])
    result = run(create_example_repo(tmp_path / "retry"), provider, use_providers)

    assert result.status is RunStatus.COMPLETED, result.reason
    assert provider.calls == 2
    # The provider's Retry-After (5 s) was honoured, not just Prefect's fixed 2 s delay.
    assert provider.call_times[1] - provider.call_times[0] >= 5
    assert result.attempts == 1  # a retry is not an escalation
    calls = CostLedger(ledger_path).calls_for_request(result.request_id)
    assert [call.success for call in calls] == [False, True]
    assert "RateLimitedError" in (calls[0].error or "")


def test_an_authentication_error_is_not_retried_and_the_run_says_why(
    tmp_path: Path,
    ledger_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    use_providers: Callable[..., None],
) -> None:
    provider = ScriptedProvider([AuthenticationError("the API key was rejected (401)")])
    result = run(create_example_repo(tmp_path / "auth"), provider, use_providers)

    assert result.status is RunStatus.FAILED
    assert provider.calls == 1
    assert "the API key was rejected" in result.reason
    [call] = CostLedger(ledger_path).calls_for_request(result.request_id)
    assert not call.success


def test_a_provider_that_keeps_failing_hands_the_request_to_the_next_model(
    tmp_path: Path,
    ledger_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    use_providers: Callable[..., None],
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
        use_providers,
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
    tmp_path: Path,
    ledger_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    use_providers: Callable[..., None],
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
    use_providers({"llamacpp": provider})
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


# -- waits, failover between models of one provider, calls that were never made ---------------


def test_a_provider_asking_to_wait_longer_than_the_cap_is_not_waited_for(
    tmp_path: Path,
    ledger_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    use_providers: Callable[..., None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(
        "FRUGALFLOW_MODELS", '["ollama:qwen2.5-coder", "llamacpp:qwen2.5-coder-0.5b-instruct"]'
    )
    busy = RateLimitedError("ollama:qwen2.5-coder is rate limited (HTTP 429)", retry_after=300)
    ollama, local = ScriptedProvider([busy]), ScriptedProvider([])
    caplog.set_level(logging.INFO, logger="frugalflow.retry")

    result = run(
        create_example_repo(tmp_path / "long-wait"),
        {"ollama": ollama, "llamacpp": local},
        use_providers,
    )

    assert result.status is RunStatus.COMPLETED, result.reason
    assert (ollama.calls, local.calls) == (1, 1)  # not retried: failed over at once
    assert local.call_times[0] - ollama.call_times[0] < 15  # not 300 s, nor the old 120 s cap
    assert "asks for 300 s, more than max_retry_after_seconds (30 s)" in result.routing[1].reason
    assert "not waiting 300 s" in caplog.text
    calls = CostLedger(ledger_path).calls_for_request(result.request_id)
    assert [(c.provider, c.success) for c in calls] == [("ollama", False), ("llamacpp", True)]


def test_a_wait_within_the_cap_says_how_long_and_why(
    tmp_path: Path,
    ledger_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    use_providers: Callable[..., None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("FRUGALFLOW_MAX_RETRY_AFTER_SECONDS", "10")
    provider = ScriptedProvider([RateLimitedError("429 Too Many Requests", retry_after=3)])
    caplog.set_level(logging.INFO, logger="frugalflow.retry")

    result = run(create_example_repo(tmp_path / "short-wait"), provider, use_providers)

    assert result.status is RunStatus.COMPLETED, result.reason
    assert provider.calls == 2
    assert provider.call_times[1] - provider.call_times[0] >= 3
    assert "waiting 3 s before calling again, as asked: 429 Too Many Requests" in caplog.text


CODE_REPLY = completion_with(REPLY)


def openai_by_model(
    answers: dict[str, Callable[[httpx2.Request], httpx2.Response]],
) -> HttpRecorder:
    """An OpenAI API fake that answers each model as told."""
    return HttpRecorder(lambda request: answers[json.loads(request.content)["model"]](request))


def run_openai(
    repo: Path,
    fake: HttpRecorder,
    monkeypatch: pytest.MonkeyPatch,
    use_providers: Callable[..., None],
    **others: ScriptedProvider,
) -> CodeResult:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdefghijklmnopqrstuvwxyzABCD")
    openai = OpenAIProvider(Settings(), http_client=fake.client())
    return run(repo, {"openai": openai, **others}, use_providers)  # type: ignore[dict-item]


def test_a_rate_limited_model_fails_over_to_another_model_of_the_same_provider(
    tmp_path: Path,
    ledger_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    use_providers: Callable[..., None],
) -> None:
    monkeypatch.setenv("FRUGALFLOW_MODELS", '["openai:gpt-4o-mini", "openai:gpt-4o"]')
    monkeypatch.setenv("FRUGALFLOW_PROVIDER_RETRIES", "0")
    monkeypatch.setenv("FRUGALFLOW_CIRCUIT_BREAKER_FAILURES", "1")
    fake = openai_by_model(
        {
            "gpt-4o-mini": error(429, "Rate limit reached for gpt-4o-mini", "requests", None),
            "gpt-4o": lambda request: httpx2.Response(200, json=CODE_REPLY),
        }
    )

    result = run_openai(
        create_example_repo(tmp_path / "same-provider"), fake, monkeypatch, use_providers
    )

    assert result.status is RunStatus.COMPLETED, result.reason
    assert [d.model for d in result.routing] == ["openai:gpt-4o-mini", "openai:gpt-4o"]
    assert [body["model"] for body in fake.bodies()] == ["gpt-4o-mini", "gpt-4o"]
    calls = CostLedger(ledger_path).calls_for_request(result.request_id)
    assert [(c.model, c.success) for c in calls] == [("gpt-4o-mini", False), ("gpt-4o", True)]


def test_a_model_refused_by_a_resting_provider_is_not_booked_as_a_call(
    tmp_path: Path,
    ledger_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    use_providers: Callable[..., None],
) -> None:
    monkeypatch.setenv(
        "FRUGALFLOW_MODELS",
        '["openai:gpt-4o-mini", "openai:gpt-4o", "llamacpp:qwen2.5-coder-0.5b-instruct"]',
    )
    # The paid models first, in this order: a policy that says so, and no learned reordering.
    monkeypatch.setenv(
        "FRUGALFLOW_ROUTING_RULES", '[{"name": "paid-first", "use": ["api", "local"]}]'
    )
    monkeypatch.setenv("FRUGALFLOW_ROUTING_LEARN", "false")
    monkeypatch.setenv("FRUGALFLOW_PROVIDER_RETRIES", "0")
    monkeypatch.setenv("FRUGALFLOW_CIRCUIT_BREAKER_FAILURES", "1")
    down = error(503, "The server is overloaded", "server_error", None)
    fake = openai_by_model({"gpt-4o-mini": down, "gpt-4o": down})
    local = ScriptedProvider([])

    result = run_openai(
        create_example_repo(tmp_path / "resting"), fake, monkeypatch, use_providers, llamacpp=local
    )

    assert result.status is RunStatus.COMPLETED, result.reason
    assert [body["model"] for body in fake.bodies()] == ["gpt-4o-mini"]
    assert [d.model for d in result.routing][-1] == "llamacpp:qwen2.5-coder-0.5b-instruct"
    assert "openai:gpt-4o was not called: openai is resting" in result.routing[-1].reason
    calls = CostLedger(ledger_path).calls_for_request(result.request_id)
    assert [(c.model, c.success) for c in calls] == [
        ("gpt-4o-mini", False),
        ("qwen2.5-coder-0.5b-instruct", True),
    ]


def test_a_malformed_reply_is_retried_then_the_next_model_takes_over(
    tmp_path: Path,
    ledger_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    use_providers: Callable[..., None],
) -> None:
    monkeypatch.setenv("FRUGALFLOW_MODELS", '["openai:gpt-4o-mini", "openai:gpt-4o"]')
    monkeypatch.setenv("FRUGALFLOW_PROVIDER_RETRIES", "1")
    empty = {**CHAT_COMPLETION, "choices": []}
    fake = openai_by_model(
        {
            "gpt-4o-mini": lambda request: httpx2.Response(200, json=empty),
            "gpt-4o": lambda request: httpx2.Response(200, json=CODE_REPLY),
        }
    )

    result = run_openai(
        create_example_repo(tmp_path / "malformed"), fake, monkeypatch, use_providers
    )

    assert result.status is RunStatus.COMPLETED, result.reason
    models = [body["model"] for body in fake.bodies()]
    assert models == ["gpt-4o-mini", "gpt-4o-mini", "gpt-4o"]
    assert "openai:gpt-4o-mini answered without a usable reply" in result.routing[-1].reason
    calls = CostLedger(ledger_path).calls_for_request(result.request_id)
    assert [(c.model, c.success) for c in calls] == [
        ("gpt-4o-mini", False),
        ("gpt-4o-mini", False),
        ("gpt-4o", True),
    ]
    assert "MalformedReplyError" in (calls[0].error or "")

"""End to end: the codegen flow on a real Prefect server, the real embedded model, real git."""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from frugalflow.cli.example_repo import create_example_repo
from frugalflow.core.schemas import CodeRequest, CodeResult, RunStatus
from frugalflow.flows.codegen import codegen
from frugalflow.money.deferred import DeferredStore
from frugalflow.money.ledger import CostLedger
from tests.support.git import git
from tests.support.models import ReplyingModel
from tests.support.money import spend_today

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect_server")]

# The bundled 0.5B model writes this one correctly; it gets slugify wrong (it drops the spaces),
# which makes slugify with an honest example the failing request.
COUNT_WORDS = "Add a function count_words(text) that returns the number of words in text"
COUNT_EXAMPLE = 'assert count_words("a b  c") == 3'
SLUGIFY = "Add a function slugify(text) that turns a title into a URL slug"


def run_flow(request: CodeRequest) -> tuple[str, CodeResult]:
    async def go() -> tuple[str, CodeResult]:
        state = await codegen(request, return_state=True)
        result = await state.aresult(raise_on_failure=False)
        assert isinstance(result, CodeResult), result
        return state.type.value, result

    return asyncio.run(go())


@pytest.mark.model
def test_request_is_committed_on_a_work_branch_and_the_users_work_is_untouched(
    tmp_path: Path, ledger_path: Path
) -> None:
    repo = create_example_repo(tmp_path / "textkit")
    (repo / "README.md").write_text("# textkit\n\nMy unfinished notes.\n")
    status_before = git(repo, "status", "--porcelain")

    state, result = run_flow(
        CodeRequest(description=COUNT_WORDS, repo=repo, examples=(COUNT_EXAMPLE,))
    )

    assert state == "COMPLETED", result.reason
    assert result.status is RunStatus.COMPLETED
    assert result.branch == f"frugalflow/{result.request_id}"
    assert result.files == ("src/textkit/count_words.py",)
    committed = git(repo, "show", f"{result.branch}:src/textkit/count_words.py")
    assert "def count_words(" in committed
    assert "print(" not in committed  # the model's example usage was not placed
    message = git(repo, "log", "-1", "--format=%B", result.branch)
    assert f"Frugalflow-Request: {result.request_id}" in message
    # The user's branch, uncommitted edit and status are exactly as they were.
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert (repo / "README.md").read_text() == "# textkit\n\nMy unfinished notes.\n"
    assert git(repo, "status", "--porcelain") == status_before
    assert not (repo / "src/textkit/count_words.py").exists()
    # One ledger row per model call, each booked to this request and flow run, at $0.
    calls = CostLedger(ledger_path).calls_for_request(result.request_id)
    assert len(calls) == result.attempts >= 1
    assert {call.flow_run_id for call in calls} == {result.flow_run_id}
    assert all(call.success and call.output_tokens > 0 for call in calls)
    assert result.cost_usd == 0
    assert [step.step for step in result.steps][:3] == ["estimate", "budget gate", "context fetch"]
    assert result.steps[-1].step == "cleanup"
    # The run's temp storage is gone, and so is the worktree it committed from.
    assert list(Path(tempfile.gettempdir()).glob(f"frugalflow-{result.request_id}-*")) == []
    assert git(repo, "worktree", "list").count("\n") == 0


@pytest.mark.model
def test_the_same_request_again_is_served_from_the_cache_and_booked_as_a_cache_hit(
    tmp_path: Path, ledger_path: Path
) -> None:
    request = {"description": "Add a function reverse_words(text) that reverses the word order"}
    first_repo = create_example_repo(tmp_path / "first")
    second_repo = create_example_repo(tmp_path / "second")  # same content, same prompt

    _, first = run_flow(CodeRequest(**request, repo=first_repo))
    _, second = run_flow(CodeRequest(**request, repo=second_repo))

    assert first.status is second.status is RunStatus.COMPLETED, (first.reason, second.reason)
    generate_steps = [step for step in second.steps if step.step == "generate"]
    assert [step.cached for step in generate_steps] == [True]
    ledger = CostLedger(ledger_path)
    [real_call] = ledger.calls_for_request(first.request_id)
    [cache_hit] = ledger.calls_for_request(second.request_id)
    assert not real_call.cache_hit and real_call.output_tokens > 0
    assert cache_hit.cache_hit and cache_hit.output_tokens == 0 and cache_hit.actual_cost_usd == 0
    # The cached code was placed all the same, byte for byte.
    assert git(first_repo, "show", f"{first.branch}:{first.files[0]}") == git(
        second_repo, "show", f"{second.branch}:{second.files[0]}"
    )


@pytest.mark.model
def test_code_that_fails_validation_is_not_committed_and_the_result_says_why(
    tmp_path: Path, ledger_path: Path
) -> None:
    repo = create_example_repo(tmp_path / "textkit")
    impossible = 'assert slugify("Hello World") == "no slug looks like this"'
    branches_before = git(repo, "branch", "--list")

    state, result = run_flow(CodeRequest(description=SLUGIFY, repo=repo, examples=(impossible,)))

    assert state == "FAILED"
    assert result.status is RunStatus.FAILED
    assert "nothing was committed" in result.reason
    assert "no slug looks like this" in result.reason  # the failing example is named
    assert result.validation is not None and not result.validation.passed
    assert git(repo, "branch", "--list") == branches_before
    assert list(Path(tempfile.gettempdir()).glob(f"frugalflow-{result.request_id}-*")) == []
    assert result.attempts == 2  # the default cascade: first try, then a repair attempt
    assert "validation feedback" in result.routing[1].reason
    assert len(CostLedger(ledger_path).calls_for_request(result.request_id)) == 2


def test_a_request_the_budget_cannot_pay_is_deferred_without_calling_a_model(
    tmp_path: Path, ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = create_example_repo(tmp_path / "textkit")
    monkeypatch.setenv("FRUGALFLOW_MODELS", '["openai:gpt-4o-mini"]')
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-never-sent")  # no call is made
    monkeypatch.setenv("FRUGALFLOW_DAILY_BUDGET_USD", "2")
    spend_today(ledger_path, "1.57")  # $0.43 left today: under the $1 emergency threshold

    state, result = run_flow(CodeRequest(description=SLUGIFY, repo=repo))

    assert state == "CANCELLED"  # named "Deferred": terminal, and not a green success
    assert result.status is RunStatus.DEFERRED
    assert result.retry_at is not None
    assert "deferred" in result.reason
    assert "$0.43 left" in result.reason
    assert CostLedger(ledger_path).calls_for_request(result.request_id) == []
    [waiting] = DeferredStore(CostLedger(ledger_path)).pending()
    assert waiting.request.request_id == result.request_id


def test_a_request_that_can_never_fit_fails_with_what_to_change_instead_of_waiting(
    tmp_path: Path, ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = create_example_repo(tmp_path / "textkit")
    monkeypatch.setenv("FRUGALFLOW_MODELS", '["openai:gpt-4o-mini"]')
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-never-sent")  # no call is made
    monkeypatch.setenv("FRUGALFLOW_DAILY_BUDGET_USD", "0.43")  # always under the $1 threshold

    state, result = run_flow(CodeRequest(description=SLUGIFY, repo=repo))

    assert state == "FAILED"
    assert result.status is RunStatus.FAILED
    assert "can never run" in result.reason
    assert "($0.43)" in result.reason and "($1.00)" in result.reason
    assert "daily_budget_usd" in result.reason
    assert DeferredStore(CostLedger(ledger_path)).pending() == []  # not deferred forever
    assert CostLedger(ledger_path).calls_for_request(result.request_id) == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"examples": ("count_words",)}, "checks nothing"),
        ({"target": "../outside.py"}, "outside the repository"),
        ({"target": "src/textkit"}, "is a directory"),
        ({"repo_suffix": "/src"}, "subdirectory"),
    ],
)
def test_a_bad_request_from_the_api_fails_before_any_model_call(
    tmp_path: Path, ledger_path: Path, fields: dict[str, object], expected: str
) -> None:
    repo = create_example_repo(tmp_path / "textkit")
    suffix = str(fields.pop("repo_suffix", ""))

    state, result = run_flow(
        CodeRequest.model_validate(
            {"description": COUNT_WORDS, "repo": f"{repo}{suffix}", **fields}
        )
    )

    assert state == "FAILED"
    assert result.status is RunStatus.FAILED
    assert expected in result.reason
    assert result.steps == ()  # not even the estimate ran
    assert not ledger_path.exists()  # nothing was called, nothing was booked


# The 0.5B's wrong answer to this request under the first prompt form (it lowercased one side
# only). The plain form no longer leads the 0.5B there, so the first model is this reply, and
# the stronger model, asked afresh with what failed summarised, is the real 1.5B.
WRONG_PALINDROME = (
    '```python\ndef is_palindrome(text):\n    """Tell whether text reads the same backwards."""\n'
    "    return text.lower() == text[::-1]\n```"
)


@pytest.mark.model
def test_a_failed_attempt_escalates_to_the_stronger_local_model(
    tmp_path: Path,
    ledger_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    use_providers: Callable[..., None],
) -> None:
    wrong = ReplyingModel(WRONG_PALINDROME)
    wrong.name = "ollama"
    use_providers({"ollama": wrong})
    small, large = "ollama:wrong-palindrome", "llamacpp:qwen2.5-coder-1.5b-instruct"
    monkeypatch.setenv("FRUGALFLOW_MODELS", json.dumps([small, large]))
    repo = create_example_repo(tmp_path / "textkit")
    request = CodeRequest(
        description="Add a function is_palindrome(text) that tells whether text reads the "
        "same backwards, ignoring case",
        repo=repo,
        examples=('assert is_palindrome("Level")',),
    )

    state, result = run_flow(request)

    assert state == "COMPLETED", result.reason
    assert [decision.model for decision in result.routing] == [small, large]
    assert result.routing[1].reason.startswith("escalated: attempt 1 failed validation")
    assert [t.passed for t in result.tried] == [False, True]
    calls = CostLedger(ledger_path).calls_for_request(result.request_id)
    assert [f"{c.provider}:{c.model}" for c in calls if c.step == "generate"] == [small, large]
    assert result.cost_usd == 0  # both tiers are free
    committed = git(repo, "show", f"{result.branch}:src/textkit/is_palindrome.py")
    assert "def is_palindrome(" in committed


def test_a_repository_config_that_would_redirect_keys_fails_before_anything_runs(
    tmp_path: Path, ledger_path: Path
) -> None:
    repo = create_example_repo(tmp_path / "textkit")
    (repo / "frugalflow.toml").write_text('openai_base_url = "https://attacker.example/v1"\n')

    state, result = run_flow(CodeRequest(description=SLUGIFY, repo=repo))

    assert state == "FAILED"
    assert "openai_base_url" in result.reason and "may not set" in result.reason
    assert not ledger_path.exists()  # nothing was called, nothing was booked

"""Checks before money: a request that cannot be carried out is refused before any model call.

Each case is a real repository (or a real non-repository) and a real request; the message must
say what to do.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from frugalflow.core.errors import ConfigurationError, FrugalflowError
from frugalflow.core.schemas import (
    CandidateCost,
    CodeRequest,
    Complexity,
    TaskEstimate,
    TaskType,
    Tier,
)
from frugalflow.core.settings import Settings, load_settings
from frugalflow.validation.preflight import check_examples, check_request, why_never_affordable
from tests.support.git import git

MakeRepo = Callable[..., Path]
DESCRIPTION = "Add a function count_words(text) that returns the number of words in text"


@pytest.fixture
def repo(make_git_repo: MakeRepo) -> Path:
    return make_git_repo(
        {"src/pkg/__init__.py": "", "src/pkg/words.py": "X = 1\n", "README.md": "# r\n"}
    )


def refused(repo: Path | str, **fields: object) -> str:
    request = CodeRequest.model_validate({"description": DESCRIPTION, "repo": repo, **fields})
    with pytest.raises(FrugalflowError) as caught:
        check_request(request, Settings())
    return str(caught.value)


def test_a_good_request_passes(repo: Path) -> None:
    request = CodeRequest(
        description=DESCRIPTION,
        repo=repo,
        target="src/pkg/count.py",
        examples=('assert count_words("a b") == 2',),
    )
    check_request(request, Settings())


def test_a_missing_path_is_refused(tmp_path: Path) -> None:
    message = refused(tmp_path / "nope")
    assert "does not exist" in message and "give the path" in message


def test_a_directory_outside_any_repository_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    message = refused(tmp_path / "plain")
    assert "not a git repository" in message and "git init" in message


def test_a_repository_without_commits_is_refused(tmp_path: Path) -> None:
    git(tmp_path, "init", "--quiet")
    assert "no commits" in refused(tmp_path)


def test_a_bare_repository_is_refused(tmp_path: Path) -> None:
    git(tmp_path, "init", "--quiet", "--bare")
    message = refused(tmp_path)
    assert "bare" in message and "clone" in message


def test_a_subdirectory_is_refused_with_the_top_level_suggested(repo: Path) -> None:
    message = refused(repo / "src", target="pkg/count.py")
    assert f"give {repo.resolve()} as the repository" in message
    assert "src/pkg/count.py as the target file" in message  # where the target was meant to go


def test_the_git_directory_itself_is_refused(repo: Path) -> None:
    assert "git's own data" in refused(repo / ".git")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/etc/passwd.py", "absolute"),
        ("../outside.py", "outside the repository"),
        (".git/hooks/x.py", ".git"),
        ("src/pkg", "is a directory"),
        ("src/pkg/", "is a directory"),
        ("src/pkg/count.txt", "does not end in .py"),
        ("src/pkg/caf\udce9.py", "not valid UTF-8"),
        ("src/pkg/a\nb.py", "control character"),
    ],
)
def test_a_bad_target_is_refused(repo: Path, target: str, expected: str) -> None:
    assert expected in refused(repo, target=target)


def test_the_wrong_extension_is_refused_for_the_requested_language(repo: Path) -> None:
    message = refused(repo, target="src/pkg/count.py", language="javascript")
    assert "does not end in .js" in message


@pytest.mark.parametrize(
    ("examples", "expected"),
    [
        (("assert count_words(",), "is not valid Python"),
        (("count_words",), "checks nothing"),
        (('count_words("a b") == 2',), "assert"),
        (("# count_words('a b') == 2",), "no code"),
        (("   ",), "no code"),
        (("import string", "text = 'a b'"), "none of the examples checks anything"),
    ],
)
def test_examples_that_check_nothing_are_refused(examples: tuple[str, ...], expected: str) -> None:
    with pytest.raises(FrugalflowError, match=expected):
        check_examples(examples, "python")


@pytest.mark.parametrize(
    "examples",
    [
        ('assert count_words("a b") == 2',),
        ('count_words("a b")',),  # a call that fails raises
        ("words = 'a b'", "assert count_words(words) == 2"),
        ("import pytest\nwith pytest.raises(TypeError):\n    count_words(None)",),
    ],
)
def test_examples_that_check_something_pass(examples: tuple[str, ...]) -> None:
    check_examples(examples, "python")


def test_examples_in_another_language_are_not_parsed_as_python() -> None:
    check_examples(("console.assert(countWords('a b') === 2)",), "javascript")


def test_examples_on_a_machine_without_a_sandbox_are_refused_before_any_money(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from frugalflow.validation import sandbox

    sandbox.unavailable_reason.cache_clear()
    monkeypatch.setattr(sandbox, "bwrap_executable", lambda: None)
    try:
        message = refused(repo, examples=('assert count_words("a b") == 2',))
        assert "cannot be run here" in message and "install bubblewrap" in message
        # Without examples nothing would run: the request may go on.
        check_request(CodeRequest(description=DESCRIPTION, repo=repo), Settings())
    finally:
        monkeypatch.undo()
        sandbox.unavailable_reason.cache_clear()


def test_an_unknown_model_is_refused_when_the_settings_load(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRUGALFLOW_MODELS", '["nope:model"]')
    with pytest.raises(ConfigurationError, match="unknown provider 'nope'"):
        load_settings(repo)


def test_a_paid_model_without_a_price_is_refused(repo: Path) -> None:
    request = CodeRequest(description=DESCRIPTION, repo=repo)
    with pytest.raises(FrugalflowError, match=r"\[prices\."):
        check_request(request, Settings(models=["openai:no-such-model-anywhere"]))


def test_a_cascade_of_paid_models_without_keys_is_refused(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    request = CodeRequest(description=DESCRIPTION, repo=repo)
    with pytest.raises(FrugalflowError, match="OPENAI_API_KEY is not set"):
        check_request(request, Settings(models=["openai:gpt-4o-mini"]))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    check_request(request, Settings(models=["openai:gpt-4o-mini"]))


def test_git_variables_that_redirect_git_are_refused(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_DIR", os.fspath(repo / ".git"))
    assert "GIT_DIR" in refused(repo)


# -- can the request ever be paid for? ------------------------------------------------------


def estimate(*worst_cases: str) -> TaskEstimate:
    candidates = tuple(
        CandidateCost(
            model=f"openai:model-{index}",
            tier=Tier.API if Decimal(worst) else Tier.LOCAL,
            input_tokens=100,
            expected_output_tokens=100,
            exact_count=True,
            expected_cost_usd=Decimal(worst) / 2,
            worst_case_cost_usd=Decimal(worst),
        )
        for index, worst in enumerate(worst_cases)
    )
    return TaskEstimate(
        task_type=TaskType.CODE_GENERATION,
        language="python",
        complexity=Complexity.SIMPLE,
        input_tokens=100,
        expected_output_tokens=100,
        max_output_tokens=768,
        candidates=candidates,
    )


def request_for(tmp_path: Path) -> CodeRequest:
    return CodeRequest(description=DESCRIPTION, repo=tmp_path)


def test_a_worst_case_above_the_whole_daily_budget_can_never_fit(tmp_path: Path) -> None:
    settings = Settings(daily_budget_usd=Decimal("2"), emergency_threshold_usd=Decimal("0.1"))
    reason = why_never_affordable(request_for(tmp_path), estimate("2.5"), settings)
    assert reason is not None
    assert "$2.50" in reason and "$2.00" in reason
    assert "daily_budget_usd" in reason and "max_output_tokens" in reason


def test_a_budget_under_the_emergency_threshold_with_only_paid_models_can_never_fit(
    tmp_path: Path,
) -> None:
    settings = Settings(daily_budget_usd=Decimal("0.43"), emergency_threshold_usd=Decimal("1"))
    reason = why_never_affordable(request_for(tmp_path), estimate("0.01"), settings)
    assert reason is not None
    assert "$0.43" in reason and "$1.00" in reason and "emergency_threshold_usd" in reason
    assert "0.430000" not in reason


def test_a_project_budget_is_a_window_too(tmp_path: Path) -> None:
    project = request_for(tmp_path).project_name
    settings = Settings(
        project_budgets_usd={project: Decimal("0.5")}, emergency_threshold_usd=Decimal("0.1")
    )
    reason = why_never_affordable(request_for(tmp_path), estimate("0.75"), settings)
    assert reason is not None and f"project:{project}" in reason


@pytest.mark.parametrize(
    "worst_cases",
    [("0.5",), ("0", "5"), ("30", "0.5")],
)
def test_a_request_that_fits_some_day_is_not_refused(
    tmp_path: Path, worst_cases: tuple[str, ...]
) -> None:
    settings = Settings(daily_budget_usd=Decimal("2"), emergency_threshold_usd=Decimal("1"))
    assert why_never_affordable(request_for(tmp_path), estimate(*worst_cases), settings) is None

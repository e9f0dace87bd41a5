"""Estimate: task type, size class at the seed's thresholds, and each candidate's cost."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import genai_prices
import pytest

from frugalflow.core.errors import PricingError
from frugalflow.core.schemas import CodeRequest, Complexity, GenerationContext, TaskType, Tier
from frugalflow.core.settings import Settings
from frugalflow.generation.prompts import build_messages
from frugalflow.money.estimation import count_message_tokens
from frugalflow.money.tokens import count_tokens
from frugalflow.routing.classify import classify_task_type, complexity_of
from frugalflow.tasks.estimate import (
    CONTEXT_ALLOWANCE_TOKENS,
    EXPECTED_OUTPUT_TOKENS,
    estimate_request,
)

LOCAL = "llamacpp:qwen2.5-coder-0.5b-instruct"
MINI = "openai:gpt-4o-mini"


@pytest.mark.parametrize(
    ("description", "task_type"),
    [
        ("Add docstrings to every public function", TaskType.DOCUMENTATION),
        ("document the parser module", TaskType.DOCUMENTATION),
        ("Fix the docs of the CLI", TaskType.DOCUMENTATION),  # documentation wins over editing
        ("Explain why does the cache miss", TaskType.ANALYSIS),
        ("Review the retry logic", TaskType.ANALYSIS),
        ("Refactor the loader into two functions", TaskType.FILE_EDITING),
        ("fix the off-by-one in paginate", TaskType.FILE_EDITING),
        ("Write a changelog entry for 0.2", TaskType.CONTENT_WRITING),
        ("Write a function that returns the n-th prime", TaskType.CODE_GENERATION),
        # words are matched whole: "prefix" is not "fix"
        ("Write a function that adds a prefix to strings", TaskType.CODE_GENERATION),
    ],
)
def test_classify_task_type(description: str, task_type: TaskType) -> None:
    assert classify_task_type(description) is task_type


def test_documentation_request_is_classified_as_documentation() -> None:
    assert classify_task_type("Write documentation for the parser") is TaskType.DOCUMENTATION


@pytest.mark.parametrize(
    ("tokens", "complexity"),
    [
        (0, Complexity.TRIVIAL),
        (99, Complexity.TRIVIAL),
        (100, Complexity.SIMPLE),
        (999, Complexity.SIMPLE),
        (1_000, Complexity.MEDIUM),
        (9_999, Complexity.MEDIUM),
        (10_000, Complexity.COMPLEX),
        (49_999, Complexity.COMPLEX),
        (50_000, Complexity.MASSIVE),
        (1_000_000, Complexity.MASSIVE),
    ],
)
def test_complexity_thresholds(tokens: int, complexity: Complexity) -> None:
    assert complexity_of(tokens) is complexity


def make_request(tmp_path: Path, **changes: object) -> CodeRequest:
    values: dict[str, object] = {
        "description": "Write a function add(a, b) that returns the sum of two numbers",
        "repo": tmp_path,
    }
    return CodeRequest(**{**values, **changes})  # type: ignore[arg-type]


def test_free_local_candidate_costs_nothing_and_api_candidate_is_priced(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, models=[LOCAL, MINI], max_output_tokens=768)
    request = make_request(tmp_path, examples=("assert add(1, 2) == 3",))
    estimate = estimate_request(request, settings)

    # Exact for the OpenAI model: the prompt generation will send, plus the context allowance.
    empty = GenerationContext(language="python", file_layout=(), source_dir=".")
    prompt = [(m.role, m.content) for m in build_messages(request, empty)]
    exact = count_message_tokens("openai:gpt-4o-mini", prompt).tokens + CONTEXT_ALLOWANCE_TOKENS
    assert estimate.candidates[1].input_tokens == exact
    assert estimate.candidates[1].exact_count
    assert estimate.input_tokens >= exact
    assert estimate.complexity is Complexity.TRIVIAL
    assert estimate.expected_output_tokens == EXPECTED_OUTPUT_TOKENS[Complexity.TRIVIAL]
    assert estimate.max_output_tokens == 768
    assert estimate.task_type is TaskType.CODE_GENERATION
    assert estimate.language == "python"

    local, api = estimate.candidates
    assert (local.model, local.tier) == (LOCAL, Tier.LOCAL)
    assert local.expected_cost_usd == 0
    assert local.worst_case_cost_usd == 0

    assert (api.model, api.tier) == (MINI, Tier.API)
    assert 0 < api.expected_cost_usd < api.worst_case_cost_usd

    def catalog(output_tokens: int) -> Decimal:
        return genai_prices.calc_price(
            genai_prices.Usage(input_tokens=estimate.input_tokens, output_tokens=output_tokens),
            model_ref="gpt-4o-mini",
            provider_id="openai",
        ).total_price

    assert api.expected_cost_usd == catalog(EXPECTED_OUTPUT_TOKENS[Complexity.TRIVIAL])
    assert api.worst_case_cost_usd == catalog(768)


def test_examples_count_towards_the_input(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, models=[LOCAL])
    bare = estimate_request(make_request(tmp_path), settings)
    example = "assert add(10, 20) == 30 and add(-1, 1) == 0"
    with_example = estimate_request(make_request(tmp_path, examples=(example,)), settings)
    # The example itself, plus the line that frames it in the prompt.
    assert with_example.input_tokens - bare.input_tokens > count_tokens(example)


def test_expected_output_is_capped_by_max_output_tokens(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, models=[MINI], max_output_tokens=100)
    estimate = estimate_request(make_request(tmp_path), settings)
    assert estimate.expected_output_tokens == 100
    (api,) = estimate.candidates
    assert api.expected_cost_usd == api.worst_case_cost_usd > 0


def test_bigger_request_is_classified_bigger_and_expects_longer_output(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, models=[LOCAL], max_output_tokens=4_000)
    description = "Write a parser for this grammar: " + "rule := term ('+' term)* ; " * 60
    assert 100 <= count_tokens(description) < 1_000
    estimate = estimate_request(make_request(tmp_path, description=description), settings)
    assert estimate.complexity is Complexity.SIMPLE
    assert estimate.expected_output_tokens == 350


def test_explicit_task_type_beats_classification(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, models=[LOCAL])
    request = make_request(
        tmp_path, description="Fix the typo in greet()", task_type=TaskType.CODE_GENERATION
    )
    assert estimate_request(request, settings).task_type is TaskType.CODE_GENERATION
    inferred = estimate_request(make_request(tmp_path, description="Fix the typo"), settings)
    assert inferred.task_type is TaskType.FILE_EDITING


def test_unpriced_paid_model_raises_pricing_error(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, models=[LOCAL, "openai:gpt-does-not-exist"])
    with pytest.raises(PricingError, match="openai:gpt-does-not-exist"):
        estimate_request(make_request(tmp_path), settings)


def test_recorded_usage_teaches_the_input_correction_and_the_reply_length(tmp_path: Path) -> None:
    from frugalflow.money.ledger import CostLedger, ModelCall

    settings = Settings(home=tmp_path, models=[LOCAL], max_output_tokens=768)
    before = estimate_request(make_request(tmp_path), settings).candidates[0]
    # Five earlier local calls: the o200k count was 100 where the model counted 150, and the
    # replies were 40-60 tokens long.
    CostLedger(settings.ledger_file).record_many(
        [
            ModelCall(
                request_id=f"r{index}",
                project="p",
                step="generate",
                provider="llamacpp",
                model="qwen2.5-coder-0.5b-instruct",
                tier=Tier.LOCAL,
                task_type="code_generation",
                estimated_input_tokens=100,
                input_tokens=150,
                output_tokens=output,
            )
            for index, output in enumerate([40, 45, 50, 55, 60])
        ]
    )

    after = estimate_request(make_request(tmp_path), settings).candidates[0]

    assert (
        before.expected_output_tokens == EXPECTED_OUTPUT_TOKENS[Complexity.TRIVIAL]
    )  # the fallback for a trivial request
    assert after.expected_output_tokens == 50  # the recorded median
    assert after.input_tokens == pytest.approx(before.input_tokens * 1.5, abs=2)


def test_the_estimate_counts_the_prompt_that_will_be_sent_context_included(tmp_path: Path) -> None:
    """Issue 11: the demo request was estimated at 1,919 input tokens (an allowance for the
    context) and used 314. In a repository the estimate builds the real prompt instead."""
    from frugalflow.cli.example_repo import create_example_repo
    from frugalflow.tasks.context import fetch_context

    repo = create_example_repo(tmp_path / "repo")
    settings = Settings(home=tmp_path / "home", models=[LOCAL, MINI])
    request = make_request(
        repo, description="Add a function is_palindrome(text) to the text utilities"
    )
    estimate = estimate_request(request, settings)

    context = fetch_context(request)  # what the generation step will be given
    assert context.related_path  # the example repository has related code: a bigger prompt
    prompt = [(m.role, m.content) for m in build_messages(request, context)]
    assert estimate.candidates[1].input_tokens == count_message_tokens(MINI, prompt).tokens
    empty = GenerationContext(language="python", file_layout=(), source_dir=".")
    bare = [(m.role, m.content) for m in build_messages(request, empty)]
    assert estimate.candidates[1].input_tokens < (
        count_message_tokens(MINI, bare).tokens + CONTEXT_ALLOWANCE_TOKENS
    )


def test_the_context_is_built_once_per_repository_state(tmp_path: Path) -> None:
    from frugalflow.cli.example_repo import create_example_repo
    from frugalflow.tasks.context import fetch_context

    repo = create_example_repo(tmp_path / "repo")
    request = make_request(repo, description="Add a function is_palindrome(text)")
    first = fetch_context(request)
    assert fetch_context(request) is first  # the estimate's work, reused
    (repo / "src" / "textkit" / "new_module.py").write_text("def shout(text):\n    return text\n")
    changed = fetch_context(request)
    assert changed is not first
    assert any("new_module.py" in path for path in changed.file_layout)

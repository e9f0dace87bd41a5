"""Offline token estimates, learned corrections and call cost estimates."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from frugalflow.core.errors import PricingError
from frugalflow.core.models import parse_address
from frugalflow.core.settings import PriceOverride
from frugalflow.money.estimation import (
    CORRECTION_BOUNDS,
    TOKENS_PER_MESSAGE,
    TOKENS_PER_REPLY,
    count_input_tokens,
    count_message_tokens,
    estimate_call,
    expected_output_tokens,
    learn_correction,
)
from frugalflow.money.pricing import PriceCatalog
from frugalflow.money.tokens import get_encoding

# cl100k_base and o200k_base split this differently, so a wrong encoding shows.
TEXT = (
    "def средний(числа):\n    # 平均値を返す\n    return sum(числа) / len(числа)  # ½ 😀\n"
    "assert средний([1, 2, 3]) == 2\n"
)


def _count(encoding: str, text: str) -> int:
    return len(get_encoding(encoding).encode(text, disallowed_special=()))


def test_the_sample_text_tells_the_encodings_apart() -> None:
    assert _count("cl100k_base", TEXT) != _count("o200k_base", TEXT)


@pytest.mark.parametrize(
    ("address", "encoding"),
    [
        ("openai:gpt-4o", "o200k_base"),
        ("openai:gpt-4o-mini", "o200k_base"),
        ("openai:chatgpt-4o-latest", "o200k_base"),
        ("openai:gpt-4.1-mini", "o200k_base"),
        ("openai:gpt-5", "o200k_base"),
        ("openai:o1", "o200k_base"),
        ("openai:o3-mini", "o200k_base"),
        ("openai:o4-mini", "o200k_base"),
        ("openai:gpt-4", "cl100k_base"),
        ("openai:gpt-4-turbo", "cl100k_base"),
        ("openai:gpt-3.5-turbo", "cl100k_base"),
    ],
)
def test_openai_counts_are_exact_with_the_family_encoding(address: str, encoding: str) -> None:
    assert count_input_tokens(address, TEXT) == (_count(encoding, TEXT), True)
    assert count_input_tokens(parse_address(address), TEXT).exact


@pytest.mark.parametrize(
    "address",
    [
        "anthropic:claude-3-5-haiku-latest",
        "gemini:gemini-2.0-flash",
        "llamacpp:qwen2.5-coder-0.5b-instruct",
        "ollama:qwen2.5-coder:7b",
        "claude-code:sonnet",
        "openai:gpt-oss-120b",
    ],
)
def test_other_models_get_an_inexact_o200k_count(address: str) -> None:
    assert count_input_tokens(address, TEXT) == (_count("o200k_base", TEXT), False)


@pytest.mark.parametrize(
    ("address", "encoding", "exact"),
    [
        ("openai:gpt-4", "cl100k_base", True),
        ("anthropic:claude-3-5-haiku-latest", "o200k_base", False),
    ],
)
def test_message_framing_is_counted(address: str, encoding: str, exact: bool) -> None:
    messages = [("system", "You write Python."), ("user", TEXT)]
    plain = sum(_count(encoding, role) + _count(encoding, content) for role, content in messages)
    counted = count_message_tokens(address, messages)
    assert counted == (plain + 2 * TOKENS_PER_MESSAGE + TOKENS_PER_REPLY, exact)
    assert (TOKENS_PER_MESSAGE, TOKENS_PER_REPLY) == (3, 3)  # OpenAI's cookbook
    assert count_message_tokens(address, []) == (TOKENS_PER_REPLY, exact)


def test_openai_message_count_matches_the_cookbook_example() -> None:
    # 3 + "user"(1) + "hello world"(2) + 3
    assert count_message_tokens("openai:gpt-4o", [("user", "hello world")]).tokens == 9


def test_correction_needs_five_pairs() -> None:
    pairs = [(100, 150)] * 4
    assert learn_correction(pairs) == 1.0
    assert learn_correction([*pairs, (100, 150)]) == 1.5
    assert learn_correction([]) == 1.0


def test_correction_is_the_median_ratio_and_ignores_zero_estimates() -> None:
    pairs = [(100, 110), (100, 120), (100, 130), (10, 200), (200, 200), (0, 50)]
    assert learn_correction(pairs) == pytest.approx(1.2)  # median of 1.1 1.2 1.3 20 1.0
    # a zero estimate does not count towards the five
    assert learn_correction([(0, 50), (100, 120), (100, 120), (100, 120), (100, 120)]) == 1.0
    # even number of ratios: the mean of the middle two
    assert learn_correction([(100, v) for v in (100, 110, 130, 140, 150, 160)]) == 1.35


def test_correction_is_clamped() -> None:
    low, high = CORRECTION_BOUNDS
    assert (low, high) == (0.5, 3.0)
    assert learn_correction([(10, 100)] * 5) == high
    assert learn_correction([(100, 10)] * 5) == low


def test_expected_output_is_the_median_after_five_samples() -> None:
    assert expected_output_tokens([100, 200, 300, 400], 250, cap=1000) == 250
    assert expected_output_tokens([100, 200, 300, 400, 9000], 250, cap=10_000) == 300
    assert expected_output_tokens([100, 200, 300, 401, 500, 600], 250, cap=1000) == 351  # ceil


def test_expected_output_never_exceeds_the_cap() -> None:
    assert expected_output_tokens([900] * 5, 100, cap=512) == 512
    assert expected_output_tokens([], 2000, cap=512) == 512
    assert expected_output_tokens([], 100, cap=512) == 100


def test_estimate_call_prices_expected_and_worst_case() -> None:
    catalog = PriceCatalog()
    estimate = estimate_call(
        "openai:gpt-4o-mini", TEXT, expected_output=200, max_output=768, catalog=catalog
    )
    tokens = _count("o200k_base", TEXT)
    assert estimate.input_tokens == tokens
    assert estimate.exact
    assert (estimate.expected_output_tokens, estimate.max_output_tokens) == (200, 768)
    assert estimate.expected_cost_usd == catalog.price_call(
        "openai:gpt-4o-mini", input_tokens=tokens, output_tokens=200
    )
    assert estimate.worst_case_cost_usd == catalog.price_call(
        "openai:gpt-4o-mini", input_tokens=tokens, output_tokens=768
    )
    assert estimate.worst_case_cost_usd > estimate.expected_cost_usd > 0


def test_estimate_call_applies_the_correction_rounding_up() -> None:
    catalog = PriceCatalog(
        {"anthropic:my-claude": PriceOverride(input_per_mtok=1, output_per_mtok=1)}
    )
    tokens = _count("o200k_base", TEXT)
    estimate = estimate_call(
        "anthropic:my-claude",
        TEXT,
        correction=1.37,
        expected_output=10,
        max_output=20,
        catalog=catalog,
    )
    assert estimate.input_tokens == math.ceil(tokens * 1.37) > tokens
    assert not estimate.exact
    assert estimate.expected_cost_usd == Decimal(estimate.input_tokens + 10) / 10**6
    # At worst every prompt token is written to Anthropic's prompt cache, at 1.25x the input rate.
    assert estimate.worst_case_cost_usd == (estimate.input_tokens * Decimal("1.25") + 20) / 10**6
    # float noise does not add a token: 10 x 1.1 is 11, not 12
    ten = " ".join(["word"] * 10)
    assert _count("o200k_base", ten) == 10
    assert (
        estimate_call(
            "anthropic:my-claude",
            ten,
            correction=1.1,
            expected_output=0,
            max_output=0,
            catalog=catalog,
        ).input_tokens
        == 11
    )


def test_estimate_call_caps_expected_output_at_max_output() -> None:
    estimate = estimate_call(
        "openai:gpt-4o-mini", TEXT, expected_output=5000, max_output=100, catalog=PriceCatalog()
    )
    assert estimate.expected_output_tokens == 100
    assert estimate.worst_case_cost_usd == estimate.expected_cost_usd


def test_estimate_call_counts_messages_with_framing() -> None:
    messages = [("user", TEXT)]
    estimate = estimate_call(
        "openai:gpt-4o", messages, expected_output=1, max_output=1, catalog=PriceCatalog()
    )
    assert estimate.input_tokens == count_message_tokens("openai:gpt-4o", messages).tokens
    assert estimate.input_tokens > count_input_tokens("openai:gpt-4o", TEXT).tokens


def test_estimate_call_on_free_and_unknown_models() -> None:
    local = estimate_call(
        "llamacpp:qwen2.5-coder-0.5b-instruct",
        TEXT,
        expected_output=100,
        max_output=512,
        catalog=PriceCatalog(),
    )
    assert local.expected_cost_usd == local.worst_case_cost_usd == 0
    assert not local.exact
    with pytest.raises(PricingError, match=r'\[prices\."openai:my-model"\]'):
        estimate_call(
            "openai:my-model", TEXT, expected_output=1, max_output=1, catalog=PriceCatalog()
        )


@pytest.mark.parametrize("correction", [0.0, -1.0, float("nan"), float("inf")])
def test_estimate_call_rejects_a_nonsense_correction(correction: float) -> None:
    with pytest.raises(ValueError, match="correction"):
        estimate_call(
            "openai:gpt-4o",
            TEXT,
            correction=correction,
            expected_output=1,
            max_output=1,
            catalog=PriceCatalog(),
        )

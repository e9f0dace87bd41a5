"""Which model each attempt uses: cheapest allowed first, then escalation or repair."""

from __future__ import annotations

import pytest

from frugalflow.core.errors import RequestError
from frugalflow.core.schemas import QualityMode, Tier, ValidationIssue, ValidationReport
from frugalflow.providers.base import Availability
from frugalflow.routing.cascade import failover_reason, free_model, route_attempt, usable_models

LOCAL = "llamacpp:qwen2.5-coder-0.5b-instruct"
MINI = "openai:gpt-4o-mini"
BIG = "openai:gpt-4o"
CASCADE = (LOCAL, MINI, BIG)

FAILED = ValidationReport(
    passed=False,
    checks=("syntax", "ruff"),
    issues=(
        ValidationIssue(check="ruff", message="F821 Undefined name `c`", line=2),
        ValidationIssue(check="ruff", message="F401 unused", line=1),
    ),
)


def test_first_attempt_takes_the_cheapest_allowed_model() -> None:
    decision = route_attempt(1, CASCADE, allowed=CASCADE)
    assert decision.attempt == 1
    assert decision.model == LOCAL
    assert decision.tier is Tier.LOCAL
    assert decision.reason == "cheapest model the budget allows"
    assert decision.alternatives == (MINI, BIG)


def test_cascade_order_wins_over_the_order_of_allowed() -> None:
    decision = route_attempt(1, CASCADE, allowed=(BIG, MINI))
    assert decision.model == MINI
    assert decision.tier is Tier.API
    assert decision.alternatives == (BIG,)


def test_failed_attempt_escalates_to_the_next_allowed_model_with_feedback() -> None:
    decision = route_attempt(2, CASCADE, allowed=CASCADE, previous=FAILED)
    assert decision.model == MINI
    assert decision.reason.startswith("escalated: attempt 1 failed validation")
    assert "F821 Undefined name `c`" in decision.reason
    assert "F401" not in decision.reason  # only the first issue is quoted


def test_escalation_skips_models_the_budget_refused() -> None:
    decision = route_attempt(2, CASCADE, allowed=(LOCAL, BIG), previous=FAILED)
    assert decision.model == BIG
    assert decision.alternatives == (LOCAL,)


def test_without_a_stronger_model_the_last_one_repairs() -> None:
    decision = route_attempt(3, CASCADE, allowed=(LOCAL,), previous=FAILED)
    assert decision.model == LOCAL
    assert decision.reason.startswith("repair with validation feedback")
    assert "F821" in decision.reason
    assert decision.alternatives == ()


def test_report_without_issues_still_gives_a_reason() -> None:
    empty = ValidationReport(passed=False, checks=("examples",))
    decision = route_attempt(2, (LOCAL, MINI), allowed=(LOCAL, MINI), previous=empty)
    assert decision.model == MINI
    assert "validation failed" in decision.reason


def test_allowed_models_outside_the_cascade_are_never_used() -> None:
    decision = route_attempt(1, (LOCAL, MINI), allowed=("anthropic:claude-3-5-haiku-latest", MINI))
    assert decision.model == MINI


@pytest.mark.parametrize("allowed", [(), ("openai:gpt-4o-unrelated",)])
def test_nothing_allowed_raises(allowed: tuple[str, ...]) -> None:
    with pytest.raises(RequestError, match="no model of the cascade is allowed"):
        route_attempt(1, CASCADE, allowed=allowed)


def test_a_failover_reason_says_why_each_model_was_given_up() -> None:
    reason = failover_reason(
        {
            "openai:gpt-4o-mini": "rate limited (HTTP 429); not waited for: it asks for 300 s",
            "openai:gpt-4o": "openai:gpt-4o was not called: openai is resting",
        },
        "cheapest model the budget allows",
    )
    assert reason.startswith("failover after openai:gpt-4o-mini, openai:gpt-4o failed")
    assert "openai:gpt-4o-mini: rate limited (HTTP 429); not waited for" in reason
    assert "openai:gpt-4o was not called: openai is resting" in reason
    assert reason.endswith("; cheapest model the budget allows")


USABLE = Availability(usable=True, reason="ready")


def test_usable_models_keep_the_allowed_models_that_can_be_used_now_cheapest_first() -> None:
    availability = {
        LOCAL: Availability(usable=False, reason="no llama.cpp server"),
        MINI: USABLE,
        BIG: USABLE,
    }
    assert usable_models(availability, QualityMode.BALANCED) == (MINI, BIG)
    assert usable_models(availability, QualityMode.ECONOMY) == (MINI, BIG)


def test_max_quality_takes_the_strongest_usable_model_only() -> None:
    availability = {LOCAL: USABLE, MINI: USABLE, BIG: Availability(usable=False, reason="no key")}
    assert usable_models(availability, QualityMode.MAX) == (MINI,)


def test_no_usable_model_says_why_each_cannot_be_used() -> None:
    availability = {
        LOCAL: Availability(usable=False, reason="no llama.cpp server"),
        MINI: Availability(usable=False, reason="OPENAI_API_KEY is not set"),
    }
    with pytest.raises(RequestError) as raised:
        usable_models(availability, QualityMode.BALANCED)
    assert str(raised.value) == (
        f"no allowed model can be used now: {LOCAL}: no llama.cpp server; "
        f"{MINI}: OPENAI_API_KEY is not set"
    )


def test_the_free_model_is_the_first_not_paid_per_call() -> None:
    assert free_model((MINI, LOCAL, BIG)) == LOCAL
    assert free_model((MINI, "claude-code:sonnet")) == "claude-code:sonnet"
    assert free_model((MINI, BIG)) is None

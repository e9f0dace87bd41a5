"""Which model each attempt uses: cheapest allowed first, then escalation or repair."""

from __future__ import annotations

import pytest

from frugalflow.core.errors import RequestError
from frugalflow.core.schemas import Tier, ValidationIssue, ValidationReport
from frugalflow.routing.cascade import failover_reason, free_model, route_attempt

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


def test_the_free_model_is_the_first_not_paid_per_call() -> None:
    assert free_model((MINI, LOCAL, BIG)) == LOCAL
    assert free_model((MINI, "claude-code:sonnet")) == "claude-code:sonnet"
    assert free_model((MINI, BIG)) is None


def test_on_a_ladder_a_model_tried_before_repairs_and_a_new_one_escalates() -> None:
    ladder = (LOCAL, MINI, MINI)
    second = route_attempt(2, ladder, allowed=ladder, previous=FAILED, tried=[LOCAL])
    assert second.model == MINI
    assert second.reason.startswith("escalated: attempt 1 failed validation")
    third = route_attempt(3, ladder, allowed=ladder, previous=FAILED, tried=[LOCAL, MINI])
    assert third.model == MINI
    assert third.reason.startswith("repair with validation feedback")
    assert third.alternatives == (LOCAL,)  # each other model once


def test_the_first_attempt_gives_the_plans_reason() -> None:
    decision = route_attempt(1, (MINI,), allowed=(MINI,), first_reason="rule 'x': because")
    assert decision.reason == "rule 'x': because"

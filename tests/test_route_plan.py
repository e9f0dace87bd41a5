"""The request's ladder, planned before any call: the policy's models, ordered by what the
ledger's performance history says, within the budget; and the outcomes it learns from."""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

import pytest

from frugalflow.core.errors import RequestError
from frugalflow.core.schemas import (
    Candidate,
    CodeRequest,
    Complexity,
    QualityMode,
    RoutingDecision,
    TaskSpec,
    TaskType,
    Tier,
)
from frugalflow.core.settings import Settings
from frugalflow.money.ledger import CostLedger
from frugalflow.money.outcomes import AttemptOutcome, outcomes_for_request, record_outcome
from frugalflow.providers.base import Availability
from frugalflow.tasks.budget import check_budget
from frugalflow.tasks.estimate import estimate_request
from frugalflow.tasks.route import RoutePlan, plan_route, record_attempt

LOCAL = "llamacpp:qwen2.5-coder-0.5b-instruct"
MINI = "openai:gpt-4o-mini"
BIG = "openai:gpt-4o"
USABLE = Availability(usable=True, reason="ready")


def request_in(tmp_path: Path, **changes: object) -> CodeRequest:
    values: dict[str, object] = {
        "description": "Write a function add(a, b) that returns the sum of two numbers",
        "repo": tmp_path,
    }
    return CodeRequest(**{**values, **changes})  # type: ignore[arg-type]


def plan(
    tmp_path: Path,
    models: list[str],
    *,
    availability: dict[str, Availability] | None = None,
    **changes: object,
) -> RoutePlan:
    quality = changes.pop("quality", QualityMode.BALANCED)
    settings = Settings(home=tmp_path / "home", models=models, **changes)  # type: ignore[arg-type]
    request = request_in(tmp_path, quality=quality)
    estimated = estimate_request(request, settings)
    gate = check_budget(request, estimated, settings)
    usable = availability or dict.fromkeys(gate.allowed_models, USABLE)
    return plan_route(request, estimated, gate, usable, settings)


def local_candidate(tmp_path: Path, *, seconds: float) -> Candidate:
    """What attempt 1 on the local model generated."""
    return Candidate(
        attempt=1,
        model=LOCAL,
        code="def add(a, b):\n    return a - b\n",
        reply="",
        path=tmp_path / "x.py",
        input_tokens=100,
        output_tokens=20,
        cost_usd=Decimal(0),
        seconds=seconds,
    )


def history(tmp_path: Path, model: str, *, passed: int, failed: int) -> None:
    """Earlier requests' outcomes of ``model`` on the class of ``request_in``'s request."""
    ledger = CostLedger(tmp_path / "home" / "ledger.duckdb")
    for index in range(passed + failed):
        record_outcome(
            ledger,
            AttemptOutcome(
                request_id=f"earlier{index}",
                project="p",
                attempt=1,
                model=model,
                task_type=TaskType.CODE_GENERATION,
                language="python",
                complexity=Complexity.TRIVIAL,
                passed=index < passed,
            ),
        )


def test_with_no_history_the_free_model_comes_first_then_the_cheapest_api_model(
    tmp_path: Path,
) -> None:
    planned = plan(tmp_path, [LOCAL, MINI, BIG], max_attempts=3)
    assert planned.rule == "trivial-or-simple"
    assert planned.ladder == (LOCAL, MINI, BIG)
    assert planned.spec.task_type is TaskType.CODE_GENERATION
    # The ladder's figures: every model weighed, its cost and the priors' probabilities.
    assert [option.model for option in planned.options] == [LOCAL, MINI, BIG]
    assert {option.observations for option in planned.options} == {0}
    assert planned.options[0].success_probability == pytest.approx(0.5)  # local Beta(1, 1)
    assert planned.options[1].success_probability == pytest.approx(0.75)  # API Beta(3, 1)
    assert 0 < planned.expected_cost_usd < planned.worst_case_cost_usd
    assert planned.success_probability == pytest.approx(1 - 0.5 * 0.25 * 0.25)


def test_a_local_model_that_keeps_failing_on_this_class_is_skipped(tmp_path: Path) -> None:
    history(tmp_path, LOCAL, passed=0, failed=12)
    planned = plan(tmp_path, [LOCAL, MINI, BIG], max_attempts=2)
    assert LOCAL not in planned.ladder
    assert planned.ladder == (MINI, BIG)
    local = next(option for option in planned.options if option.model == LOCAL)
    assert local.observations == 12
    assert local.success_probability == pytest.approx(1 / 14)


def test_a_cheap_model_that_keeps_succeeding_is_kept_before_a_dearer_one(tmp_path: Path) -> None:
    history(tmp_path, MINI, passed=20, failed=0)
    history(tmp_path, BIG, passed=2, failed=8)
    planned = plan(tmp_path, [BIG, MINI], max_attempts=2)  # configured dearest first
    assert planned.ladder == (MINI, BIG)


def test_with_learning_off_the_rule_order_is_kept(tmp_path: Path) -> None:
    history(tmp_path, LOCAL, passed=0, failed=12)
    planned = plan(tmp_path, [LOCAL, MINI, BIG], max_attempts=2, routing_learn=False)
    assert planned.ladder == (LOCAL, MINI)
    assert "routing_learn is off" in planned.reason


def test_fewer_models_than_attempts_leaves_repairs_on_the_last_one(tmp_path: Path) -> None:
    planned = plan(tmp_path, [LOCAL], max_attempts=3)
    assert planned.ladder == (LOCAL, LOCAL, LOCAL)
    assert planned.worst_case_cost_usd == 0


def test_no_ladder_costs_more_than_the_money_left(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    roomy = plan(tmp_path / "a", [MINI, BIG], max_attempts=4)
    assert roomy.ladder == (MINI, BIG, BIG, BIG)
    worst = roomy.worst_case_cost_usd
    # Money for two attempts on the dearer model, not for four.
    tight = plan(
        tmp_path / "b",
        [MINI, BIG],
        max_attempts=4,
        daily_budget_usd=worst / 2,
        emergency_threshold_usd=0,
    )
    assert tight.worst_case_cost_usd <= worst / 2
    assert 1 <= len(tight.ladder) < 4


def test_max_quality_puts_every_attempt_on_the_strongest_model(tmp_path: Path) -> None:
    history(tmp_path, MINI, passed=3, failed=7)
    planned = plan(tmp_path, [LOCAL, MINI, BIG], max_attempts=2, quality=QualityMode.MAX)
    assert planned.ladder == (BIG, BIG)


def test_economy_never_plans_a_paid_model(tmp_path: Path) -> None:
    planned = plan(tmp_path, [LOCAL, MINI], max_attempts=3, quality=QualityMode.ECONOMY)
    assert set(planned.ladder) == {LOCAL}


def test_a_policy_that_defers_plans_no_attempt(tmp_path: Path) -> None:
    rules = [{"name": "later", "use": ["subscription", "defer"], "defer_hours": 1}]
    planned = plan(tmp_path, [LOCAL], routing_rules=rules)
    assert planned.ladder == ()
    assert planned.defer_hours == 1
    assert "'later'" in planned.reason


def test_models_that_cannot_be_used_now_are_left_out(tmp_path: Path) -> None:
    availability = {
        LOCAL: Availability(usable=False, reason="no model file"),
        MINI: USABLE,
        BIG: USABLE,
    }
    planned = plan(tmp_path, [LOCAL, MINI, BIG], availability=availability, max_attempts=2)
    assert planned.ladder == (MINI, BIG)


def test_no_usable_model_says_why_each_cannot_be_used(tmp_path: Path) -> None:
    availability = {
        LOCAL: Availability(usable=False, reason="no llama.cpp server"),
        MINI: Availability(usable=False, reason="OPENAI_API_KEY is not set"),
    }
    with pytest.raises(RequestError) as raised:
        plan(tmp_path, [LOCAL, MINI], availability=availability)
    assert str(raised.value) == (
        f"no allowed model can be used now: {LOCAL}: no llama.cpp server; "
        f"{MINI}: OPENAI_API_KEY is not set"
    )


def test_an_attempt_is_recorded_with_its_decision_and_learned_from(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", models=[LOCAL, MINI], max_attempts=2)
    request = request_in(tmp_path)
    planned = plan(tmp_path, [LOCAL, MINI], max_attempts=2)
    decision = RoutingDecision(
        attempt=1,
        model=LOCAL,
        tier=Tier.LOCAL,
        reason=planned.reason,
        rule=planned.rule,
        options=planned.options,
    )
    candidate = local_candidate(tmp_path, seconds=1.25)
    record_attempt(
        request,
        planned.spec,
        decision,
        candidate,
        passed=False,
        repeated=False,
        settings=settings,
        flow_run_id=None,
    )
    [stored] = outcomes_for_request(CostLedger(settings.ledger_file), request.request_id)
    assert (stored.model, stored.passed, stored.latency_ms, stored.rule) == (
        LOCAL,
        False,
        1250,
        "trivial-or-simple",
    )
    assert stored.decision == decision
    again = plan(tmp_path, [LOCAL, MINI], max_attempts=2)
    local = next(option for option in again.options if option.model == LOCAL)
    assert local.observations == 1
    assert local.success_probability == pytest.approx(1 / 3)  # Beta(1, 1) after one failure


def test_an_outcome_the_ledger_cannot_take_is_dropped_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "ledger.duckdb").mkdir()  # a directory where the ledger file should be
    settings = Settings(home=home, models=[LOCAL])
    request = request_in(tmp_path)
    decision = RoutingDecision(attempt=1, model=LOCAL, tier=Tier.LOCAL, reason="r")
    candidate = local_candidate(tmp_path, seconds=0.1)
    spec = TaskSpec(
        task_type=TaskType.CODE_GENERATION, language="python", complexity=Complexity.TRIVIAL
    )
    with caplog.at_level(logging.WARNING, logger="frugalflow.route"):
        record_attempt(
            request,
            spec,
            decision,
            candidate,
            passed=True,
            repeated=False,
            settings=settings,
            flow_run_id=None,
        )
    assert "attempt 1's outcome was not recorded" in caplog.text


def test_the_models_left_off_the_ladder_are_kept_for_failover(tmp_path: Path) -> None:
    planned = plan(tmp_path, [LOCAL, MINI, BIG], max_attempts=1)
    assert planned.ladder == (LOCAL,)
    assert planned.reserve == (MINI, BIG)


def test_the_rules_order_stops_where_the_money_does(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    roomy = plan(tmp_path / "a", [MINI, BIG], max_attempts=3, routing_learn=False)
    assert roomy.ladder == (MINI, BIG, BIG)
    money = (roomy.worst_case_cost_usd * 2 / 3).quantize(Decimal("1e-8"))  # not for all three
    tight = plan(
        tmp_path / "b",
        [MINI, BIG],
        max_attempts=3,
        routing_learn=False,
        daily_budget_usd=money,
        emergency_threshold_usd=0,
    )
    assert tight.worst_case_cost_usd <= money
    assert tight.ladder[0] == MINI
    assert len(tight.ladder) < 3

"""Before and after routing: what the router is given, and what it learns from.

Before the first attempt, :func:`plan_route` gathers the data the router decides on (which of
the models the budget gate allowed can be used now, what an attempt on each is expected to
cost, the performance history of each on this class of tasks, the money left) and asks the
routing package for the request's ladder: the routing policy (:mod:`frugalflow.routing.policy`)
says which models the request may use, or that it waits; the learner
(:mod:`frugalflow.routing.learning`) orders them by the lowest expected cost per validated
success. Routing never calls a provider: the pool's answer about availability is data here.

After each validated attempt, :func:`record_attempt` writes its outcome to the ledger's
performance history (the next requests' routing learns from it) with the decision and its
reasons (what ``frugalflow explain`` prints).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from frugalflow.core.errors import LedgerError
from frugalflow.core.models import parse_address
from frugalflow.core.schemas import (
    BudgetDecision,
    Candidate,
    CodeRequest,
    RouteOption,
    RoutingDecision,
    TaskEstimate,
    TaskSpec,
)
from frugalflow.core.settings import Settings
from frugalflow.money.ledger import CostLedger
from frugalflow.money.outcomes import AttemptOutcome, PerformanceRow, performance, record_outcome
from frugalflow.providers import Availability, get_provider
from frugalflow.providers.pool import get_pool
from frugalflow.routing.ladders import choose_ladder, usable_models
from frugalflow.routing.learning import Belief, LadderOption, posterior, prior_for
from frugalflow.routing.policy import evaluate, policy_from_settings

logger = logging.getLogger("frugalflow.route")


def model_availability(models: tuple[str, ...], settings: Settings) -> dict[str, Availability]:
    """Whether each model can be used now (key, server, CLI, its and its provider's breakers
    closed).

    Args:
        models: ``provider:model`` addresses, in the order the answer keeps.
        settings: the settings the providers are built with.
    """
    pool = get_pool(settings, get_provider)
    addresses = {model: parse_address(model) for model in models}
    return {model: pool.usable(a.provider, a.model) for model, a in addresses.items()}


@dataclass(frozen=True)
class RoutePlan:
    """The request's ladder, decided before its first attempt.

    Attributes:
        spec: the request's class, as the router saw it.
        rule: the routing policy's rule that fired.
        ladder: the model of each attempt, in order (a model may repeat: a repair); empty
            when the request waits or cannot be afforded.
        options: every model weighed, with its expected cost and success probability.
        reason: why, in a sentence or two.
        expected_cost_usd: what climbing the ladder is expected to cost.
        worst_case_cost_usd: the most it can cost (every attempt, each at its worst case).
        success_probability: the chance that some attempt passes validation.
        defer_hours: the policy defers the request for this long; None otherwise.
        reserve: the other models the rule admits, in its order: they take over when a
            ladder model cannot be called (failover), never for an escalation.
    """

    spec: TaskSpec
    rule: str
    ladder: tuple[str, ...]
    options: tuple[RouteOption, ...]
    reason: str
    expected_cost_usd: Decimal = Decimal(0)
    worst_case_cost_usd: Decimal = Decimal(0)
    success_probability: float = 0.0
    defer_hours: float | None = None
    reserve: tuple[str, ...] = ()


def _beliefs(
    spec: TaskSpec, models: tuple[str, ...], settings: Settings
) -> dict[str, tuple[Belief, float]]:
    """Each model's success belief on this class of tasks, and its mean latency (ms)."""
    try:
        rows = performance(
            CostLedger(settings.ledger_file),
            task_type=spec.task_type,
            language=spec.language,
            complexity=spec.complexity,
        )
    except LedgerError as exc:  # no history to learn from: the priors decide
        logger.warning("routing without performance history: %s", exc)
        rows = []
    history: dict[str, PerformanceRow] = {row.model: row for row in rows}
    beliefs = {}
    for model in models:
        configured = settings.routing_priors.get(model)
        prior = prior_for(
            parse_address(model).tier,
            Belief(*configured) if configured is not None else None,
        )
        row = history.get(model)
        if row is None:
            beliefs[model] = (prior, 0.0)
        else:
            beliefs[model] = (posterior(prior, row.attempts, row.successes), row.mean_latency_ms)
    return beliefs


def plan_route(
    request: CodeRequest,
    estimated: TaskEstimate,
    budget: BudgetDecision,
    availability: dict[str, Availability],
    settings: Settings,
) -> RoutePlan:
    """Decide the request's ladder before any call (see the module docstring).

    Args:
        request: the request (its quality mode and cap).
        estimated: its class and each candidate's expected and worst-case cost.
        budget: the budget gate's decision (the models allowed, the money left, emergency).
        availability: whether each allowed model can be used now.
        settings: the policy, ``routing_learn``, ``routing_priors``, ``max_attempts``.

    Raises:
        RequestError: no allowed model can be used now, or no rule admits one and none defers.
    """
    spec = estimated.spec or TaskSpec(
        task_type=estimated.task_type,
        language=estimated.language,
        complexity=estimated.complexity,
        quality=request.quality,
    )
    usable = usable_models(availability)
    costs = {c.model: c for c in estimated.candidates if c.model in usable}
    choice = evaluate(
        policy_from_settings(settings),
        spec,
        models={model: costs[model].expected_cost_usd for model in usable},
        remaining_usd=budget.remaining_usd,
        emergency=budget.emergency,
    )
    if choice.deferred:
        return RoutePlan(spec, choice.rule, (), (), choice.reason, defer_hours=choice.defer_hours)
    beliefs = _beliefs(spec, choice.models, settings)
    options = {
        model: LadderOption(
            model=model,
            expected_cost_usd=costs[model].expected_cost_usd,
            worst_case_cost_usd=costs[model].worst_case_cost_usd,
            belief=beliefs[model][0],
            expected_latency_ms=beliefs[model][1],
        )
        for model in choice.models
    }
    money = budget.remaining_usd
    if request.budget_cap_usd is not None:
        money = min(money, request.budget_cap_usd)
    ladder = choose_ladder(
        list(options.values()),
        slots=settings.max_attempts,
        budget_usd=money,
        quality=request.quality,
        learn=settings.routing_learn,
    )
    how = "learned" if settings.routing_learn else "static"
    reason = f"{choice.reason}; {how} ladder: {ladder.reason}"
    return RoutePlan(
        spec=spec,
        rule=choice.rule,
        ladder=ladder.models,
        options=ladder.to_route_options(),
        reason=reason,
        expected_cost_usd=ladder.expected_cost_usd,
        worst_case_cost_usd=ladder.worst_case_cost_usd,
        success_probability=ladder.success_probability,
        reserve=tuple(model for model in choice.models if model not in ladder.models),
    )


def record_attempt(
    request: CodeRequest,
    spec: TaskSpec,
    decision: RoutingDecision,
    candidate: Candidate,
    *,
    passed: bool,
    repeated: bool,
    settings: Settings,
    flow_run_id: str | None,
) -> None:
    """Add one validated attempt to the performance history, with its routing decision.

    An outcome that cannot be written is logged and dropped: it costs the router one lesson,
    never money (every call's cost is in the ledger or its journal already).
    """
    outcome = AttemptOutcome.from_decision(
        decision,
        request_id=request.request_id,
        flow_run_id=flow_run_id,
        project=request.project_name,
        task_type=spec.task_type,
        language=spec.language,
        complexity=spec.complexity,
        passed=passed,
        repeated=repeated,
        cost_usd=candidate.cost_usd,
        latency_ms=round(candidate.seconds * 1000),
    )
    try:
        record_outcome(CostLedger(settings.ledger_file), outcome)
    except LedgerError as exc:
        logger.warning("attempt %s's outcome was not recorded: %s", decision.attempt, exc)

"""The ladder a request climbs, from the models a routing rule admits: learned or in the rule's
order, with repairs on its last model when it has fewer models than attempts.

:func:`choose_ladder` is what the flow's planning step asks (``frugalflow.tasks.route``): the
data comes in (each admitted model's costs and success belief, the attempts, the money left,
the quality mode), the ladder goes out; nothing here reads the ledger or calls a provider.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Protocol

from frugalflow.core.errors import RequestError
from frugalflow.core.schemas import QualityMode
from frugalflow.routing.learning import Ladder, LadderOption, best_ladder, ladder_from


class Usability(Protocol):
    """Whether a model can be used now, and why not (a provider's ``Availability``)."""

    @property
    def usable(self) -> bool:
        """True when the model can be called now."""
        ...

    @property
    def reason(self) -> str:
        """Why it can or cannot be used (what to do about it)."""
        ...


def usable_models(availability: Mapping[str, Usability]) -> tuple[str, ...]:
    """The models that can be used now, in the order given.

    Raises:
        RequestError: none can; the message gives each one's reason.
    """
    usable = tuple(model for model, state in availability.items() if state.usable)
    if not usable:
        reasons = "; ".join(f"{model}: {state.reason}" for model, state in availability.items())
        raise RequestError(f"no allowed model can be used now: {reasons}")
    return usable


def rule_order_ladder(
    options: Sequence[LadderOption], *, slots: int, budget_usd: Decimal
) -> Ladder:
    """The rule's own order (learning off), as many models as the attempts and the money allow."""
    rungs: list[LadderOption] = []
    spent = Decimal(0)
    for option in options:
        if len(rungs) < slots and spent + option.worst_case_cost_usd <= budget_usd:
            rungs.append(option)
            spent += option.worst_case_cost_usd
    return ladder_from(
        rungs, reason="the rule's order (routing_learn is off)", alternatives=options
    )


def with_repairs(ladder: Ladder, *, slots: int, budget_usd: Decimal) -> Ladder:
    """``ladder`` with its last model repeated (repairs) up to ``slots`` attempts, as far as
    the money allows: fewer models than attempts leaves the last one to try again."""
    if not ladder.models or len(ladder.models) >= slots:
        return ladder
    options = {option.model: option for option in ladder.alternatives}
    last = options[ladder.models[-1]]
    rungs = [options[model] for model in ladder.models]
    worst = ladder.worst_case_cost_usd
    while len(rungs) < slots and worst + last.worst_case_cost_usd <= budget_usd:
        rungs.append(last)
        worst += last.worst_case_cost_usd
    repairs = len(rungs) - len(ladder.models)
    if not repairs:
        return ladder
    reason = f"{ladder.reason}; then {repairs} repair(s) on {last.model}"
    return ladder_from(rungs, reason=reason, alternatives=ladder.alternatives)


def choose_ladder(
    options: Sequence[LadderOption],
    *,
    slots: int,
    budget_usd: Decimal,
    quality: QualityMode,
    learn: bool,
) -> Ladder:
    """The request's ladder over the models a rule admits (``options``, in the rule's order).

    Args:
        options: each admitted model with its costs and success belief.
        slots: the attempts the request may make (``max_attempts``).
        budget_usd: the money left for it (the tightest budget window, or its own cap).
        quality: with learning, ``max`` repeats the likeliest model and ``economy`` keeps
            the free ones (without it, the policy has applied both already).
        learn: order by the lowest expected cost per validated success
            (:func:`~frugalflow.routing.learning.best_ladder`); otherwise the rule's order.
    """
    if learn:
        ladder = best_ladder(options, slots=slots, budget_usd=budget_usd, quality=quality)
    else:  # the policy already kept the free models only (economy) or the strongest (max)
        ladder = rule_order_ladder(options, slots=slots, budget_usd=budget_usd)
    return with_repairs(ladder, slots=slots, budget_usd=budget_usd)

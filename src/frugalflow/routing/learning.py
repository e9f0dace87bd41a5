"""Which models a request's attempts use, and in which order: the best value, learned.

**Beliefs.** A model's chance of passing validation on a class of tasks (task type, language,
complexity) is a Beta posterior: a prior from the model's tier (:func:`prior_for`) updated with
the attempts and validated successes of the performance history (:func:`posterior`); its mean
is the success probability used below. The priors are weak, worth 2 to 4 attempts, so that a
few real outcomes outweigh them (a configured prior replaces the tier's):

* local, ``Beta(1, 1)`` (uniform, strength 2): a user's local model may be a 0.5B or a 72B one.
  On MBPP+ (EvalPerf, ``bench/data``) open models pass 47% (Llama-3-8B) to 87% (Qwen2.5-72B)
  of samples, and the embedded Qwen2.5-Coder 0.5B passes 52 of 89 tasks through the flow.
* subscription and API, ``Beta(3, 1)`` (mean 0.75, strength 4): the hosted models pass 78%
  (gemini-1.5-flash) to 87% (claude-3.5-sonnet) of MBPP+ samples; 0.75 is a little under all
  of them (validation also lints), and the double strength says we know more about them.

**Best value.** A ladder is the ordered models of a request's attempts; each failed validation
escalates to the next. With per-attempt expected cost ``ci`` and success probability ``pi``
(attempts taken as independent), a ladder ``m1 .. mk`` has expected cost ``E = c1 + (1 - p1) c2
+ (1 - p1)(1 - p2) c3 + ...`` (a model is paid only when all before it failed), success
probability ``P = 1 - (1 - p1) ... (1 - pk)`` and cost per validated success ``E / P``.
:func:`best_ladder` takes, among the ladders of distinct models of the fixed length
``min(slots, options)`` that fit the budget, the lowest cost per success; ties go to the higher
success probability, then the shorter expected latency, then the order given. The search is
exact: for a set of models the best order is by ``ci / pi`` (then ``latency / pi``, then the
given order: the exchange argument of sequential search), so only sets are enumerated (at most
``C(12, 6) = 924``), in rational arithmetic so that ties are ties; the tests check it against
every permutation.

Free models: an attempt that costs nothing adds nothing to ``E``, so a free model comes first,
and a ladder of free models costs 0 per success and beats any ladder with a paid model, however
likely that one is to pass: in ``balanced`` mode the free models take the first slots and paid
ones get the slots left (raise ``max_attempts`` to keep room for a paid escalation). As the
length is fixed, a slot given to a model that almost never passes is taken from one that might:
a model whose mean is below ``min_success_probability`` (10%: a local model that failed its
first 9 attempts on a class, 1 in 11) is skipped, unless every option is. That is how a tier
that keeps failing on a class is skipped, free or not.

Budget: a ladder whose summed worst case exceeds the money left is not allowed. The ladder is as
long as the budget allows (the longest ``L <= slots`` whose ``L`` cheapest worst cases fit), and
the best ladder of that length that fits is chosen, leaving the dearest models out; when not
one attempt fits, the ladder is empty and says why, before any call.

Quality: ``economy`` keeps only the options whose worst case is 0; ``max`` puts every attempt on
the option with the highest mean (the dearer on a tie: the stronger, when the history cannot
tell), as many times as the budget allows.

Somewhat over 400 lines, a third of them the docstrings that state the formulas: the beliefs,
the ladder's figures and the search are one decision (the search's order and tie-breaks hold
only with the exact means and figures computed here). Data in, decision out: this module
imports neither the ledger nor the providers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from frugalflow.core.schemas import QualityMode, RouteOption, Tier

MIN_SUCCESS_PROBABILITY = 0.1
MAX_CANDIDATES = 12  # options searched exactly; beyond, the best-ratio ones (see best_ladder)
_USD = Decimal("1e-8")


@dataclass(frozen=True, slots=True)
class Belief:
    """A Beta(alpha, beta) belief in a model's chance of passing validation on one attempt.

    Attributes:
        alpha: prior pseudo-successes plus observed successes; positive.
        beta: prior pseudo-failures plus observed failures; positive.
        observations: real attempts absorbed (the prior's pseudo-observations excluded).
    """

    alpha: float
    beta: float
    observations: int = 0

    def __post_init__(self) -> None:
        for name, value in (("alpha", self.alpha), ("beta", self.beta)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"a Beta belief needs a finite {name} > 0, got {value!r}")
        if self.observations < 0:
            raise ValueError(f"observations cannot be negative, got {self.observations}")

    @property
    def mean(self) -> float:
        """The success probability: ``alpha / (alpha + beta)``."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def strength(self) -> float:
        """``alpha + beta``: how many observations the belief is worth, the prior's included."""
        return self.alpha + self.beta

    def updated(self, successes: int, failures: int) -> Belief:
        """The belief after ``successes`` passed and ``failures`` failed attempts.

        Raises:
            ValueError: a count is negative.
        """
        if successes < 0 or failures < 0:
            raise ValueError(f"counts cannot be negative: {successes} and {failures}")
        return Belief(
            self.alpha + successes, self.beta + failures, self.observations + successes + failures
        )

    def _exact_mean(self) -> Fraction:
        alpha = Fraction(self.alpha)
        return alpha / (alpha + Fraction(self.beta))


TIER_PRIORS: Mapping[Tier, Belief] = {
    Tier.LOCAL: Belief(1.0, 1.0),
    Tier.SUBSCRIPTION: Belief(3.0, 1.0),
    Tier.API: Belief(3.0, 1.0),
}


def prior_for(tier: Tier, configured: Belief | None = None) -> Belief:
    """The prior belief for a model of ``tier`` (see the module docstring for the values).

    Args:
        tier: the model's tier.
        configured: a prior set in the configuration for this model; it wins when given.
    """
    return configured if configured is not None else TIER_PRIORS[tier]


def posterior(prior: Belief, attempts: int, successes: int) -> Belief:
    """The prior updated with a performance history: ``Beta(alpha + s, beta + attempts - s)``.

    Raises:
        ValueError: ``successes`` is negative or more than ``attempts``.
    """
    if not 0 <= successes <= attempts:
        raise ValueError(f"successes must be within 0..attempts, got {successes} of {attempts}")
    return prior.updated(successes, attempts - successes)


@dataclass(frozen=True, slots=True)
class LadderOption:
    """A model a ladder may use, with what one attempt on it is expected to cost.

    Attributes:
        model: the model's address.
        expected_cost_usd: the expected cost of one attempt.
        worst_case_cost_usd: the most one attempt may cost (what the budget reserves).
        belief: its success belief for this class of tasks.
        expected_latency_ms: its expected latency per attempt, for ties (0 when unknown).
    """

    model: str
    expected_cost_usd: Decimal
    worst_case_cost_usd: Decimal
    belief: Belief
    expected_latency_ms: float = 0.0

    def __post_init__(self) -> None:
        if self.expected_cost_usd < 0 or self.worst_case_cost_usd < 0:
            raise ValueError(f"{self.model}: costs cannot be negative")
        if not (math.isfinite(self.expected_latency_ms) and self.expected_latency_ms >= 0):
            raise ValueError(f"{self.model}: latency must be finite and >= 0")

    @property
    def success_probability(self) -> float:
        """The belief's mean."""
        return self.belief.mean


@dataclass(frozen=True, slots=True)
class Ladder:
    """The models of a request's attempts, in order, and what they are expected to give.

    Attributes:
        models: the model of each attempt, in order; empty when nothing can be afforded.
        expected_cost_usd: the expected cost of climbing it (rounded to 8 decimal places).
        worst_case_cost_usd: the summed worst case of every attempt.
        success_probability: the chance that some attempt passes validation.
        cost_per_success: ``expected_cost_usd / success_probability``; None when that is 0.
        reason: why this ladder, in one sentence.
        alternatives: every option that was weighed, in the order given.
    """

    models: tuple[str, ...]
    expected_cost_usd: Decimal
    worst_case_cost_usd: Decimal
    success_probability: float
    cost_per_success: Decimal | None
    reason: str
    alternatives: tuple[LadderOption, ...] = ()

    def to_route_options(self) -> tuple[RouteOption, ...]:
        """The options weighed, as a :class:`RoutingDecision` records them."""
        return tuple(
            RouteOption(
                model=option.model,
                expected_cost_usd=_round(option.expected_cost_usd),
                success_probability=option.success_probability,
                observations=option.belief.observations,
            )
            for option in self.alternatives
        )


def next_in_ladder(ladder: Ladder, tried: Sequence[str]) -> str | None:
    """The model of the next attempt, after the attempts on ``tried`` failed.

    The first rung not yet used, counting a model as many times as it was tried (a ``max``
    ladder repeats one model); None once as many attempts as the ladder has rungs were made,
    since the ladder's worst case is what the budget was checked against.

    Args:
        ladder: the request's ladder.
        tried: the models of the attempts made so far, in order.
    """
    if len(tried) >= len(ladder.models):
        return None
    left = list(tried)
    for model in ladder.models:
        if model in left:
            left.remove(model)
        else:
            return model
    return None


def ladder_from(
    options: Sequence[LadderOption],
    *,
    reason: str,
    alternatives: Sequence[LadderOption] | None = None,
) -> Ladder:
    """The ladder that climbs ``options`` in the order given, with its expected figures.

    For a fixed order (learning off: the routing rule's own order) that still reports what it
    is expected to cost and how likely it is to pass.

    Args:
        options: the rungs, in order (a model may repeat).
        reason: why this ladder.
        alternatives: what was weighed; ``options`` when not given.
    """
    expected, probability, _ = _evaluate([_Rung.of(index, o) for index, o in enumerate(options)])
    return Ladder(
        models=tuple(option.model for option in options),
        expected_cost_usd=_round(expected),
        worst_case_cost_usd=sum((o.worst_case_cost_usd for o in options), Decimal(0)),
        success_probability=float(probability),
        cost_per_success=_round(expected / probability) if probability > 0 else None,
        reason=reason,
        alternatives=tuple(options if alternatives is None else alternatives),
    )


def best_ladder(
    options: Sequence[LadderOption],
    *,
    slots: int,
    budget_usd: Decimal | None,
    quality: QualityMode,
    min_success_probability: float = MIN_SUCCESS_PROBABILITY,
) -> Ladder:
    """The ladder with the lowest expected cost per validated success (see the module doc).

    Args:
        options: the models the routing rule admits, in its order (the last tie-break).
            Each model at most once.
        slots: how many attempts the request may make (``max_attempts``).
        budget_usd: the money left for this request; None for no limit.
        quality: ``economy`` (free options only), ``balanced``, or ``max`` (every attempt on
            the most likely option).
        min_success_probability: options whose posterior mean is below this are skipped,
            unless every option is.

    Returns:
        The ladder; an empty one, with the reason, when no option can be used within the
        budget and the quality mode.

    Raises:
        ValueError: ``slots`` is less than 1 or a model is given twice.
    """
    if slots < 1:
        raise ValueError(f"a ladder needs at least one slot, got {slots}")
    models = [option.model for option in options]
    if len(set(models)) != len(models):
        raise ValueError(f"each model may be given once: {models}")
    alternatives = tuple(options)
    budget = None if budget_usd is None else max(budget_usd, Decimal(0))
    rungs = [_Rung.of(index, option) for index, option in enumerate(options)]
    if quality is QualityMode.ECONOMY:
        rungs = [rung for rung in rungs if rung.option.worst_case_cost_usd == 0]
        if not rungs:
            return ladder_from(
                [],
                reason="economy mode admits free models only, and none is admitted",
                alternatives=options,
            )
    if not rungs:
        return ladder_from([], reason="no model is admitted for this request")
    affordable = [r for r in rungs if budget is None or r.option.worst_case_cost_usd <= budget]
    if not affordable:
        cheapest = min(rung.option.worst_case_cost_usd for rung in rungs)
        return ladder_from(
            [],
            reason=f"no admitted model fits the budget: one attempt may cost up to "
            f"${_show(cheapest)} and ${_show(budget or Decimal(0))} is left",
            alternatives=options,
        )
    if quality is QualityMode.MAX:
        return _max_ladder(affordable, slots, budget, alternatives)

    def likely(among: list[_Rung]) -> list[_Rung]:
        floor = min_success_probability
        return [rung for rung in among if rung.option.success_probability >= floor] or among

    wanted = min(slots, len(likely(rungs)))  # the ladder's length if money were no object
    candidates = likely(affordable)
    skipped = [rung.option for rung in affordable if rung not in candidates]
    if len(candidates) > MAX_CANDIDATES:  # keep the search small: the best ratios are kept
        candidates = sorted(candidates, key=_Rung.order_key)[:MAX_CANDIDATES]
        candidates.sort(key=lambda rung: rung.index)
    length = _affordable_length(candidates, min(slots, len(candidates)), budget)
    best: tuple[tuple[Fraction, Fraction, Fraction, tuple[int, ...]], list[_Rung]] | None = None
    for subset in itertools.combinations(candidates, length):
        if budget is not None and sum(r.option.worst_case_cost_usd for r in subset) > budget:
            continue
        ordered = sorted(subset, key=_Rung.order_key)
        key = _score(ordered)
        if best is None or key < best[0]:
            best = (key, ordered)
    assert best is not None  # the `length` cheapest worst cases fit, by construction
    ladder = ladder_from([rung.option for rung in best[1]], reason="", alternatives=options)
    return replace(ladder, reason=_reason(ladder, wanted, budget, skipped, min_success_probability))


@dataclass(frozen=True, slots=True)
class _Rung:
    """An option with its exact figures, for the search."""

    index: int
    option: LadderOption
    cost: Fraction
    probability: Fraction
    latency: Fraction

    @classmethod
    def of(cls, index: int, option: LadderOption) -> _Rung:
        return cls(
            index=index,
            option=option,
            cost=Fraction(option.expected_cost_usd),
            probability=option.belief._exact_mean(),
            latency=Fraction(option.expected_latency_ms),
        )

    def order_key(self) -> tuple[Fraction, Fraction, int]:
        """Where it goes in the best order of a set: by cost, then latency, per success."""
        return (self.cost / self.probability, self.latency / self.probability, self.index)


def _evaluate(rungs: Sequence[_Rung]) -> tuple[Fraction, Fraction, Fraction]:
    """Expected cost, success probability and expected latency of climbing ``rungs``."""
    expected = latency = Fraction(0)
    reach = Fraction(1)  # the chance that every attempt so far failed
    for rung in rungs:
        expected += reach * rung.cost
        latency += reach * rung.latency
        reach *= 1 - rung.probability
    return expected, 1 - reach, latency


def _score(rungs: Sequence[_Rung]) -> tuple[Fraction, Fraction, Fraction, tuple[int, ...]]:
    """The ladder's rank, lowest best: cost per success, then likelier, faster, given order."""
    expected, probability, latency = _evaluate(rungs)
    return (expected / probability, -probability, latency, tuple(r.index for r in rungs))


def _affordable_length(rungs: Sequence[_Rung], wanted: int, budget: Decimal | None) -> int:
    """The longest ladder up to ``wanted`` rungs whose cheapest worst cases fit ``budget``."""
    if budget is None:
        return wanted
    total, length = Decimal(0), 0
    for worst in sorted(rung.option.worst_case_cost_usd for rung in rungs)[:wanted]:
        total += worst
        if total > budget:
            break
        length += 1
    return length


def _max_ladder(
    rungs: Sequence[_Rung],
    slots: int,
    budget: Decimal | None,
    alternatives: tuple[LadderOption, ...],
) -> Ladder:
    best = min(rungs, key=lambda r: (-r.probability, -r.option.expected_cost_usd, r.index)).option
    worst = best.worst_case_cost_usd
    attempts = slots if budget is None or worst == 0 else min(slots, int(budget // worst))
    trimmed = f", {attempts} of {slots} attempts within the budget" if attempts < slots else ""
    return ladder_from(
        [best] * attempts,
        reason=(
            f"max quality: every attempt on {best.model}, the likeliest to pass "
            f"({best.success_probability:.0%}){trimmed}"
        ),
        alternatives=alternatives,
    )


def _reason(
    ladder: Ladder,
    wanted: int,
    budget: Decimal | None,
    skipped: Sequence[LadderOption],
    floor: float,
) -> str:
    reason = (
        f"{' then '.join(ladder.models)}: the lowest expected cost per validated success "
        f"(${_show(ladder.cost_per_success or Decimal(0))} per success, "
        f"{ladder.success_probability:.0%} likely to pass in {len(ladder.models)} attempt(s), "
        f"${_show(ladder.expected_cost_usd)} expected, "
        f"${_show(ladder.worst_case_cost_usd)} at worst)"
    )
    if len(ladder.models) < wanted:
        reason += (
            f"; {wanted - len(ladder.models)} attempt(s) fewer so that the worst case fits the "
            f"${_show(budget or Decimal(0))} left"
        )
    if skipped:
        reason += f"; skipped as under {floor:.0%} likely to pass on this class: " + ", ".join(
            f"{option.model} ({option.success_probability:.0%})" for option in skipped
        )
    return reason


def _round(value: Fraction | Decimal) -> Decimal:
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    return value.quantize(_USD, rounding=ROUND_HALF_EVEN)


def _show(value: Decimal) -> str:
    """Dollars without trailing zeros or an exponent: ``0.000012``, ``1.5``, ``0``."""
    return format(value.normalize(), "f") if value else "0"

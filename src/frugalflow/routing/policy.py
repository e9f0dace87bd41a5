"""The routing policy: ordered rules that say which models a request may use, or that it waits.

A rule matches a request by its :class:`~frugalflow.core.schemas.TaskSpec` (task type,
language, complexity, quality, analysis depth) and by the money left today; its ``use``
selectors then admit the available models, in the rule's order. Rules are evaluated in order
and the first one that matches and admits a model decides. A rule that matches but whose
selectors find no available model is passed over for the next one (that is how "a local model
when one is available, else the cheapest API model" is written), except that a rule ending with
``defer`` ends the evaluation there: the request is deferred for the rule's ``defer_hours``.
Below the emergency threshold the policy's ``emergency_rules`` are used instead.

Selectors, in a rule's ``use``:

- a tier: ``local``, ``subscription``, ``api``: every available model of that tier;
- a provider: ``openai``, ``gemini``, ``anthropic``, ``claude-code``, ``ollama``,
  ``llamacpp``... (the part before the colon of an address): its available models;
- an address, ``openai:gpt-4o-mini``: that model, when available;
- ``cheapest-api``: the available API model with the lowest expected cost of one attempt;
- ``best-value``: every available model (the learner orders them by expected cost per
  validated success);
- ``defer``, last: nothing now, retry in ``defer_hours``.

Within a selector, models keep the order they are given in (the ``models`` setting's,
cheapest first); a model two selectors admit appears once, where it first does. The admitted
models are also the escalation ladder: after a failed validation the cascade moves down the
list, so a rule that should escalate to a paid model after a local one fails lists both.

The policy decides on data (the available models and their expected cost per attempt, the
money left): it calls no provider and reads no ledger. The rules' schema and their checks at
load time are :class:`frugalflow.core.policy_rules.PolicyRule`'s (settings must be able to
refuse a bad policy, and core may not import routing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from frugalflow.core.errors import RequestError
from frugalflow.core.models import parse_address
from frugalflow.core.policy_rules import (
    BEST_VALUE,
    CHEAPEST_API,
    DEFER,
    SPECIAL_SELECTORS,
    PolicyRule,
    refuse_duplicate_names,
)
from frugalflow.core.schemas import (
    AnalysisDepth,
    Complexity,
    QualityMode,
    TaskSpec,
    TaskType,
    Tier,
)
from frugalflow.core.settings_groups import ModelsAndRouting

__all__ = [
    "BEST_VALUE",
    "CHEAPEST_API",
    "DEFER",
    "SPECIAL_SELECTORS",
    "PolicyChoice",
    "PolicyRule",
    "RoutingPolicy",
    "default_policy",
    "evaluate",
    "policy_from_settings",
    "rule_applies",
]


class RoutingPolicy(BaseModel):
    """The ordered rules, and those used instead in emergency mode.

    Attributes:
        rules: evaluated in order; the first that applies and admits a model decides.
        emergency_rules: used instead of ``rules`` when less than the emergency threshold is
            left today.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: tuple[PolicyRule, ...] = Field(min_length=1)
    emergency_rules: tuple[PolicyRule, ...] = Field(min_length=1)

    @field_validator("rules", "emergency_rules")
    @classmethod
    def _unique_names(cls, rules: tuple[PolicyRule, ...]) -> tuple[PolicyRule, ...]:
        refuse_duplicate_names(rules)
        return rules


class PolicyChoice(BaseModel):
    """What the policy decided for a request.

    Attributes:
        rule: the name of the rule that fired.
        models: the models the request may use, in the rule's order (the escalation
            ladder before learning reorders it), without duplicates; empty when deferred.
        defer_hours: when the deferred request is retried; None unless deferred.
        reason: which rule fired and why, in a sentence.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str
    models: tuple[str, ...]
    defer_hours: float | None = None
    reason: str

    @property
    def deferred(self) -> bool:
        """True when the request waits ``defer_hours`` instead of using a model now."""
        return self.defer_hours is not None


def _rule(name: str, use: Sequence[str], **conditions: object) -> PolicyRule:
    return PolicyRule.model_validate({"name": name, "use": tuple(use), **conditions})


def default_policy() -> RoutingPolicy:
    """The seed's routing rules, in the seed's order.

    1. ``file-editing``: file editing → the subscription CLI tier.
    2. ``trivial-or-simple``: trivial or simple → a local model when one is available, else
       the cheapest API model. The rule also admits the other API models after it: when the
       local model's code fails validation the request must be able to escalate to a paid
       model (the cheapest first), and ``--quality max`` takes the strongest of them.
    3. ``js-ts-code-generation``: JavaScript/TypeScript code generation, more than $5 left →
       the OpenAI tier.
    4. ``content-writing``: content writing, more than $2 left → Gemini.
    5. ``deep-analysis``: deep analysis, more than $10 left → Anthropic.
    6. ``medium-best-value``: medium, more than $3 left → best value from the performance
       history (every available model; the learner orders them).
    7. ``fallback``: otherwise the local model, else deferred for 1 hour.

    Emergency rules (less than the emergency threshold left):

    1. ``emergency-file-editing``: file editing → the subscription CLI tier.
    2. ``emergency-fallback``: otherwise the local model, else deferred for 24 hours.
    """
    return RoutingPolicy(
        rules=(
            _rule("file-editing", ["subscription"], task_types=[TaskType.FILE_EDITING]),
            _rule(
                "trivial-or-simple",
                ["local", CHEAPEST_API, "api"],
                complexities=[Complexity.TRIVIAL, Complexity.SIMPLE],
            ),
            _rule(
                "js-ts-code-generation",
                ["openai"],
                task_types=[TaskType.CODE_GENERATION],
                languages=["javascript", "typescript"],
                min_remaining_usd=Decimal(5),
            ),
            _rule(
                "content-writing",
                ["gemini"],
                task_types=[TaskType.CONTENT_WRITING],
                min_remaining_usd=Decimal(2),
            ),
            _rule(
                "deep-analysis",
                ["anthropic"],
                task_types=[TaskType.ANALYSIS],
                depths=[AnalysisDepth.DEEP],
                min_remaining_usd=Decimal(10),
            ),
            _rule(
                "medium-best-value",
                [BEST_VALUE],
                complexities=[Complexity.MEDIUM],
                min_remaining_usd=Decimal(3),
            ),
            _rule("fallback", ["local", DEFER], defer_hours=1),
        ),
        emergency_rules=(
            _rule("emergency-file-editing", ["subscription"], task_types=[TaskType.FILE_EDITING]),
            _rule("emergency-fallback", ["local", DEFER], defer_hours=24),
        ),
    )


def policy_from_settings(settings: ModelsAndRouting) -> RoutingPolicy:
    """The policy the settings configure: ``routing_rules`` and ``routing_emergency_rules``,
    each replaced by the default policy's when empty."""
    default = default_policy()
    return RoutingPolicy(
        rules=tuple(settings.routing_rules) or default.rules,
        emergency_rules=tuple(settings.routing_emergency_rules) or default.emergency_rules,
    )


def rule_applies(rule: PolicyRule, spec: TaskSpec, remaining_usd: Decimal) -> bool:
    """Whether every condition ``rule`` sets holds for ``spec`` with ``remaining_usd`` left."""
    return (
        (not rule.task_types or spec.task_type in rule.task_types)
        and (not rule.languages or spec.language.lower() in rule.languages)
        and (not rule.complexities or spec.complexity in rule.complexities)
        and (not rule.qualities or spec.quality in rule.qualities)
        and (not rule.depths or spec.depth in rule.depths)
        and (rule.min_remaining_usd is None or remaining_usd > rule.min_remaining_usd)
    )


def _selected(selector: str, models: Mapping[str, Decimal]) -> list[str]:
    """The models of ``models`` (in their order) that one selector admits."""
    if selector == BEST_VALUE:
        return list(models)
    if selector == CHEAPEST_API:
        paid = [model for model in models if parse_address(model).tier is Tier.API]
        return [min(paid, key=lambda model: models[model])] if paid else []
    if selector in {tier.value for tier in Tier}:
        return [model for model in models if parse_address(model).tier == selector]
    if ":" in selector:
        return [selector] if selector in models else []
    return [model for model in models if parse_address(model).provider == selector]


def _admitted(rule: PolicyRule, models: Mapping[str, Decimal]) -> tuple[str, ...]:
    """The models ``rule``'s selectors admit, in the rule's order, each once."""
    admitted: dict[str, None] = {}
    for selector in rule.use:
        if selector != DEFER:
            admitted.update(dict.fromkeys(_selected(selector, models)))
    return tuple(admitted)


def _conditions(rule: PolicyRule, remaining_usd: Decimal) -> str:
    """The conditions a rule sets, in words: "complexity trivial or simple, more than $5 left"."""
    parts = [
        f"{label} {' or '.join(str(value).replace('_', ' ') for value in values)}"
        for label, values in (
            ("task type", rule.task_types),
            ("language", rule.languages),
            ("complexity", rule.complexities),
            ("quality", rule.qualities),
            ("depth", rule.depths),
        )
        if values
    ]
    if rule.min_remaining_usd is not None:
        parts.append(f"more than ${rule.min_remaining_usd} left (${remaining_usd:.2f} left)")
    return ", ".join(parts) or "no condition"


def _task(spec: TaskSpec) -> str:
    """A request's class in words: "trivial code generation in python"."""
    depth = f" ({spec.depth})" if spec.depth is not None else ""
    return f"{spec.complexity} {spec.task_type.replace('_', ' ')}{depth} in {spec.language}"


def _ladder(models: Sequence[str]) -> str:
    """The admitted models in words: "a first, then b, c"."""
    first = f"{models[0]} ({parse_address(models[0]).tier} tier) first"
    return first + (f", then {', '.join(models[1:])}" if len(models) > 1 else "")


def evaluate(
    policy: RoutingPolicy,
    spec: TaskSpec,
    *,
    models: Mapping[str, Decimal],
    remaining_usd: Decimal,
    emergency: bool,
) -> PolicyChoice:
    """Decide which models a request may use, in which order, or that it is deferred.

    Args:
        policy: the routing policy.
        spec: the request's class.
        models: each available model (allowed by the budget and usable now) with the
            expected cost of one attempt on it, cheapest first as configured.
        remaining_usd: what is left of today's budget.
        emergency: less than the emergency threshold is left: ``policy.emergency_rules``
            are used instead of ``policy.rules``.

    Returns:
        The rule that fired, the models it admits (quality ``economy``: free tiers only;
        ``max``: only the strongest, i.e. last, model the rule admits) or the deferral, and
        the reason in a sentence.

    Raises:
        RequestError: no rule applies and admits an available model, and none defers.
    """
    rules = policy.emergency_rules if emergency else policy.rules
    pool = dict(models)
    if spec.quality is QualityMode.ECONOMY:
        pool = {m: cost for m, cost in pool.items() if parse_address(m).tier is not Tier.API}
    mode = "emergency rule" if emergency else "rule"
    passed_over: list[str] = []
    for rule in rules:
        if not rule_applies(rule, spec, remaining_usd):
            continue
        admitted = _admitted(rule, pool)
        why = f"{mode} {rule.name!r} ({_conditions(rule, remaining_usd)}) for {_task(spec)}"
        if passed_over:
            why += f", after {', '.join(passed_over)} found no available model"
        if admitted:
            if spec.quality is QualityMode.MAX:
                admitted = admitted[-1:]
                reason = f"{why}: quality max, only the strongest model it admits, {admitted[0]}"
            else:
                reason = f"{why}: {_ladder(admitted)}"
                if spec.quality is QualityMode.ECONOMY:
                    reason += " (quality economy: free tiers only)"
            return PolicyChoice(rule=rule.name, models=admitted, reason=reason)
        if rule.use[-1] == DEFER:
            wanted = [selector for selector in rule.use if selector != DEFER]
            none = f"no {' or '.join(wanted)} model is available" if wanted else "it defers"
            return PolicyChoice(
                rule=rule.name,
                models=(),
                defer_hours=rule.defer_hours,
                reason=f"{why}: {none}, deferred for {rule.defer_hours:g} h",
            )
        passed_over.append(repr(rule.name))
    available = ", ".join(pool) or "none"
    raise RequestError(
        f"no {mode} of the routing policy admits an available model for {_task(spec)} "
        f"(available: {available}; ${remaining_usd:.2f} left); add a last rule without "
        'conditions, e.g. use = ["local", "defer"] with defer_hours = 1'
    )

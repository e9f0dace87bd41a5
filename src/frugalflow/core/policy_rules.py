"""The routing policy's rules as settings hold them: their schema and their checks at load.

The policy itself (evaluating the rules for a request) is :mod:`frugalflow.routing.policy`'s;
the rules live here, in core, because settings must refuse a bad rule when they load, and core
imports nothing above it.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from frugalflow.core.errors import ConfigurationError
from frugalflow.core.models import PROVIDER_TIERS, parse_address
from frugalflow.core.schemas import AnalysisDepth, Complexity, QualityMode, TaskType, Tier

# The selectors of a routing rule's ``use`` besides tiers, providers and addresses.
CHEAPEST_API = "cheapest-api"  # the API model with the lowest expected cost of one attempt
BEST_VALUE = "best-value"  # every available model; the learner orders them
DEFER = "defer"  # nothing now: retry in ``defer_hours`` (the last selector only)
SPECIAL_SELECTORS = (CHEAPEST_API, BEST_VALUE, DEFER)


def selector_problem(selector: str) -> str | None:
    """Why ``selector`` is not a routing rule selector, or None when it is one.

    A selector is a tier (``local``, ``subscription``, ``api``), a known provider
    (``openai``...), a ``provider:model`` address of a known provider, or one of
    :data:`SPECIAL_SELECTORS`.
    """
    if selector in SPECIAL_SELECTORS or selector in {tier.value for tier in Tier}:
        return None
    if ":" in selector:
        try:
            parse_address(selector)
        except ConfigurationError as exc:
            return str(exc)
        return None
    if selector in PROVIDER_TIERS:
        return None
    return (
        f"unknown selector {selector!r}; use a tier ({', '.join(Tier)}), a provider "
        f"({', '.join(PROVIDER_TIERS)}), a 'provider:model' address, or "
        f"{', '.join(SPECIAL_SELECTORS)}"
    )


class PolicyRule(BaseModel):
    """One rule of the routing policy: when it applies, and which models it admits.

    A rule applies when the request matches every condition it sets (an empty list matches
    anything). Its ``use`` selectors then admit the available models, in order; a rule that
    admits none is passed over for the next one, unless it ends with ``defer``. Evaluation
    is :func:`frugalflow.routing.policy.evaluate`'s.

    Attributes:
        name: names the rule in messages and in ``frugalflow explain``; unique in its list.
        task_types: the task types it applies to (``code_generation``...).
        languages: the languages it applies to (``javascript``...), lower case.
        complexities: the complexity classes it applies to (``trivial``...).
        qualities: the quality modes it applies to (``economy``, ``balanced``, ``max``).
        depths: the analysis depths it applies to (``shallow``, ``deep``); a rule that sets
            them applies to analysis tasks only.
        min_remaining_usd: it applies only when more than this is left of today's budget.
        use: the selectors, in order: tiers, providers, ``provider:model`` addresses,
            ``cheapest-api``, ``best-value``, and last, optionally, ``defer``.
        defer_hours: with ``defer``: when the deferred request is retried.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    task_types: tuple[TaskType, ...] = ()
    languages: tuple[str, ...] = ()
    complexities: tuple[Complexity, ...] = ()
    qualities: tuple[QualityMode, ...] = ()
    depths: tuple[AnalysisDepth, ...] = ()
    min_remaining_usd: Decimal | None = Field(default=None, ge=0, allow_inf_nan=False)
    use: tuple[str, ...]
    defer_hours: float | None = Field(default=None, gt=0, le=24 * 31, allow_inf_nan=False)

    @field_validator("name")
    @classmethod
    def _named(cls, name: str) -> str:
        if not name.strip():
            raise ValueError("the name is blank; give the rule a name")
        return name.strip()

    @field_validator("languages")
    @classmethod
    def _lower(cls, languages: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(language.strip().lower() for language in languages)

    @field_validator("use")
    @classmethod
    def _known_selectors(cls, use: tuple[str, ...]) -> tuple[str, ...]:
        if not use:
            raise ValueError(
                'use is empty; list the models it admits, e.g. use = ["local", "defer"]'
            )
        use = tuple(selector.strip() for selector in use)
        for selector in use:
            problem = selector_problem(selector)
            if problem is not None:
                raise ValueError(problem)
        if DEFER in use[:-1]:
            raise ValueError("'defer' must be the last selector of use: nothing after it is tried")
        return use

    @model_validator(mode="after")
    def _defer_has_hours(self) -> PolicyRule:
        defers = self.use[-1] == DEFER
        if defers and self.defer_hours is None:
            raise ValueError("use ends with 'defer' but defer_hours is not set (e.g. 1)")
        if not defers and self.defer_hours is not None:
            raise ValueError("defer_hours is set but use does not end with 'defer'")
        return self


def duplicate_rule_names(rules: Sequence[PolicyRule]) -> list[str]:
    """The names that more than one of ``rules`` has, in order of first repeat."""
    seen: set[str] = set()
    repeated: list[str] = []
    for rule in rules:
        if rule.name in seen and rule.name not in repeated:
            repeated.append(rule.name)
        seen.add(rule.name)
    return repeated


def refuse_duplicate_names(rules: Sequence[PolicyRule]) -> None:
    """Raise ValueError naming the rules that share a name: each must have its own."""
    repeated = duplicate_rule_names(rules)
    if repeated:
        raise ValueError(
            f"more than one rule is named {', '.join(map(repr, repeated))}; "
            "give each rule its own name"
        )


_RULE = TypeAdapter(PolicyRule)


def parse_rules(tables: Sequence[Any]) -> list[PolicyRule]:
    """Validate rule tables (from TOML, JSON or code), naming the bad rule in the error.

    Args:
        tables: each rule, as a table or a :class:`PolicyRule`.

    Raises:
        ValueError: a rule is invalid, or two rules share a name; the message names the
            rule by its number (from 1, as the file's ``[[...]]`` tables) and its name.
    """
    rules: list[PolicyRule] = []
    for number, table in enumerate(tables, start=1):
        name = table.get("name") if isinstance(table, dict) else getattr(table, "name", None)
        label = f"rule #{number}" + (f" ({name!r})" if name else "")
        try:
            rules.append(_RULE.validate_python(table))
        except ValidationError as exc:
            problems = "; ".join(
                (".".join(str(part) for part in error["loc"]) + ": " if error["loc"] else "")
                + error["msg"].removeprefix("Value error, ")
                for error in exc.errors()
            )
            raise ValueError(f"{label}: {problems}") from None
    refuse_duplicate_names(rules)
    return rules

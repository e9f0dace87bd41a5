"""Which model an attempt uses: the cheapest allowed one first, a stronger one after a failure.

The cascade is the ``models`` setting, cheapest first, filtered by what the budget gate
allowed. Attempt 1 takes the first model. When validation fails, the next attempt takes the next
model of the cascade, asked afresh with what failed summarised; when there is no stronger model
left, the last one gets a repair attempt: its failed code and report, sampled anew (free on
the local tier, and often enough for a small model that missed an import). How each retry's
prompt and sampling differ is the flow's and the prompt's (:class:`frugalflow.core.schemas.Retry`).

Which models the cascade may pick from is decided here too (:func:`usable_models`), from the
budget gate's allowed models and whether each can be used now, taken as data: the router does
not ask the providers itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from frugalflow.core.errors import RequestError
from frugalflow.core.models import parse_address
from frugalflow.core.schemas import QualityMode, RoutingDecision, Tier, ValidationReport

_CAUSE_CHARS = 300


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


def usable_models(availability: Mapping[str, Usability], quality: QualityMode) -> tuple[str, ...]:
    """The models the attempts may use: those allowed that can be used now, cheapest first.

    Args:
        availability: each model the budget gate allowed, cheapest first, with whether it
            can be used now (key, server, CLI, breakers).
        quality: the request's quality mode; ``max`` keeps only the strongest usable model,
            for every attempt.

    Raises:
        RequestError: no allowed model can be used now; the message gives each one's reason.
    """
    allowed = tuple(model for model, state in availability.items() if state.usable)
    if quality is QualityMode.MAX:
        allowed = allowed[-1:]  # the strongest model the budget allows, for every attempt
    if not allowed:
        reasons = "; ".join(f"{model}: {state.reason}" for model, state in availability.items())
        raise RequestError(f"no allowed model can be used now: {reasons}")
    return allowed


def free_model(models: Sequence[str]) -> str | None:
    """The first of ``models`` on a free tier (local or subscription), or None.

    The one that writes missing docstrings: documenting is never worth paying a model for.
    """
    return next((model for model in models if parse_address(model).tier is not Tier.API), None)


def route_attempt(
    attempt: int,
    cascade: Sequence[str],
    allowed: Sequence[str],
    previous: ValidationReport | None = None,
) -> RoutingDecision:
    """Choose the model for ``attempt`` (1-based).

    Args:
        attempt: the attempt number.
        cascade: every configured model, cheapest first.
        allowed: the models the budget gate admitted.
        previous: the failed validation of the previous attempt, if any.

    Raises:
        RequestError: no model of the cascade is allowed.
    """
    if attempt < 1:
        raise ValueError(f"attempts are numbered from 1, not {attempt}")
    usable = [model for model in cascade if model in allowed]
    if not usable:
        raise RequestError("no model of the cascade is allowed by the budget; the request waits")
    index = min(attempt - 1, len(usable) - 1)
    model = usable[index]
    if previous is None:
        reason = "cheapest model the budget allows"
    else:
        first = previous.issues[0].message if previous.issues else "validation failed"
        if index == attempt - 1:
            reason = f"escalated: attempt {attempt - 1} failed validation ({first})"
        else:
            reason = f"repair with validation feedback, no stronger model allowed ({first})"
    return RoutingDecision(
        attempt=attempt,
        model=model,
        tier=parse_address(model).tier,
        reason=reason,
        alternatives=tuple(other for other in usable if other != model),
    )


def failover_reason(failed: Mapping[str, str], reason: str) -> str:
    """The reason of an attempt that takes over from models that failed or were not called.

    Args:
        failed: each model given up on, with why (its error: what failed, or why it was not
            called: a resting breaker, no key, a wait longer than ``max_retry_after_seconds``).
        reason: why the router chose the model that takes over.
    """
    causes = "; ".join(f"{model}: {why[:_CAUSE_CHARS]}" for model, why in failed.items())
    return f"failover after {', '.join(failed)} failed ({causes}); {reason}"

"""Which model an attempt uses: the next rung of the request's ladder.

The ladder is decided before the first attempt (the routing policy's admitted models, ordered
by :mod:`frugalflow.routing.learning`; see :func:`frugalflow.tasks.route.plan_route`). Attempt
N takes its N-th rung among the models still allowed (a model that failed over is skipped).
A rung on a model not tried yet for the request is an escalation, asked afresh with what failed
summarised; a rung on a model tried before (the ladder repeats its last model when it has
fewer models than attempts) is a repair: its failed code and report, sampled anew (free on
the local tier, and often enough for a small model that missed an import). How each retry's
prompt and sampling differ is the flow's and the prompt's (:class:`frugalflow.core.schemas.Retry`).

Which models the ladder holds is decided before the first attempt, on data: the budget gate's
allowed models and whether each can be used now (the router does not ask the providers itself).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from frugalflow.core.errors import RequestError
from frugalflow.core.models import parse_address
from frugalflow.core.schemas import RoutingDecision, Tier, ValidationReport

_CAUSE_CHARS = 300


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
    *,
    tried: Sequence[str] = (),
    first_reason: str = "cheapest model the budget allows",
) -> RoutingDecision:
    """Choose the model for ``attempt`` (1-based).

    Args:
        attempt: the attempt number.
        cascade: the models of the attempts in order (the request's ladder, where a model may
            repeat for a repair; or every configured model, cheapest first).
        allowed: the models that may still be used (the budget gate's, less those that
            failed over).
        previous: the failed validation of the previous attempt, if any.
        tried: the models of the attempts made so far: choosing one of them again is a
            repair, another one an escalation. When not given, an attempt past the end of
            the cascade is the repair.
        first_reason: the reason of attempt 1 (why the ladder starts where it does).

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
        reason = first_reason
    else:
        first = previous.issues[0].message if previous.issues else "validation failed"
        repair = model in tried if tried else index != attempt - 1
        if repair:
            reason = f"repair with validation feedback, no other model left on the ladder ({first})"
        else:
            reason = f"escalated: attempt {attempt - 1} failed validation ({first})"
    return RoutingDecision(
        attempt=attempt,
        model=model,
        tier=parse_address(model).tier,
        reason=reason,
        alternatives=tuple(other for other in dict.fromkeys(usable) if other != model),
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

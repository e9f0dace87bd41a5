"""Step 4, routed generation: one metered model call, code extracted from its reply.

The call goes through the meter (:mod:`frugalflow.money.metering`): reserved, priced and
booked, the failed ones too, at the moment it ends, so that no cost is lost if a later step
fails. The candidate code goes to the run's private temp directory, never straight into the
user's repository.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from frugalflow.conform.naming import demanded_names
from frugalflow.core.errors import CallRefusedError, ProviderError, SlotTimeoutError
from frugalflow.core.models import parse_address
from frugalflow.core.schemas import (
    Candidate,
    CodeRequest,
    GenerationContext,
    Retry,
    RoutingDecision,
    Tier,
)
from frugalflow.core.settings import Settings
from frugalflow.generation.imports import expand_star_imports
from frugalflow.generation.prompts import build_messages, generation_fingerprint, importable_names
from frugalflow.generation.replies import (
    add_missing_imports,
    drop_known_definitions,
    drop_shadowed_imports,
    extract_code,
)
from frugalflow.money.metering import Booking, Meter
from frugalflow.tasks import pooled_send, retry_only_transient, step, too_long_to_wait

if TYPE_CHECKING:
    from prefect.context import TaskRunContext


def generation_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Prefect cache key: the exact model, prompt and sampling settings of the call."""
    settings: Settings = parameters["settings"]
    retry: Retry | None = parameters.get("retry")
    messages = build_messages(parameters["request"], parameters["context"], retry)
    return generation_fingerprint(
        parameters["decision"].model,
        messages,
        settings,
        temperature=sampling_temperature(settings, retry),
        seed=retry.seed if retry else None,
    )


def sampling_temperature(settings: Settings, retry: Retry | None) -> float:
    """A repair samples at ``retry_temperature``; every other call at ``temperature``."""
    return (
        settings.retry_temperature if retry is not None and retry.repair else settings.temperature
    )


def generate_candidate(
    request: CodeRequest,
    context: GenerationContext,
    decision: RoutingDecision,
    settings: Settings,
    workdir: Path,
    *,
    task_type: str = "code_generation",
    expected_output_tokens: int | None = None,
    flow_run_id: str | None = None,
    retry: Retry | None = None,
) -> Candidate:
    """Ask the routed model for code and keep what it wrote in temp storage.

    On a retry the prompt says what failed (:func:`build_messages`); a repair (the same model
    again) samples at ``retry_temperature`` with the retry's seed, so that it never returns
    the same sample that failed.

    A paid call first reserves its worst-case cost (atomically, across processes); the
    reservation is settled with the priced call, or released if the call fails. Every call
    that was sent is booked, the failed ones too; a model refused before anything was sent
    (a resting circuit breaker, no key, every slot busy) is not a call and is not booked.

    Raises:
        BudgetExceededError: concurrent runs used the money the budget gate saw; the request
            is deferred.
        CallRefusedError: the model was not called (see above); the flow fails over.
        ProviderError: the call failed (``retryable`` tells the task whether to retry). When
            the provider asks to wait longer than ``max_retry_after_seconds``, the message
            says so: the task does not wait, and the flow fails over.
    """
    address = parse_address(decision.model)
    send, pool = pooled_send(
        address,
        settings,
        Path(request.repo),
        temperature=sampling_temperature(settings, retry),
        seed=retry.seed if retry else None,
    )
    if address.tier is Tier.API:
        # Cheap for paid providers (a key lookup, cached): a model without a key, or resting,
        # is refused here rather than booked as a failed call.
        pool.refuse_if_unusable(address.provider, address.model)
    meter = Meter(decision.model, Booking(request, "generate", task_type, flow_run_id), settings)
    messages = build_messages(request, context, retry)
    try:
        metered = meter.call(
            messages,
            send,
            max_tokens=settings.max_output_tokens,
            expected_output_tokens=expected_output_tokens,
        )
    except (CallRefusedError, SlotTimeoutError):
        raise
    except ProviderError as exc:
        if too_long_to_wait(exc, settings.max_retry_after_seconds):
            exc.args = (
                f"{exc}; not waited for: it asks for {exc.retry_after:g} s, more than "
                f"max_retry_after_seconds ({settings.max_retry_after_seconds:g} s)",
            )
        raise
    reply = metered.completion
    code = extract_code(reply.text, request.language)
    if request.language == "python":
        known = importable_names(context)
        demanded = demanded_names(request.description, request.examples)
        code = drop_known_definitions(expand_star_imports(code), known, demanded)
        code = add_missing_imports(drop_shadowed_imports(code), known)
    path = workdir / f"attempt-{decision.attempt}" / "candidate.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(code)
    return Candidate(
        attempt=decision.attempt,
        model=decision.model,
        code=code,
        reply=reply.text,
        path=path,
        input_tokens=metered.input_tokens,
        output_tokens=metered.output_tokens,
        cost_usd=metered.cost_usd,
        seconds=reply.seconds,
    )


generate = step(
    "generate",
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=retry_only_transient,
    cache_key_fn=generation_cache_key,
    cache_expiration=timedelta(days=7),
    persist_result=True,
)(generate_candidate)

"""Step 4, routed generation: one model call, priced, written to the ledger, code extracted.

Every call is recorded, the failed ones too, at the moment it ends, so that no cost is lost if
a later step fails. The candidate code goes to the run's private temp directory, never straight
into the user's repository.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any

from prefect.context import TaskRunContext

from frugalflow.core.errors import (
    BudgetExceededError,
    CallRefusedError,
    LedgerError,
    ProviderError,
    SlotTimeoutError,
)
from frugalflow.core.models import parse_address
from frugalflow.core.schemas import (
    Candidate,
    CodeRequest,
    GenerationContext,
    RoutingDecision,
    Tier,
    ValidationReport,
)
from frugalflow.core.settings import Settings
from frugalflow.generation.replies import add_missing_imports, extract_code
from frugalflow.money.budget import BudgetManager, Reservation, usd
from frugalflow.money.estimation import count_input_tokens, count_message_tokens, learned_estimate
from frugalflow.money.ledger import CostLedger, ModelCall, rows_refused
from frugalflow.money.pricing import PriceCatalog
from frugalflow.placement.merge import top_level_names
from frugalflow.providers import ChatMessage, get_provider
from frugalflow.providers.pool import get_pool
from frugalflow.tasks import retry_only_transient, step, too_long_to_wait

CACHE_VERSION = "generate-v3"
_FENCE_TAG = {"python": "python", "javascript": "javascript", "typescript": "typescript"}


def build_messages(
    request: CodeRequest,
    context: GenerationContext,
    *,
    previous_code: str | None = None,
    feedback: ValidationReport | None = None,
) -> list[ChatMessage]:
    """The prompt: the repository's conventions and related code, the task, any feedback."""
    tag = _FENCE_TAG.get(request.language, request.language)
    naming = context.naming
    system = (
        f"You are a careful {request.language} developer adding code to an existing repository. "
        "Write only the new code that was asked for: the imports it needs and its definitions. "
        f"Follow the repository's conventions: functions in {naming.function_style}, classes in "
        f"{naming.class_style}, constants in {naming.constant_style}. Give every public function "
        "and class a docstring. Do not write tests, example usage, print calls or explanations. "
        f"Answer with a single ```{tag} code block."
    )
    parts = ["Repository files:\n" + "\n".join(context.file_layout)]
    if context.related_path and context.related_source:
        parts.append(
            f"The most related existing module, {context.related_path}:\n"
            f"```{tag}\n{context.related_source}\n```"
        )
    parts.append(f"Task: {request.description}")
    if request.examples:
        parts.append(
            "The code must pass:\n```" + tag + "\n" + "\n".join(request.examples) + "\n```"
        )
    if previous_code is not None and feedback is not None:
        # Tried on the bundled models (is_palindrome, which the 0.5B first gets wrong): shown
        # the failed code inside the task with its report and "find the bug", both the 0.5B
        # and the 1.5B fixed it; given it as their own earlier answer (an assistant turn),
        # both repeated it.
        parts.append(
            f"A previous attempt wrote:\n```{tag}\n{previous_code}```\n"
            f"It failed validation:\n{feedback.feedback()}\n"
            "Find the bug and write a correct solution."
        )
    messages = [
        ChatMessage(role="system", content=system),
        ChatMessage(role="user", content="\n\n".join(parts)),
    ]
    return messages


def python_module_name(path: str) -> str | None:
    """The dotted name a Python file is imported by (``src/textkit/strings.py`` ->
    ``textkit.strings``), or None for a file that is not a ``.py`` module."""
    pure = PurePosixPath(path)
    if pure.suffix != ".py":
        return None
    parts = list(pure.with_suffix("").parts)
    if len(parts) > 1 and parts[0] == "src":
        parts = parts[1:]  # the src layout: src/ itself is not a package
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or None


def importable_names(context: GenerationContext) -> dict[str, str]:
    """Public top-level names of the related module the model was shown -> its module."""
    if not context.related_path or not context.related_source:
        return {}
    module = python_module_name(context.related_path)
    if module is None:
        return {}
    try:
        names = top_level_names(context.related_source)
    except (SyntaxError, ValueError):
        return {}
    return {name: module for name in names if not name.startswith("_")}


def generation_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Prefect cache key: the exact model, prompt and sampling settings of the call."""
    request: CodeRequest = parameters["request"]
    settings: Settings = parameters["settings"]
    messages = build_messages(
        request,
        parameters["context"],
        previous_code=parameters.get("previous_code"),
        feedback=parameters.get("feedback"),
    )
    payload = {
        "version": CACHE_VERSION,
        "model": parameters["decision"].model,
        "messages": [message.model_dump() for message in messages],
        "max_tokens": settings.max_output_tokens,
        "temperature": settings.temperature,
        "local_model_path": str(settings.local_model_path or ""),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


# Reserving for a prompt whose count is not exact (every vendor but OpenAI tokenizes
# differently) keeps a margin on top of the learned correction: the reservation must be an
# upper bound, or concurrent runs could overspend.
INEXACT_COUNT_MARGIN = 1.2
SETTLE_ATTEMPTS = 3
logger = logging.getLogger("frugalflow.generate")


def check_request_cap(request: CodeRequest, ledger: CostLedger, worst_case: Decimal) -> None:
    """Refuse a call that could take the request past its own ``budget_cap_usd``.

    Raises:
        BudgetExceededError: what the request already spent plus this call's worst case is
            more than its cap; the request is deferred like any unaffordable one.
    """
    if request.budget_cap_usd is None or worst_case == 0:
        return
    spent = sum(
        (call.actual_cost_usd for call in ledger.calls_for_request(request.request_id)),
        Decimal(0),
    )
    if spent + worst_case > request.budget_cap_usd:
        raise BudgetExceededError(
            f"this call could cost {usd(worst_case)} and the request has spent {usd(spent)} of "
            f"its {usd(request.budget_cap_usd)} cap; raise --budget-cap or use a cheaper model",
            remaining_usd=max(request.budget_cap_usd - spent, Decimal(0)),
        )


def settle_durably(manager: BudgetManager, reservation: Reservation, call: ModelCall) -> None:
    """Settle a reservation, retrying a busy or failing ledger: a cost must not be lost.

    When the ledger still fails after the retries, the settlement is journaled (see
    :mod:`frugalflow.money.ledger`) and booked by the next run that can write the ledger; the
    reservation keeps counting until then, so the budget still sees the money.

    Raises:
        LedgerError: the ledger refused the row (see :func:`~frugalflow.money.ledger.rows_refused`),
            or neither the ledger nor any journal could be written; then the call is logged in
            full (usage and cost, never the prompt or a key).
    """
    for attempt in range(SETTLE_ATTEMPTS):
        try:
            manager.settle(reservation, call)
            return
        except LedgerError as exc:
            if rows_refused(exc):  # a bug (the call was booked already), not a ledger to wait for
                raise
            if attempt == SETTLE_ATTEMPTS - 1:
                manager.ledger.journal_settlement(call, reservation.reservation_id, cause=exc)
                return
            time.sleep(2**attempt)


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
    previous_code: str | None = None,
    feedback: ValidationReport | None = None,
) -> Candidate:
    """Ask the routed model for code and keep what it wrote in temp storage.

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
    provider = get_provider(address.provider, settings, repo=Path(request.repo))
    pool = get_pool(settings, get_provider)
    if address.tier is Tier.API:
        # Cheap for paid providers (a key lookup, cached): a model without a key, or resting,
        # is refused here rather than booked as a failed call.
        pool.refuse_if_unusable(address.provider, address.model)
    messages = build_messages(request, context, previous_code=previous_code, feedback=feedback)
    prompt = [(message.role, message.content) for message in messages]
    catalog = PriceCatalog(settings.prices)
    ledger = CostLedger(settings.ledger_file)
    manager = BudgetManager(ledger, settings)
    counted = count_message_tokens(address, prompt)
    expected = learned_estimate(
        address,
        prompt,
        history=ledger,
        task_type=task_type,
        fallback_output=expected_output_tokens or settings.max_output_tokens,
        max_output=settings.max_output_tokens,
        catalog=catalog,
    )
    margin = 1.0 if counted.exact else max(expected.correction, 1.0) * INEXACT_COUNT_MARGIN
    worst_case = catalog.price_call(
        address,
        input_tokens=math.ceil(counted.tokens * margin),
        output_tokens=settings.max_output_tokens,
    )
    check_request_cap(request, ledger, worst_case)
    reservation = manager.reserve(
        request_id=request.request_id,
        project=request.project_name,
        model=decision.model,
        amount_usd=worst_case,
    )
    call = {
        "flow_run_id": flow_run_id,
        "request_id": request.request_id,
        "project": request.project_name,
        "step": "generate",
        "provider": address.provider,
        "model": address.model,
        "tier": address.tier,
        "task_type": task_type,
        "estimated_input_tokens": counted.tokens,
        "estimated_output_tokens": expected.expected_output_tokens,
        "estimated_cost_usd": expected.expected_cost_usd,
        "price_catalog": catalog.version,
    }
    started = time.perf_counter()
    try:
        # Through the pool: its circuit breaker rests a failing provider, and its slots keep a
        # laptop's local model to the calls it can serve at once.
        completion = pool.call(
            address.provider,
            address.model,
            messages,
            max_tokens=settings.max_output_tokens,
            temperature=settings.temperature,
            provider=provider,
        )
    except (CallRefusedError, SlotTimeoutError) as exc:  # nothing was sent: not a call
        manager.release(reservation)
        exc.provider = exc.provider or decision.model
        raise
    except Exception as exc:  # anything, even an SDK error no adapter translated: book it
        manager.release(reservation)
        ledger.record(
            ModelCall(
                **call,
                latency_ms=round((time.perf_counter() - started) * 1000),
                success=False,
                error=f"{type(exc).__name__}: {exc}",  # redacted and cut by ModelCall
            )
        )
        if isinstance(exc, ProviderError) and not exc.provider:
            exc.provider = decision.model
        if isinstance(exc, ProviderError) and too_long_to_wait(
            exc, settings.max_retry_after_seconds
        ):
            exc.args = (
                f"{exc}; not waited for: it asks for {exc.retry_after:g} s, more than "
                f"max_retry_after_seconds ({settings.max_retry_after_seconds:g} s)",
            )
        raise
    input_tokens, output_tokens = completion.input_tokens, completion.output_tokens
    if address.tier is Tier.API and input_tokens == 0 and output_tokens == 0:
        # A paid call whose response carried no usage (a proxy stripped it): count it rather
        # than book it as free.
        input_tokens = counted.tokens
        output_tokens = count_input_tokens(address, completion.text).tokens
    cost = catalog.price_call(
        address,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_tokens=min(completion.cached_tokens, input_tokens),
    )
    settle_durably(
        manager,
        reservation,
        ModelCall(
            **call,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_tokens=min(completion.cached_tokens, input_tokens),
            actual_cost_usd=cost,
            latency_ms=round(completion.seconds * 1000),
        ),
    )
    code = extract_code(completion.text, request.language)
    if request.language == "python":
        code = add_missing_imports(code, importable_names(context))
    path = workdir / f"attempt-{decision.attempt}" / "candidate.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(code)
    return Candidate(
        attempt=decision.attempt,
        model=decision.model,
        code=code,
        reply=completion.text,
        path=path,
        input_tokens=completion.input_tokens,
        output_tokens=completion.output_tokens,
        cost_usd=cost,
        seconds=completion.seconds,
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

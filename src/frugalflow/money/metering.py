"""Metering: how every model call is paid for and written down, on one path.

Every step that calls a model goes through :meth:`Meter.call`:

1. **reserve** the call's worst case (atomically, across processes; see
   :mod:`frugalflow.money.budget`), after checking the request's own cap;
2. **call** the model, through the callable the step hands in (this module calls no provider
   of its own);
3. **price** what the provider reported, part by part (uncached input, cache reads, 5-minute
   and 1-hour cache writes, output with its reasoning: :class:`~frugalflow.money.pricing.CallUsage`),
   on the model that answered (:meth:`~frugalflow.money.pricing.PriceCatalog.answering_model`);
   or, when it reported nothing (a proxy stripped the usage, a server ignores
   ``stream_options.include_usage``), what is counted offline: a call that cost money is never
   booked as free. A local call's wall time is booked at ``local_cost_usd_per_hour`` beside
   it (``compute_cost_usd``, never in the budgets);
4. **record** the call in the ledger, the failed ones too, at the moment it ends;
5. **settle** the reservation with the priced call, or **release** it when the call failed.

A call refused before anything was sent (a resting circuit breaker, no key, every slot busy)
is not a call: its reservation is released and nothing is booked. A step on free tiers only
(documentation) may skip the reservation; a paid call never can.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from frugalflow.core.errors import (
    BudgetExceededError,
    CallRefusedError,
    LedgerError,
    ProviderError,
    SlotTimeoutError,
)
from frugalflow.core.models import ModelAddress, parse_address
from frugalflow.core.schemas import CodeRequest, Tier
from frugalflow.core.settings import Settings
from frugalflow.money.budget import BudgetManager, Reservation, usd
from frugalflow.money.estimation import (
    TokenCount,
    count_input_tokens,
    count_message_tokens,
    learned_estimate,
    stable_part_key,
)
from frugalflow.money.ledger import CostLedger, ModelCall, rows_refused
from frugalflow.money.pricing import PriceCatalog
from frugalflow.money.usage import CallUsage, PricedCall, answered_elsewhere, compute_cost
from frugalflow.providers.base import ChatMessage, Completion

# Reserving for a prompt whose count is not exact (every vendor but OpenAI tokenizes
# differently) keeps a margin on top of the learned correction: the reservation must be an
# upper bound, or concurrent runs could overspend.
INEXACT_COUNT_MARGIN = 1.2
SETTLE_ATTEMPTS = 3
logger = logging.getLogger("frugalflow.generate")  # named as before the folders

Send = Callable[[Sequence[ChatMessage], int], Completion]
"""The model call a step hands to the meter: ``send(messages, max_tokens)``."""


@dataclass(frozen=True)
class Booking:
    """What a step's calls are booked to: the ledger fields every one of them shares.

    Attributes:
        request: the request the calls are made for (its id, project and cap).
        step: the flow step making them (``generate``, ``document``).
        task_type: what the calls do, for the estimates that learn from history.
        flow_run_id: the flow run, when there is one.
    """

    request: CodeRequest
    step: str
    task_type: str
    flow_run_id: str | None = None


@dataclass(frozen=True)
class MeteredCall:
    """A model call that was made, priced and booked.

    Attributes:
        completion: the reply, with the usage exactly as the provider reported it.
        input_tokens: the input tokens booked: reported, or counted when none were.
        output_tokens: the output tokens booked, likewise.
        cached_tokens: the part of ``input_tokens`` read from the provider's cache.
        cost_usd: what the call cost, as booked.
        priced: the usage by part, the rates applied and the model they are of.
    """

    completion: Completion
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_usd: Decimal
    priced: PricedCall | None = None


def booked_usage(
    address: ModelAddress,
    messages: Sequence[ChatMessage],
    completion: Completion,
    *,
    counted_prompt: TokenCount | None = None,
) -> CallUsage:
    """The tokens to book for a reply, by part.

    What the provider reported (parts clipped to their totals), unless it reported none, or a
    paid model reported zero both ways: then the prompt and the reply are counted offline
    (exactly for OpenAI models) rather than booked as free, with no parts (nothing is known
    of cache reads, writes or reasoning).

    Args:
        address: the model that answered.
        messages: the prompt it was sent.
        completion: its reply.
        counted_prompt: the prompt's count, when the caller has it already.
    """
    input_tokens, output_tokens = completion.input_tokens, completion.output_tokens
    unreported = not completion.usage_reported or (
        address.tier is Tier.API and input_tokens == 0 and output_tokens == 0
    )
    if not unreported:
        cached = min(completion.cached_tokens, input_tokens)
        written = min(completion.cache_write_tokens, input_tokens - cached)
        return CallUsage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_tokens=cached,
            cache_write_tokens=written,
            cache_write_1h_tokens=min(completion.cache_write_1h_tokens, written),
            reasoning_tokens=min(completion.reasoning_tokens, output_tokens),
        )
    if counted_prompt is None:
        counted_prompt = count_message_tokens(address, [(m.role, m.content) for m in messages])
    return CallUsage(
        input_tokens=counted_prompt.tokens,
        output_tokens=count_input_tokens(address, completion.text).tokens,
    )


def check_request_cap(request: CodeRequest, ledger: CostLedger, worst_case: Decimal) -> None:
    """Refuse a call that could take the request past its own ``budget_cap_usd``.

    Raises:
        BudgetExceededError: what the request already spent plus this call's worst case is
            more than its cap; the request is deferred like any unaffordable one.
    """
    if request.budget_cap_usd is None or worst_case == 0:
        return
    spent = ledger.request_usage(request.request_id).cost_usd
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


class Meter:
    """Meters the calls of one step on one model: reserves, books, settles.

    Attributes:
        model: the ``provider:model`` address called, as the step named it.
        address: the same, parsed.
        booking: what its calls are booked to.
        settings: the budgets, prices and ledger.
        ledger: the cost ledger at ``settings.ledger_file``.
        catalog: the prices, with the settings' overrides.
    """

    def __init__(self, model: str, booking: Booking, settings: Settings) -> None:
        self.model = model
        self.address = parse_address(model)
        self.booking = booking
        self.settings = settings
        self.ledger = CostLedger(settings.ledger_file)
        self.catalog = PriceCatalog(settings.prices)

    def call(
        self,
        messages: Sequence[ChatMessage],
        send: Send,
        *,
        max_tokens: int,
        reserve: bool = True,
        expected_output_tokens: int | None = None,
    ) -> MeteredCall:
        """Make one metered call: reserve -> call -> price -> record -> settle or release.

        Args:
            messages: the prompt.
            send: makes the call (``send(messages, max_tokens)``), through the provider pool.
            max_tokens: the most the reply may have; the worst case reserved prices it.
            reserve: set the worst case aside first. Only a free-tier call may skip it
                (nothing to set aside): it is then recorded without a reservation.
            expected_output_tokens: the reply length to expect until the ledger has history
                for this model and task type (``max_tokens`` when None).

        Raises:
            ValueError: ``reserve`` is False for a paid model.
            BudgetExceededError: the call's worst case does not fit the request's cap or a
                budget window (concurrent runs used the money the budget gate saw).
            CallRefusedError, SlotTimeoutError: nothing was sent; nothing is booked.
            ProviderError: the call failed; it is booked as failed. Any other exception
                ``send`` raises is booked as well, then raised as it is.
            LedgerError: see :func:`settle_durably`.
        """
        address, booking = self.address, self.booking
        if not reserve and address.tier is Tier.API:
            raise ValueError(f"a call to a paid model ({address}) must reserve its worst case")
        fields: dict[str, Any] = {
            "flow_run_id": booking.flow_run_id,
            "request_id": booking.request.request_id,
            "project": booking.request.project_name,
            "step": booking.step,
            "provider": address.provider,
            "model": address.model,
            "tier": address.tier,
            "task_type": booking.task_type,
            "price_catalog": self.catalog.version,
            "prompt_cache_key": stable_part_key([(m.role, m.content) for m in messages]),
        }
        counted: TokenCount | None = None
        reservation: Reservation | None = None
        manager = BudgetManager(self.ledger, self.settings)
        if reserve:
            counted, reservation, estimates = self._reserve(
                messages, max_tokens=max_tokens, expected_output_tokens=expected_output_tokens
            )
            fields.update(estimates)
        started = time.perf_counter()
        try:
            completion = send(messages, max_tokens)
        except (CallRefusedError, SlotTimeoutError) as exc:  # nothing was sent: not a call
            if reservation is not None:
                manager.release(reservation)
            exc.provider = exc.provider or self.model
            raise
        except Exception as exc:  # anything, even an SDK error no adapter translated: book it
            if reservation is not None:
                manager.release(reservation)
            seconds = time.perf_counter() - started
            self.ledger.record(
                ModelCall(
                    **fields,
                    latency_ms=round(seconds * 1000),
                    success=False,
                    error=f"{type(exc).__name__}: {exc}",  # redacted and cut by ModelCall
                    compute_cost_usd=compute_cost(address, seconds, self.settings),
                )
            )
            if isinstance(exc, ProviderError) and not exc.provider:
                exc.provider = self.model
            raise
        usage = booked_usage(address, messages, completion, counted_prompt=counted)
        priced = self._price(completion, usage)
        call = ModelCall(
            **fields,
            **priced.ledger_fields(),
            answered_model=answered_elsewhere(address, completion.answered_model),
            compute_cost_usd=compute_cost(address, completion.seconds, self.settings),
            latency_ms=round(completion.seconds * 1000),
        )
        if reservation is None:
            self.ledger.record(call)
        else:
            settle_durably(manager, reservation, call)
        return MeteredCall(
            completion,
            usage.input_tokens,
            usage.output_tokens,
            usage.cached_tokens,
            priced.cost_usd,
            priced,
        )

    def _price(self, completion: Completion, usage: CallUsage) -> PricedCall:
        """Price a reply on the model that answered it (see
        :meth:`~frugalflow.money.pricing.PriceCatalog.answering_model`)."""
        answering = self.catalog.answering_model(self.address, completion.answered_model)
        named = answered_elsewhere(self.address, completion.answered_model)
        if (
            named is not None
            and answering == self.address
            and self.catalog.price_of(ModelAddress(self.address.provider, named)) is None
        ):
            logger.warning(
                "%s answered as %s, which has no price; the call is priced as %s",
                self.model,
                named,
                self.model,
            )
        return self.catalog.price(answering, usage)

    def _reserve(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        expected_output_tokens: int | None,
    ) -> tuple[TokenCount, Reservation, dict[str, Any]]:
        """Count and estimate the call, check the request's cap, reserve the worst case.

        Returns:
            The prompt's count, the reservation, and the estimate's ledger fields.
        """
        address, request = self.address, self.booking.request
        prompt = [(message.role, message.content) for message in messages]
        counted = count_message_tokens(address, prompt)
        expected = learned_estimate(
            address,
            prompt,
            history=self.ledger,
            task_type=self.booking.task_type,
            fallback_output=expected_output_tokens or max_tokens,
            max_output=max_tokens,
            catalog=self.catalog,
        )
        margin = 1.0 if counted.exact else max(expected.correction, 1.0) * INEXACT_COUNT_MARGIN
        worst_case = self.catalog.worst_case(
            address, input_tokens=math.ceil(counted.tokens * margin), output_tokens=max_tokens
        )
        check_request_cap(request, self.ledger, worst_case)
        reservation = BudgetManager(self.ledger, self.settings).reserve(
            request_id=request.request_id,
            project=request.project_name,
            model=self.model,
            amount_usd=worst_case,
        )
        estimates = {
            "estimated_input_tokens": counted.tokens,
            "estimated_output_tokens": expected.expected_output_tokens,
            "estimated_cost_usd": expected.expected_cost_usd,
        }
        return counted, reservation, estimates


def book_cache_hit(
    model: str,
    request: CodeRequest,
    settings: Settings,
    *,
    flow_run_id: str | None,
    step: str = "generate",
) -> None:
    """Book a step answered from the cache: a call that cost nothing now.

    Args:
        model: the ``provider:model`` address whose earlier answer was reused.
        request: the request the step ran for.
        settings: where the ledger and the price catalog are.
        flow_run_id: the flow run the step belongs to.
        step: the step that was answered from the cache.
    """
    address = parse_address(model)
    CostLedger(settings.ledger_file).record(
        ModelCall(
            flow_run_id=flow_run_id,
            request_id=request.request_id,
            project=request.project_name,
            step=step,
            provider=address.provider,
            model=address.model,
            tier=address.tier,
            cache_hit=True,
            price_catalog=PriceCatalog(settings.prices).version,
        )
    )

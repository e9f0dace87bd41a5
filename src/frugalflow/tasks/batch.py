"""The batch tier's steps: send a request's call to a vendor's batch API, and poll the open
batches, settling what ended.

:func:`submit_batch` reserves the call's worst case for the batch window, submits it and
records the batch in the ledger (:class:`~frugalflow.money.batches.BatchBook`); a submission
the vendor refuses releases the reservation. :func:`poll_batches` asks the vendor about every
batch still running (whoever sent it, so a restart loses nothing): a result is booked at the
batch rate and settles the reservation; a batch that failed, expired, was cancelled or ended
without a result for its request releases it. Each batch polled is returned with what
happened to it, the result's completion included, for the rest of the request.

Not wired in yet: no flow sends batches (``submit_batch`` has no caller in the codegen flow),
and the results ``poll_batches`` returns are not handed to the rest of the request.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict

from frugalflow.core.errors import ProviderError
from frugalflow.core.models import parse_address
from frugalflow.core.schemas import CodeRequest
from frugalflow.core.settings import Settings, load_settings
from frugalflow.money.batches import BatchBook, BatchRecord
from frugalflow.money.estimation import count_message_tokens
from frugalflow.money.ledger import CostLedger
from frugalflow.money.metering import INEXACT_COUNT_MARGIN, check_request_cap
from frugalflow.providers.base import ChatMessage, Completion
from frugalflow.providers.batch import BatchRequest, BatchState, batch_adapter
from frugalflow.providers.keys import require_api_key
from frugalflow.tasks import step

logger = logging.getLogger("frugalflow.batch")

ClientFor = Callable[[str, Settings], httpx.Client]

_BASE_URLS = {
    "openai": "https://api.openai.com",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
}
_POLL_TIMEOUT_SECONDS = 60.0


def vendor_client(provider: str, settings: Settings) -> httpx.Client:
    """An HTTP client on ``provider``'s API with its key (from the settings or environment).

    Raises:
        AuthenticationError: no key is configured for the provider.
    """
    key = require_api_key(provider, settings).get_secret_value()
    base = _BASE_URLS[provider]
    if provider == "openai" and settings.openai_base_url:
        base = settings.openai_base_url.rstrip("/").removesuffix("/v1")
    headers = {
        "openai": {"Authorization": f"Bearer {key}"},
        "anthropic": {"x-api-key": key},
        "gemini": {"x-goog-api-key": key},
    }[provider]
    return httpx.Client(base_url=base, headers=headers, timeout=_POLL_TIMEOUT_SECONDS)


def submit_batch(
    request: CodeRequest,
    model: str,
    messages: Sequence[ChatMessage],
    settings: Settings,
    *,
    max_tokens: int,
    task_type: str | None = None,
    flow_run_id: str | None = None,
    client_for: ClientFor = vendor_client,
) -> BatchRecord:
    """Send one call of ``request`` to ``model``'s batch API, its worst case reserved.

    Raises:
        BudgetExceededError: the worst case does not fit the request's cap or a window.
        ProviderError: the vendor refused the batch (the reservation is released).
    """
    address = parse_address(model)
    ledger = CostLedger(settings.ledger_file)
    book = BatchBook(ledger, settings)
    counted = count_message_tokens(address, [(m.role, m.content) for m in messages])
    margin = 1.0 if counted.exact else INEXACT_COUNT_MARGIN
    input_tokens = math.ceil(counted.tokens * margin)
    check_request_cap(
        request,
        ledger,
        book.catalog.worst_case(address, input_tokens=input_tokens, output_tokens=max_tokens),
    )
    reservation = book.reserve(
        request_id=request.request_id,
        project=request.project_name,
        model=str(address),
        input_tokens=input_tokens,
        max_tokens=max_tokens,
    )
    custom_id = f"{request.request_id}-{uuid.uuid4().hex[:8]}"
    try:
        with client_for(address.provider, settings) as client:
            batch_id = batch_adapter(address.provider, client).submit(
                address.model,
                [
                    BatchRequest(
                        custom_id=custom_id, messages=tuple(messages), max_tokens=max_tokens
                    )
                ],
            )
    except BaseException:
        book.budget.release(reservation)
        raise
    now = datetime.now(UTC)
    record = BatchRecord(
        batch_id=batch_id,
        provider=address.provider,
        model=address.model,
        request_id=request.request_id,
        project=request.project_name,
        reservation_id=reservation.reservation_id,
        custom_id=custom_id,
        submitted_at=now,
        updated_at=now,
        flow_run_id=flow_run_id,
        task_type=task_type,
        request_json=request.model_dump_json(),
    )
    book.record(record)
    return record


class PolledBatch(BaseModel):
    """What one poll found for one batch.

    Attributes:
        batch: the batch, as it was before the poll.
        outcome: ``running`` (still at the vendor, or the poll failed), ``settled`` (its
            result was booked), or ``failed``/``expired``/``cancelled`` (its reservation was
            released; the request should go the normal way).
        completion: the result, when settled.
        error: why there is no result.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    batch: BatchRecord
    outcome: Literal["running", "settled", "failed", "expired", "cancelled"]
    completion: Completion | None = None
    error: str | None = None


Closed = Literal["failed", "expired", "cancelled"]
_CLOSED: dict[BatchState, Closed] = {
    BatchState.FAILED: "failed",
    BatchState.EXPIRED: "expired",
    BatchState.CANCELLED: "cancelled",
}


def poll_batches(settings: Settings, *, client_for: ClientFor | None = None) -> list[PolledBatch]:
    """Poll every open batch once; settle or close the ones that ended (see the module doc).

    A batch whose poll fails (the vendor is down, no key) stays open for the next poll.

    Args:
        settings: where the ledger and the keys are.
        client_for: the HTTP client of a provider (:func:`vendor_client` when None).
    """
    client_for = client_for or vendor_client
    book = BatchBook(CostLedger(settings.ledger_file), settings)
    polled = []
    for batch in book.open_batches():
        try:
            polled.append(_poll_one(book, batch, settings, client_for))
        except (ProviderError, httpx.HTTPError) as exc:
            logger.warning("batch %s could not be polled: %s", batch.batch_id, exc)
            polled.append(PolledBatch(batch=batch, outcome="running", error=str(exc)))
    return polled


def _poll_one(
    book: BatchBook, batch: BatchRecord, settings: Settings, client_for: ClientFor
) -> PolledBatch:
    with client_for(batch.provider, settings) as client:
        adapter = batch_adapter(batch.provider, client)
        status = adapter.status(batch.batch_id)
        if status.state is BatchState.RUNNING:
            book.polled(batch)
            return PolledBatch(batch=batch, outcome="running")
        if status.state is not BatchState.ENDED:
            closed = _CLOSED[status.state]
            error = f"the batch ended {status.vendor_status}"
            book.close(batch, closed, error)
            return PolledBatch(batch=batch, outcome=closed, error=error)
        results = {result.custom_id: result for result in adapter.results(batch.model, status)}
    result = results.get(batch.custom_id)
    if result is None or result.completion is None:
        error = "no result for the request" if result is None else (result.error or "no result")
        book.close(batch, "failed", error)
        return PolledBatch(batch=batch, outcome="failed", error=error)
    book.settle(batch, result.completion)
    return PolledBatch(batch=batch, outcome="settled", completion=result.completion)


def settings_for_poll() -> Settings:
    """The user's settings (without a repository's): where the ledger and the keys are."""
    return load_settings()


poll = step("batch-poll")(poll_batches)

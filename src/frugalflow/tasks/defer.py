"""Deferral: a request the budget cannot pay for now is kept, to run again, never dropped.

The codegen flow stores it with ``defer``, a Prefect task of its own, called directly rather
than as a timed step, so that the steps a run reports (and the CLI prints) stay those of the
pipeline. The ``rerun-deferred`` flow takes the queue from :func:`deferred_store` and the
requests to run again from :func:`requests_to_rerun`, once their budget window has money.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from frugalflow.core.schemas import CodeRequest, CodeResult, RunStatus
from frugalflow.core.settings import Settings, load_settings
from frugalflow.money.budget import day_window
from frugalflow.money.deferred import DeferredRequest, DeferredStore
from frugalflow.money.ledger import CostLedger

logger = logging.getLogger("frugalflow.deferred")


def deferred_store(settings: Settings | None = None) -> DeferredStore:
    """The queue of deferred requests, in the ledger of ``settings`` (by default the user's
    settings, without a repository's)."""
    return DeferredStore(CostLedger((settings or load_settings()).ledger_file))


def requests_to_rerun(
    store: DeferredStore, deferred_ids: Sequence[str] | None
) -> list[DeferredRequest]:
    """The pending requests with these ids, in the order given, or the due ones when None.

    Args:
        store: the queue.
        deferred_ids: deferred or request ids, run whether due or not; an unknown one is
            logged and skipped. None: the requests whose retry time has come, oldest first.
    """
    if deferred_ids is None:
        return store.due(datetime.now(UTC))
    chosen: dict[str, DeferredRequest] = {}
    for wanted in deferred_ids:
        found = store.find(wanted)
        if not found:
            logger.warning("no pending deferred request has id %s; skipped", wanted)
        chosen.update((d.deferred_id, d) for d in found)
    return list(chosen.values())


def finish_rerun(store: DeferredStore, deferred: DeferredRequest, result: CodeResult) -> None:
    """Record what running a deferred request again gave.

    Deferred again: codegen stored it anew with its new retry time, and this row is
    superseded. Completed, or failed for good (it can never fit, its repository is gone...):
    either way it leaves the queue, with what happened.
    """
    if result.status is RunStatus.DEFERRED:
        store.mark_resubmitted(deferred.deferred_id, result.flow_run_id or "")
        return
    store.mark_done(deferred.deferred_id, f"{result.status.value}: {result.reason}")
    logger.info("deferred request %s ran: %s", result.request_id, result.status.value)


def defer_request(
    request: CodeRequest, reason: str, retry_at: datetime | None, settings: Settings
) -> datetime:
    """Store ``request`` to run again at ``retry_at``.

    Args:
        request: the request, kept whole.
        reason: why it cannot run now, shown with it.
        retry_at: when its budget window has money again; None when it will never fit this
            window (it is then tried again tomorrow: the settings may change).
        settings: where the ledger is, and the budget day's timezone.

    Returns:
        The time it runs again.

    Raises:
        LedgerError: the ledger cannot be written.
    """
    if retry_at is None:  # it will never fit this window: try again tomorrow, settings may change
        retry_at = day_window(datetime.now(UTC), settings.timezone)[1]
    deferred_store(settings).add(request, reason=reason, retry_at=retry_at)
    return retry_at


defer = task(name="defer", task_run_name="defer", cache_policy=NO_CACHE)(defer_request)

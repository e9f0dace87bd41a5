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
from prefect.runtime import flow_run

from frugalflow.core.errors import FrugalflowError
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


def due_moment(scheduled_start: datetime | None, now: datetime | None = None) -> datetime:
    """The moment "due" is judged at: now, or the run's scheduled start if that is later.

    The Prefect server lets a scheduled run start at its time by the server's clock, and even
    half a second early (it rounds the wait to whole seconds). The worker that runs it can be
    on another machine whose clock is behind, so the run scheduled for midnight may read
    23:59:55 when it starts, when a request whose budget resets at midnight is not yet due;
    judged at the scheduled time, it is.
    """
    now = now or datetime.now(UTC)
    if scheduled_start is None:
        return now
    return max(now, scheduled_start.astimezone(UTC))


def requests_to_rerun(
    store: DeferredStore, deferred_ids: Sequence[str] | None, *, now: datetime | None = None
) -> list[DeferredRequest]:
    """The pending requests with these ids, in the order given, or the due ones when None.

    Args:
        store: the queue.
        deferred_ids: deferred or request ids, run whether due or not; an unknown one is
            logged and skipped. None: the requests whose retry time has come, oldest first.
        now: the moment "due" is judged at (see :func:`due_moment`); the current time by default.
    """
    if deferred_ids is None:
        return store.due(now or datetime.now(UTC))
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
    run_id = flow_run.get_id()  # the run that deferred it: its re-run links back to it
    deferred_store(settings).add(request, reason=reason, retry_at=retry_at, flow_run_id=run_id)
    return retry_at


def first_run_of(request_id: str, settings: Settings) -> str | None:
    """The flow run that first deferred ``request_id``, or None if it was never deferred
    (or deferred outside Prefect). Never raises: it only adds a link to a run's summary."""
    try:
        rows = [d for d in deferred_store(settings).all() if d.request.request_id == request_id]
    except FrugalflowError as exc:
        logger.warning("the deferral history of %s could not be read: %s", request_id, exc)
        return None
    return next((d.flow_run_id for d in rows if d.flow_run_id), None)


defer = task(name="defer", task_run_name="defer", cache_policy=NO_CACHE)(defer_request)


def rerun_summary(
    store: DeferredStore,
    due: int,
    results: Sequence[CodeResult],
    crashed: Sequence[str],
    moment: datetime,
) -> str:
    """What one run of ``rerun-deferred`` did, as markdown: how many were due, how each one
    that ran again ended, and what is still waiting and until when. The first line is the
    one-line summary the flow logs."""
    try:
        waiting = store.pending()
    except FrugalflowError as exc:  # the summary must not fail the run that did the work
        logger.warning("the deferred queue could not be read for the summary: %s", exc)
        waiting = []
    counts = {status: sum(r.status is status for r in results) for status in RunStatus}
    lines = [
        f"{due} due at {moment:%Y-%m-%d %H:%M:%S} UTC, {len(results)} re-run "
        f"({counts[RunStatus.COMPLETED]} completed, {counts[RunStatus.DEFERRED]} deferred "
        f"again, {counts[RunStatus.FAILED]} failed), {len(crashed)} crashed and left pending, "
        f"{len(waiting)} still waiting",
        "",
    ]
    if results or crashed:
        lines += ["| request | outcome | reason |", "| --- | --- | --- |"]
        lines += [f"| {r.request_id} | {r.status.value} | {_one_line(r.reason)} |" for r in results]
        lines += [f"| {request_id} | crashed | left pending |" for request_id in crashed]
        lines.append("")
    if waiting:
        lines += ["| still waiting | until (UTC) | reason |", "| --- | --- | --- |"]
        lines += [
            f"| {d.request.request_id} | {d.retry_at:%Y-%m-%d %H:%M} | {_one_line(d.reason)} |"
            for d in waiting
        ]
    return "\n".join(lines)


def _one_line(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:300]

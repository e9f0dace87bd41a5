"""The rerun-deferred flow: requests the budget could not pay for are run again, never lost.

A deferred request is stored in the ledger with the time its budget window ends. This flow
(scheduled every 15 minutes by prefect.yaml, and safe to trigger by hand) takes the ones that
are due, runs each through the codegen flow as a subflow, and marks what happened. A request
that is deferred again simply stays pending with its new retry time. One that fails (its
repository is gone, or the budget settings changed so that it can never fit) leaves the queue
with the reason recorded, instead of being deferred again forever. ``frugalflow deferred run``
calls this same flow with the ids the user names, due or not.
"""

from __future__ import annotations

import logging

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact
from prefect.runtime import flow_run

from frugalflow.core.schemas import CodeResult
from frugalflow.flows.codegen import codegen
from frugalflow.tasks.defer import (
    deferred_store,
    due_moment,
    finish_rerun,
    requests_to_rerun,
    rerun_summary,
)

logger = logging.getLogger("frugalflow.deferred")


@flow(name="rerun-deferred")
async def rerun_deferred(
    limit: int = 20, deferred_ids: list[str] | None = None
) -> list[CodeResult]:
    """Run the deferred requests whose retry time has come, or the ones named, now.

    "Due" is judged at the run's scheduled time when the worker's clock says it is earlier (see
    :func:`~frugalflow.tasks.defer.due_moment`), so the run scheduled at a budget reset takes
    the requests waiting for it. What it did (due, re-run and how each ended, still waiting and
    until when) is logged and published as the run's markdown artifact.

    Args:
        limit: the most requests to run in one go (oldest first).
        deferred_ids: run these pending requests (deferred or request ids) whether due or not,
            instead of the due ones.

    Returns:
        The result of each request that was run.
    """
    store = deferred_store()
    moment = due_moment(flow_run.scheduled_start_time)
    todo = requests_to_rerun(store, deferred_ids, now=moment)
    results: list[CodeResult] = []
    crashed: list[str] = []
    for deferred in todo[:limit]:
        state = await codegen(deferred.request, return_state=True)
        result = await state.aresult(raise_on_failure=False)
        if not isinstance(result, CodeResult):
            # Left pending: the next run of this flow tries it again.
            logger.error("deferred request %s crashed: %s", deferred.request.request_id, result)
            crashed.append(deferred.request.request_id)
            continue
        results.append(result)
        finish_rerun(store, deferred, result)
    summary = rerun_summary(store, len(todo), results, crashed, moment)
    logger.info("%s", summary.splitlines()[0])
    await acreate_markdown_artifact(
        key="rerun-deferred", markdown=summary, description="deferred requests re-run"
    )
    return results

"""The rerun-deferred flow: requests the budget could not pay for are run again, never lost.

A deferred request is stored in the ledger with the time its budget window ends. This flow
(scheduled every 15 minutes by prefect.yaml, and safe to trigger by hand) takes the ones that
are due, runs each through the codegen flow as a subflow, and marks what happened. A request
that is deferred again simply stays pending with its new retry time.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from prefect import flow

from frugalflow.deferred import DeferredStore
from frugalflow.flows.codegen import codegen
from frugalflow.ledger import CostLedger
from frugalflow.schemas import CodeResult, RunStatus
from frugalflow.settings import load_settings

logger = logging.getLogger("frugalflow.deferred")


@flow(name="rerun-deferred")
async def rerun_deferred(limit: int = 20) -> list[CodeResult]:
    """Run the deferred requests whose retry time has come.

    Args:
        limit: the most requests to run in one go (oldest first).

    Returns:
        The result of each request that was run.
    """
    store = DeferredStore(CostLedger(load_settings().ledger_file))
    results: list[CodeResult] = []
    for deferred in store.due(datetime.now(UTC))[:limit]:
        state = await codegen(deferred.request, return_state=True)
        result = await state.aresult(raise_on_failure=False)
        if not isinstance(result, CodeResult):
            # Left pending: the next run of this flow tries it again.
            logger.error("deferred request %s crashed: %s", deferred.request.request_id, result)
            continue
        results.append(result)
        if result.status is RunStatus.DEFERRED:
            # codegen stored it again with its new retry time; this row is superseded.
            store.mark_resubmitted(deferred.deferred_id, result.flow_run_id or "")
            continue
        store.mark_done(deferred.deferred_id)
        logger.info("deferred request %s ran: %s", result.request_id, result.status.value)
    return results

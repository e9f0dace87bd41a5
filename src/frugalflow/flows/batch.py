"""The batch-poll flow: polls every open batch once, settling what ended.

Each batch still running at its vendor is asked about (:func:`frugalflow.tasks.batch.poll_batches`):
a result is booked at the batch rate and its reservation settled; a batch that failed or
expired gives its reservation back. Safe to run at any time and from any machine that shares
the ledger: a batch is settled or closed once, whoever polls it.

Not wired in yet: no deployment schedules this flow, no request is sent to a batch API
(``generate --when batch`` does not exist yet), and a result is not handed to the rest of its
request (validate, escalate, name, document, place); that needs a hook in the codegen flow.
"""

from __future__ import annotations

import logging

from prefect import flow

from frugalflow.tasks.batch import PolledBatch, poll, settings_for_poll

logger = logging.getLogger("frugalflow.batch")


@flow(name="batch-poll")
async def batch_poll() -> list[PolledBatch]:
    """Poll the open batches once; returns what was found for each."""
    polled = poll(settings_for_poll()).value
    for batch in polled:
        logger.info(
            "batch %s (%s): %s", batch.batch.batch_id, batch.batch.request_id, batch.outcome
        )
    return polled

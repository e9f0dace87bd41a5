"""What a request has used, as the flow needs it: its sums, its cache hits, its alerts.

The ledger is the one record of spend: the commit's cost trailer and the result's cost and
tokens are its sums over the request's calls (:func:`request_usage`), a generation answered
from Prefect's cache is booked there as a cache hit (:func:`restore_cached`), and the budget
alerts are raised from it when a run ends (:func:`raise_alerts`).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

from frugalflow.core.errors import FrugalflowError
from frugalflow.core.schemas import Candidate, CodeRequest
from frugalflow.core.settings import Settings
from frugalflow.money.alerts import check_alerts
from frugalflow.money.budget import BudgetManager
from frugalflow.money.ledger import CostLedger, RequestUsage
from frugalflow.money.metering import book_cache_hit

logger = logging.getLogger("frugalflow.codegen")


def request_usage(request_id: str, settings: Settings) -> RequestUsage:
    """What every call of the request has cost and used so far, summed (every attempt)."""
    return CostLedger(settings.ledger_file).request_usage(request_id)


def restore_cached(
    candidate: Candidate,
    request: CodeRequest,
    settings: Settings,
    workdir: Path,
    *,
    flow_run_id: str | None,
) -> Candidate:
    """A cached generation cost nothing now: book it as a cache hit, copy it to this run.

    Args:
        candidate: the generation Prefect's cache returned (its file is an earlier run's).
        request: the request this run serves.
        settings: where the ledger and the price catalog are.
        workdir: this run's directory; the code is written to its attempt's folder.
        flow_run_id: this flow run, for the ledger row.

    Returns:
        The candidate with this run's path and a cost of $0.
    """
    book_cache_hit(candidate.model, request, settings, flow_run_id=flow_run_id, step="generate")
    path = workdir / f"attempt-{candidate.attempt}" / "candidate.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(candidate.code)
    return candidate.model_copy(update={"path": path, "cost_usd": Decimal(0)})


def raise_alerts(settings: Settings, project: str) -> None:
    """Budget alerts (50/80/100%, once per window); they must never fail the run."""
    try:
        check_alerts(BudgetManager(CostLedger(settings.ledger_file), settings), project)
    except FrugalflowError as exc:
        logger.warning("could not check budget alerts: %s", exc)

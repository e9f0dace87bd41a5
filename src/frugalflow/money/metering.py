"""Metering: how every model call is paid for and written down.

One path for every step that calls a model: reserve the worst case, call, price what the
provider reported (or count it when it reported nothing), record the call in the ledger,
then settle the reservation or release it. The call itself is handed in; this module calls
no provider of its own.
"""

from __future__ import annotations

from frugalflow.core.models import parse_address
from frugalflow.core.schemas import CodeRequest
from frugalflow.core.settings import Settings
from frugalflow.money.ledger import CostLedger, ModelCall
from frugalflow.money.pricing import PriceCatalog


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

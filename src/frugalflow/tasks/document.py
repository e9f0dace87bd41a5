"""Step 8, document: give every public function and class the run added a checked docstring.

The docstring text is written by the model the flow passes in (the cheapest adequate one) and
checked against each signature before it goes in; a wrong docstring is never inserted. Only
the generated code is handed to this step, so the user's own code is never touched.
"""

from __future__ import annotations

from pathlib import Path

from frugalflow.conform.docstring_check import check_documentation
from frugalflow.conform.docstrings import Complete, DocumentResult, document_code
from frugalflow.core.errors import FrugalflowError
from frugalflow.core.models import parse_address
from frugalflow.core.schemas import CodeRequest, DocumentationReport, Tier
from frugalflow.core.settings import Settings
from frugalflow.money.metering import Booking, Meter
from frugalflow.providers import ChatMessage
from frugalflow.tasks import pooled_send, step


def review_documentation(code: str) -> DocumentationReport:
    """List the public names the code adds and those of them without a docstring."""
    return check_documentation(code)


def document_generated_code(code: str, style: str, complete: Complete) -> DocumentResult:
    """Document the generated code in the project's docstring style (see ``document_code``).

    Args:
        code: the generated Python code.
        style: the project's docstring style, from ``detect_docstring_style``.
        complete: asks the model; takes the messages and returns the reply's text.
    """
    return document_code(code, style, complete)


# Not cached: ``complete`` is a callable (its model and spending are not in the inputs), and
# every call books its own cost.
def _no_cache() -> dict[str, object]:
    from prefect.cache_policies import NO_CACHE

    return {"cache_policy": NO_CACHE}


document = step("document", options=_no_cache)(document_generated_code)


# A docstring is short; a small model that rambles is cut off here.
DOCSTRING_MAX_TOKENS = 256


def booked_completer(
    model: str, request: CodeRequest, settings: Settings, *, flow_run_id: str | None = None
) -> Complete:
    """A ``complete`` callable on a free-tier model whose every call is metered and booked.

    Documentation is best effort: a failed call is booked and answers "", which the checker
    rejects, so a provider hiccup leaves a definition undocumented instead of failing the run.

    Raises:
        ValueError: ``model`` is on a paid tier (documentation never spends money).
    """
    address = parse_address(model)
    if address.tier is Tier.API:
        raise ValueError(f"documentation uses free tiers only, not {model}")
    send, _ = pooled_send(address, settings, Path(request.repo), temperature=0.0)
    meter = Meter(model, Booking(request, "document", "documentation", flow_run_id), settings)

    def complete(messages: list[ChatMessage]) -> str:
        try:
            # Free tiers only: nothing to set aside, so the call is booked without a reservation.
            metered = meter.call(messages, send, max_tokens=DOCSTRING_MAX_TOKENS, reserve=False)
        except FrugalflowError:  # booked as failed by the meter (unless nothing was sent)
            return ""
        return metered.completion.text

    return complete

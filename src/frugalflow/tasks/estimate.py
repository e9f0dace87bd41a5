"""Step 1, estimate: what kind of task this is, how big, and what each candidate would cost.

Fast, and nothing is spent: the prompt is the one the generation step will send, built on the
repository's real context (computed once per repository state: the context fetch step then gets
it for free, see :func:`frugalflow.context.context_for_state`).
"""

from __future__ import annotations

from pathlib import Path

from frugalflow.context import context_for_state
from frugalflow.core.errors import NotAGitRepositoryError
from frugalflow.core.models import parse_address
from frugalflow.core.schemas import (
    CandidateCost,
    CodeRequest,
    Complexity,
    GenerationContext,
    TaskEstimate,
)
from frugalflow.core.settings import Settings
from frugalflow.generation.prompts import build_messages
from frugalflow.money.estimation import learned_estimate
from frugalflow.money.ledger import CostLedger
from frugalflow.money.pricing import PriceCatalog
from frugalflow.money.tokens import count_tokens
from frugalflow.placement.git import content_digest
from frugalflow.routing.classify import task_spec
from frugalflow.tasks import step

# Until the ledger has history for a model and task type, a reply is assumed to be about this
# long for each class. Trivial: the median reply of the embedded 0.5B and 1.5B to the 89 MBPP+
# problems of bench/data was 127 and 103 tokens (90th percentile 204 and 206).
EXPECTED_OUTPUT_TOKENS = {
    Complexity.TRIVIAL: 130,
    Complexity.SIMPLE: 350,
    Complexity.MEDIUM: 800,
    Complexity.COMPLEX: 2_000,
    Complexity.MASSIVE: 4_000,
}
# What the context could add to the prompt, at most (layout + related module): counted only
# when the target is not a git repository (the request will then be refused before any call).
CONTEXT_ALLOWANCE_TOKENS = 1_800


def _real_context(request: CodeRequest) -> GenerationContext | None:
    """The context the generation step will use, or None outside a git repository."""
    repo = Path(request.repo)
    try:
        return context_for_state(
            repo,
            request.description,
            request.language,
            content_digest(repo),
            target=request.target,
        )
    except NotAGitRepositoryError:
        return None


def estimate_request(request: CodeRequest, settings: Settings) -> TaskEstimate:
    """Estimate a request's size and its cost on each model of the routing cascade.

    Input tokens are counted on the prompt the generation step will send, repository context
    included (exactly for OpenAI models), corrected by what the ledger learned about each
    provider. The worst case prices the most output a call may
    produce: what a budget must be able to cover before a paid call starts.
    """
    request_tokens = count_tokens(request.description) + sum(
        count_tokens(example) for example in request.examples
    )
    spec = task_spec(
        request.description,
        language=request.language,
        quality=request.quality,
        target=request.target,
        tokens=request_tokens,
        task_type=request.task_type,
    )
    task_type, complexity = spec.task_type, spec.complexity
    fallback_output = min(EXPECTED_OUTPUT_TOKENS[complexity], settings.max_output_tokens)
    context = _real_context(request)
    allowance = 0 if context is not None else CONTEXT_ALLOWANCE_TOKENS
    if context is None:
        context = GenerationContext(language=request.language, file_layout=(), source_dir=".")
    messages = [(message.role, message.content) for message in build_messages(request, context)]
    catalog = PriceCatalog(settings.prices)
    ledger = CostLedger(settings.ledger_file)
    candidates = []
    for model in settings.models:
        call = learned_estimate(
            model,
            messages,
            history=ledger,
            task_type=task_type.value,
            fallback_output=fallback_output,
            max_output=settings.max_output_tokens,
            catalog=catalog,
            extra_input_tokens=allowance,
        )
        candidates.append(
            CandidateCost(
                model=model,
                tier=parse_address(model).tier,
                input_tokens=call.input_tokens,
                expected_output_tokens=call.expected_output_tokens,
                exact_count=call.exact,
                expected_cost_usd=call.expected_cost_usd,
                worst_case_cost_usd=call.worst_case_cost_usd,
            )
        )
    return TaskEstimate(
        task_type=task_type,
        language=request.language,
        complexity=complexity,
        input_tokens=max((c.input_tokens for c in candidates), default=0),
        expected_output_tokens=max((c.expected_output_tokens for c in candidates), default=0),
        max_output_tokens=settings.max_output_tokens,
        candidates=tuple(candidates),
        spec=spec,
    )


estimate = step("estimate")(estimate_request)

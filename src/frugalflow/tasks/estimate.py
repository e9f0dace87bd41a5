"""Step 1, estimate: what kind of task this is, how big, and what each candidate would cost.

Pure and fast: nothing is read from disk or the network, nothing is spent.
"""

from __future__ import annotations

import re

from frugalflow.core.models import parse_address
from frugalflow.core.schemas import (
    CandidateCost,
    CodeRequest,
    Complexity,
    GenerationContext,
    TaskEstimate,
    TaskType,
)
from frugalflow.core.settings import Settings
from frugalflow.generation.prompts import build_messages
from frugalflow.money.estimation import learned_estimate
from frugalflow.money.ledger import CostLedger
from frugalflow.money.pricing import PriceCatalog
from frugalflow.money.tokens import count_tokens
from frugalflow.tasks import step

# The seed's thresholds, in tokens of the whole prompt.
COMPLEXITY_THRESHOLDS: tuple[tuple[int, Complexity], ...] = (
    (100, Complexity.TRIVIAL),
    (1_000, Complexity.SIMPLE),
    (10_000, Complexity.MEDIUM),
    (50_000, Complexity.COMPLEX),
)
# Until the ledger has history for a model and task type, a reply is assumed to be about this
# long for each class.
EXPECTED_OUTPUT_TOKENS = {
    Complexity.TRIVIAL: 200,
    Complexity.SIMPLE: 350,
    Complexity.MEDIUM: 800,
    Complexity.COMPLEX: 2_000,
    Complexity.MASSIVE: 4_000,
}
# What the context fetch step will add to the prompt, at most (layout + related module).
CONTEXT_ALLOWANCE_TOKENS = 1_800

_TASK_TYPE_PATTERNS: tuple[tuple[TaskType, re.Pattern[str]], ...] = (
    (TaskType.DOCUMENTATION, re.compile(r"\b(document\w*|docstrings?|docs)\b", re.I)),
    (TaskType.ANALYSIS, re.compile(r"\b(explain|analy[sz]e|review|audit|why does)\b", re.I)),
    (
        TaskType.FILE_EDITING,
        re.compile(r"\b(edit|modify|change|refactor|fix|rename|update|remove)\b", re.I),
    ),
    (TaskType.CONTENT_WRITING, re.compile(r"\b(readme|blog|article|changelog|prose)\b", re.I)),
)


def classify_task_type(description: str) -> TaskType:
    """Infer the task type from the request's words; code generation when nothing else fits."""
    for task_type, pattern in _TASK_TYPE_PATTERNS:
        if pattern.search(description):
            return task_type
    return TaskType.CODE_GENERATION


def complexity_of(tokens: int) -> Complexity:
    """Classify a prompt size with the seed thresholds (trivial <100 ... massive 50K+)."""
    for limit, complexity in COMPLEXITY_THRESHOLDS:
        if tokens < limit:
            return complexity
    return Complexity.MASSIVE


def estimate_request(request: CodeRequest, settings: Settings) -> TaskEstimate:
    """Estimate a request's size and its cost on each model of the routing cascade.

    Input tokens are counted on the prompt the generation step will send (exactly for OpenAI
    models), plus an allowance for the repository context it will add, corrected by what the
    ledger learned about each provider. The worst case prices the most output a call may
    produce: what a budget must be able to cover before a paid call starts.
    """
    task_type = request.task_type or classify_task_type(request.description)
    request_tokens = count_tokens(request.description) + sum(
        count_tokens(example) for example in request.examples
    )
    complexity = complexity_of(request_tokens)
    fallback_output = min(EXPECTED_OUTPUT_TOKENS[complexity], settings.max_output_tokens)
    empty_context = GenerationContext(language=request.language, file_layout=(), source_dir=".")
    messages = [
        (message.role, message.content) for message in build_messages(request, empty_context)
    ]
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
            extra_input_tokens=CONTEXT_ALLOWANCE_TOKENS,
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
    )


estimate = step("estimate")(estimate_request)

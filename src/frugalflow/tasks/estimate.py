"""Step 1, estimate: what kind of task this is, how big, and what each candidate would cost.

Pure and fast: nothing is read from disk or the network, nothing is spent.
"""

from __future__ import annotations

import re

from frugalflow.pricing import parse_address, price_call
from frugalflow.schemas import CandidateCost, CodeRequest, Complexity, TaskEstimate, TaskType
from frugalflow.settings import Settings
from frugalflow.tasks import step
from frugalflow.tokens import count_tokens

# The seed's thresholds, in tokens of the whole prompt.
COMPLEXITY_THRESHOLDS: tuple[tuple[int, Complexity], ...] = (
    (100, Complexity.TRIVIAL),
    (1_000, Complexity.SIMPLE),
    (10_000, Complexity.MEDIUM),
    (50_000, Complexity.COMPLEX),
)
# Until the ledger has history (the cost-control issue learns these), a reply is assumed to be
# about this long for each class.
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

    The worst case prices the counted input plus the most output the call may produce; that
    is what a budget must be able to cover before a paid call starts.
    """
    request_tokens = count_tokens(request.description) + sum(
        count_tokens(example) for example in request.examples
    )
    complexity = complexity_of(request_tokens)
    input_tokens = request_tokens + CONTEXT_ALLOWANCE_TOKENS
    expected_output = min(EXPECTED_OUTPUT_TOKENS[complexity], settings.max_output_tokens)
    candidates = []
    for model in settings.models:
        address = parse_address(model)
        candidates.append(
            CandidateCost(
                model=model,
                tier=address.tier,
                expected_cost_usd=price_call(
                    address, input_tokens=input_tokens, output_tokens=expected_output
                ),
                worst_case_cost_usd=price_call(
                    address, input_tokens=input_tokens, output_tokens=settings.max_output_tokens
                ),
            )
        )
    return TaskEstimate(
        task_type=request.task_type or classify_task_type(request.description),
        language=request.language,
        complexity=complexity,
        input_tokens=input_tokens,
        expected_output_tokens=expected_output,
        max_output_tokens=settings.max_output_tokens,
        candidates=tuple(candidates),
    )


estimate = step("estimate")(estimate_request)

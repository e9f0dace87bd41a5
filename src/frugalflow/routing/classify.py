"""What kind of task a request is, and how big: the first half of the seed's TaskSpec.

The router decides by these classes; the estimate reports them. Offline and instant: words of
the description, and the seed's token thresholds.
"""

from __future__ import annotations

import re

from frugalflow.core.schemas import Complexity, TaskType

# The seed's thresholds, in tokens of the whole prompt.
COMPLEXITY_THRESHOLDS: tuple[tuple[int, Complexity], ...] = (
    (100, Complexity.TRIVIAL),
    (1_000, Complexity.SIMPLE),
    (10_000, Complexity.MEDIUM),
    (50_000, Complexity.COMPLEX),
)
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

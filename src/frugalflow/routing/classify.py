"""What kind of task a request is, and how big: the seed's TaskSpec.

The router decides by these classes (:func:`task_spec`); the estimate reports them. Offline
and instant: words of the description, and the seed's token thresholds.
"""

from __future__ import annotations

import re

from frugalflow.core.schemas import AnalysisDepth, Complexity, QualityMode, TaskSpec, TaskType

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

# An analysis asked to go deep, or described at length, is a deep one.
_DEEP_ANALYSIS = re.compile(
    r"\b(deep(ly)?|in[- ]depth|thorough(ly)?|comprehensive(ly)?|exhaustive(ly)?|"
    r"architectur\w*|security (audit|review)\w*|threat[- ]model\w*|root[- ]cause)\b",
    re.I,
)
DEEP_ANALYSIS_WORDS = 80  # a description at least this many words long asks for a deep analysis


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


def analysis_depth(description: str) -> AnalysisDepth:
    """How deep an analysis the request asks for: deep when its words say so ("thorough",
    "architecture", "security audit"...) or when it is described at length
    (:data:`DEEP_ANALYSIS_WORDS` words or more), shallow otherwise."""
    if _DEEP_ANALYSIS.search(description) or len(description.split()) >= DEEP_ANALYSIS_WORDS:
        return AnalysisDepth.DEEP
    return AnalysisDepth.SHALLOW


def task_spec(
    request_description: str,
    *,
    language: str,
    quality: QualityMode,
    target: str | None,
    tokens: int,
    task_type: TaskType | None = None,
) -> TaskSpec:
    """Classify a request for the router.

    Args:
        request_description: the request in the user's words.
        language: the language of the code to write.
        quality: the request's quality mode.
        target: the repository-relative file the request targets, if given.
        tokens: the size of the request in tokens, for the complexity class.
        task_type: the task type the user gave; inferred from the description when None.

    Returns:
        The task type, language (lower case), complexity class, quality, the analysis depth
        (analysis tasks only) and the files in scope (the target, when given).
    """
    kind = task_type or classify_task_type(request_description)
    return TaskSpec(
        task_type=kind,
        language=language.strip().lower(),
        complexity=complexity_of(tokens),
        quality=quality,
        depth=analysis_depth(request_description) if kind is TaskType.ANALYSIS else None,
        files=(target,) if target else (),
    )

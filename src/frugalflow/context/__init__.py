"""The semantic bridge: what a model needs to know to write code that fits a repository.

:class:`ContextBridge` builds a :class:`~frugalflow.core.schemas.GenerationContext` (naming with
its measured shares, structure, standards, related examples, reuse hints, fitted into a token
budget) and caches it by the repository's content; the flow uses it in process,
``frugalflow bridge serve`` over HTTP (:mod:`frugalflow.context.http`).
"""

from frugalflow.context.bridge import (
    DEFAULT_BUDGET_TOKENS,
    ContextBridge,
    ContextRequest,
    context_budget,
)
from frugalflow.context.conventions import (
    check_naming,
    convert_name,
    detect_naming_conventions,
    style_of,
)
from frugalflow.context.inprocess import build_context, context_for_state, default_bridge

__all__ = [
    "DEFAULT_BUDGET_TOKENS",
    "ContextBridge",
    "ContextRequest",
    "build_context",
    "check_naming",
    "context_budget",
    "context_for_state",
    "convert_name",
    "default_bridge",
    "detect_naming_conventions",
    "style_of",
]

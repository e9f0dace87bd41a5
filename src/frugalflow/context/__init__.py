"""The context fetch step: what a model needs to know to write code that fits a repository."""

from frugalflow.context.analysis import build_context, context_for_state
from frugalflow.context.conventions import (
    check_naming,
    convert_name,
    detect_naming_conventions,
    style_of,
)

__all__ = [
    "build_context",
    "check_naming",
    "context_for_state",
    "convert_name",
    "detect_naming_conventions",
    "style_of",
]

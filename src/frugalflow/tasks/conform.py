"""What the name and document steps need to know about the repository before they run.

Read by the flow between validation and naming: the names renaming must keep (the examples'
and the target module's), and the docstring style the project writes (from the one context
the bridge built for the request, which the generation prompt used too).
"""

from __future__ import annotations

from pathlib import Path

from frugalflow.conform.docstring_style import detect_docstring_style
from frugalflow.conform.protected import protected_names
from frugalflow.core.schemas import CodeRequest, GenerationContext


def names_to_keep(request: CodeRequest) -> set[str]:
    """Names renaming must keep: those the examples use, and those the target already has."""
    return protected_names(request)


def docstring_style(request: CodeRequest, context: GenerationContext) -> str:
    """The docstring style the repository's Python code uses (``google`` when it has none).

    The bridge measured it on every Python file (``context.standards``); a context that was
    not built by the bridge (no parts) is measured here on its layout's files.
    """
    if context.parts:
        return context.standards.docstring_style
    return detect_docstring_style(Path(request.repo), context.file_layout)

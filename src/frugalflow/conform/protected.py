"""The names renaming must keep as they are, whatever the project's style.

Those the request's examples call (the user's tests use them), and those the target module
already binds at top level (the user's code, and what the generated code is merged beside).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from frugalflow.conform.naming import requested_names
from frugalflow.core.schemas import CodeRequest
from frugalflow.placement.merge import top_level_names


def protected_names(request: CodeRequest) -> set[str]:
    """Names renaming must keep: those the examples use, and those the target already has.

    Args:
        request: the request; its examples, and its target file when that is a Python file
            inside its repository (placement refuses the others with a message).
    """
    protected = {name for example in request.examples for name in requested_names(example)}
    if request.target:
        repo = Path(request.repo).resolve()
        target = (repo / request.target).resolve()
        # Only a file inside the repository; placement refuses the others with a message.
        if target.is_relative_to(repo) and target.is_file() and target.suffix == ".py":
            with contextlib.suppress(SyntaxError, UnicodeDecodeError):
                protected |= top_level_names(target.read_text())
    return protected

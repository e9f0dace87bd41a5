"""Before and around the steps: the checks that refuse a request before money is spent.

The flow runs :func:`refuse_early` before its first step, the same checks as the CLI's, and
asks :func:`never_affordable` when the budget gate does not admit a request, to tell a request
that waiting will pay for from one that no budget window ever could.
"""

from __future__ import annotations

from pathlib import Path

from frugalflow.core.schemas import CodeRequest, TaskEstimate
from frugalflow.core.settings import Settings
from frugalflow.validation import preflight


def check_repository(repo: Path) -> None:
    """Refuse a repository path that is not a usable git repository's top directory.

    Raises:
        NotAGitRepositoryError: it does not exist, is not a git repository, has no commits...;
            the message says what to give instead.
    """
    preflight.check_repository(repo)


def refuse_early(request: CodeRequest, settings: Settings) -> None:
    """Raise with what to do when the request cannot be carried out, before any money.

    Raises:
        FrugalflowError: the repository, target, examples or models cannot serve it
            (see :func:`frugalflow.validation.preflight.check_request`).
    """
    preflight.check_request(request, settings)


def never_affordable(
    request: CodeRequest, estimated: TaskEstimate, settings: Settings
) -> str | None:
    """Why no budget window could ever pay for this request (what to change), or None if a
    later window could."""
    return preflight.why_never_affordable(request, estimated, settings)

"""Before the first step: clear what killed runs left on the repository, make this run's
directory.

A run killed with ``kill -9`` cannot clean up after itself; the next run on the same
repository removes its registered worktrees and temp checkouts (never the user's worktrees,
never a live run's). This run's directory is marked with this process, so that the same holds
for it. The ``cleanup`` step removes it when the run ends.
"""

from __future__ import annotations

import logging
from pathlib import Path

from frugalflow.core.errors import FrugalflowError
from frugalflow.core.schemas import CodeRequest
from frugalflow.placement.repository import WorkRepository
from frugalflow.placement.rundirs import create_run_directory

logger = logging.getLogger("frugalflow.codegen")


def remove_dead_runs(repo: Path) -> None:
    """Remove what earlier runs on this repository left when they were killed (``kill -9``):
    their registered worktrees and temp checkouts. Never the user's worktrees, never a live
    run's; a failure here must not stop this run."""
    try:
        repository = WorkRepository(repo)
        try:
            for path in repository.remove_dead_runs():
                logger.warning("removed %s, left behind by a frugalflow run that was killed", path)
        finally:
            repository.close()
    except FrugalflowError as exc:
        logger.warning("could not clean up after earlier runs on %s: %s", repo, exc)


def open_workdir(request: CodeRequest) -> Path:
    """Clear what killed runs left on the request's repository, then make this run's private
    directory (marked with this process) and return it."""
    repo = Path(request.repo)
    remove_dead_runs(repo)
    return create_run_directory(request.request_id, repo)

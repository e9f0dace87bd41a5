"""Step 9, cleanup: remove the run's temp storage; runs whether the run succeeded or not."""

from __future__ import annotations

import shutil
from pathlib import Path

from frugalflow.placement.git import remove_worktree
from frugalflow.tasks import step


def remove_workdir(workdir: Path, repo: Path) -> bool:
    """Delete the run's temp directory, and the git worktree in it if a failed step left one.

    Only this run's worktree is unregistered: a plain ``git worktree prune`` would also forget
    the user's own worktrees whose directories happen to be missing (an unmounted disk).

    Returns:
        True when the directory is gone.
    """
    worktree = workdir / "worktree"
    if worktree.exists():
        remove_worktree(repo, worktree)
    shutil.rmtree(workdir, ignore_errors=True)
    return not workdir.exists()


cleanup = step("cleanup")(remove_workdir)

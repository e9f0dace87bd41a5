"""Step 9, cleanup: remove the run's temp storage; runs whether the run succeeded or not."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

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
        subprocess.run(
            # Twice --force: the worktree is locked while its run lives (see repository.place).
            ["git", "worktree", "remove", "--force", "--force", str(worktree)],
            cwd=repo,
            capture_output=True,
            check=False,
        )
    shutil.rmtree(workdir, ignore_errors=True)
    return not workdir.exists()


cleanup = step("cleanup")(remove_workdir)

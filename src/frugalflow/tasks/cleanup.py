"""Step 9, cleanup: remove the run's temp storage; runs whether the run succeeded or not."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from frugalflow.tasks import step


def remove_workdir(workdir: Path, repo: Path) -> bool:
    """Delete the run's temp directory and forget any worktree left in it.

    Returns:
        True when the directory is gone.
    """
    shutil.rmtree(workdir, ignore_errors=True)
    if (Path(repo) / ".git").exists():
        # A worktree whose directory vanished (a crashed run) stays registered until pruned.
        subprocess.run(["git", "worktree", "prune"], cwd=repo, capture_output=True, check=False)
    return not workdir.exists()


cleanup = step("cleanup")(remove_workdir)

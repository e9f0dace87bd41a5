"""A crash (``kill -9``) between writing the code and committing it costs the user nothing.

A child process places code with the write step patched to signal the parent and hang right
after the files are written in the private worktree; the parent then SIGKILLs it. The user's
tree must be byte-for-byte as before, cleanup must leave only the main worktree, and the next
request must place normally.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from frugalflow.repository import WorkRepository
from frugalflow.tasks.cleanup import remove_workdir
from tests.conftest import git
from tests.test_repository import UTIL, user_state

CHILD = r"""
import sys
import time
from pathlib import Path

import frugalflow.repository as repository

repo, workdir, marker = (Path(arg) for arg in sys.argv[1:4])
write = repository._write_files


def write_then_hang(worktree, *args):
    merged = write(worktree, *args)
    marker.write_text(str(worktree))  # the files are in the worktree, nothing is committed
    time.sleep(600)
    return merged


repository._write_files = write_then_hang
work = repository.WorkRepository(repo)
work.place(
    files={"pkg/slug.py": "def slug(text):\n    return text\n", "pkg/util.py": "X = 1\n"},
    branch="frugalflow/crash",
    message="Add slug",
    trailers={"Frugalflow-Request": "crash"},
    workdir=workdir,
)
"""


def worktrees(repo: Path) -> list[str]:
    listing = git(repo, "worktree", "list", "--porcelain").splitlines()
    return [line.removeprefix("worktree ") for line in listing if line.startswith("worktree ")]


def _cleanup_step(repo: Path, workdir: Path) -> None:
    assert remove_workdir(workdir, repo)


def _temp_wiped_then_pruned(repo: Path, workdir: Path) -> None:
    shutil.rmtree(workdir)  # as a reboot clearing /tmp would
    git(repo, "worktree", "prune")


@pytest.mark.parametrize("clean_up", [_cleanup_step, _temp_wiped_then_pruned])
def test_kill_9_after_writing_leaves_the_users_tree_unchanged(
    make_git_repo: Callable[..., Path], tmp_path: Path, clean_up: Callable[[Path, Path], None]
) -> None:
    repo = make_git_repo({"pkg/__init__.py": "", "pkg/util.py": UTIL, "README.md": "# Demo\n"})
    (repo / "README.md").write_text("# Demo\nunsaved\n")  # the user's uncommitted work
    (repo / "notes.txt").write_text("untracked\n")
    git(repo, "status")  # refresh the index's stat data before the snapshot
    before = user_state(repo)
    workdir, marker = tmp_path / "run", tmp_path / "written"

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(repo), str(workdir), str(marker)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            if child.poll() is not None or time.monotonic() > deadline:
                output = child.stdout.read().decode() if child.stdout else ""
                pytest.fail(f"the child never wrote the files (exit {child.returncode}):\n{output}")
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
        if child.stdout:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    # It was killed with the code written in its worktree and merged into util.py there.
    worktree = Path(marker.read_text())
    assert (worktree / "pkg/slug.py").exists()
    assert "X = 1" in (worktree / "pkg/util.py").read_text()
    # The user's tree, index, HEAD and config are byte-for-byte as before.
    assert user_state(repo) == before
    assert not (repo / "pkg/slug.py").exists()
    assert (repo / "pkg/util.py").read_text() == UTIL
    assert git(repo, "branch", "--list", "frugalflow/*") == ""  # no half-made branch either
    assert len(worktrees(repo)) == 2

    clean_up(repo, workdir)

    assert worktrees(repo) == [str(repo.resolve())]
    work = WorkRepository(repo)
    try:
        placement = work.place(
            files={"pkg/slug.py": "def slug(text):\n    return text\n"},
            branch="frugalflow/next",
            message="Add slug",
            trailers={"Frugalflow-Request": "next"},
            workdir=tmp_path / "next-run",
        )
    finally:
        work.close()
    assert git(repo, "show", "--name-only", "--format=", placement.commit) == "pkg/slug.py"
    assert worktrees(repo) == [str(repo.resolve())]
    assert user_state(repo) == before

"""A crash (``kill -9``) between writing the code and committing it costs the user nothing.

A child process places code with its write step (``WorkRepository.write_files``) overridden to
signal the parent and hang right after the files are written in the private worktree; the
parent then SIGKILLs it. The user's
tree must be byte-for-byte as before; once the next run, the cleanup step or ``frugalflow
doctor`` has run, no worktree of the dead run is registered and its temp checkout is gone, and
the next request places normally. The user's own worktrees, and a live run's, are never touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from frugalflow.cli.app import app
from frugalflow.placement.repository import WorkRepository
from frugalflow.placement.rundirs import RunOwner
from frugalflow.tasks.cleanup import remove_workdir
from tests.support.git import git, user_state
from tests.support.placement import UTIL

CHILD = r"""
import sys
import time
from pathlib import Path

from frugalflow.placement.repository import WorkRepository
from frugalflow.placement.rundirs import create_run_directory

repo, root, marker = (Path(arg) for arg in sys.argv[1:4])
workdir = create_run_directory("crash", repo, root=root)


class HangAfterWriting(WorkRepository):
    def write_files(self, worktree, *args):
        merged = super().write_files(worktree, *args)
        marker.write_text(str(worktree))  # the files are in the worktree, nothing is committed
        time.sleep(600)
        return merged


work = HangAfterWriting(repo)
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


def _next_run(repo: Path, workdir: Path) -> None:
    work = WorkRepository(repo)  # what the codegen flow does first, before any step
    try:
        assert work.remove_dead_runs() == [workdir / "worktree"]
    finally:
        work.close()
    assert not workdir.exists()
    assert not any(path.endswith("/worktree") for path in worktrees(repo))


def _temp_wiped_then_next_run(repo: Path, workdir: Path) -> None:
    shutil.rmtree(workdir)  # as a reboot clearing /tmp would


def _doctor(repo: Path, workdir: Path) -> None:
    result = CliRunner().invoke(app, ["doctor", "--repo", str(repo)])
    assert result.exit_code == 0, result.output
    assert "removed the worktree" in result.output
    assert not any(path.endswith("/worktree") for path in worktrees(repo))
    assert not workdir.exists()


@pytest.mark.parametrize("clean_up", [_next_run, _temp_wiped_then_next_run, _cleanup_step, _doctor])
def test_kill_9_after_writing_leaves_the_users_tree_unchanged(
    make_git_repo: Callable[..., Path],
    tmp_path: Path,
    clean_up: Callable[[Path, Path], None],
    ledger_path: Path,
) -> None:
    repo = make_git_repo({"pkg/__init__.py": "", "pkg/util.py": UTIL, "README.md": "# Demo\n"})
    (repo / "README.md").write_text("# Demo\nunsaved\n")  # the user's uncommitted work
    (repo / "notes.txt").write_text("untracked\n")
    # The user's own worktrees: one whose disk is unmounted (missing), one locked by them.
    git(repo, "worktree", "add", "--quiet", "--detach", str(tmp_path / "usb-drive"))
    shutil.rmtree(tmp_path / "usb-drive")
    git(repo, "worktree", "add", "--quiet", "--detach", "--lock", str(tmp_path / "mine"))
    own = worktrees(repo)
    git(repo, "status")  # refresh the index's stat data before the snapshot
    before = user_state(repo)
    runs, marker = tmp_path / "runs", tmp_path / "written"
    runs.mkdir()

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(repo), str(runs), str(marker)],
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
    assert sorted(worktrees(repo)) == sorted(
        [*own, str(worktree)]
    )  # the dead run's worktree is registered
    [workdir] = runs.iterdir()

    clean_up(repo, workdir)

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
    assert sorted(worktrees(repo)) == sorted(
        own
    )  # the dead run's worktree is gone; the user's are all there
    assert not worktree.exists() and not workdir.exists()  # so is its temp checkout
    assert user_state(repo) == before


def test_a_live_runs_worktree_is_left_alone(
    make_git_repo: Callable[..., Path], tmp_path: Path
) -> None:
    from frugalflow.placement.rundirs import owner_tag

    repo = make_git_repo({"pkg/__init__.py": ""})
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        reason = owner_tag(RunOwner(alive.pid, socket.gethostname()))
        elsewhere = owner_tag(RunOwner(1, "another-host"))
        for name, tag in (("live", reason), ("remote", elsewhere)):
            git(
                repo,
                "worktree",
                "add",
                "-q",
                "--detach",
                "--lock",
                "--reason",
                tag,
                str(tmp_path / name),
            )
        work = WorkRepository(repo)
        try:
            assert work.remove_stale_worktrees() == []
        finally:
            work.close()
        assert len(worktrees(repo)) == 3
    finally:
        alive.kill()
        alive.wait()
    work = WorkRepository(repo)
    try:
        assert work.remove_stale_worktrees() == [tmp_path / "live"]  # its process is gone now
    finally:
        work.close()
    assert worktrees(repo) == [str(repo.resolve()), str(tmp_path / "remote")]


def test_cleanup_unregisters_a_locked_worktree_a_failed_step_left(
    make_git_repo: Callable[..., Path], tmp_path: Path
) -> None:
    """A run's worktree is locked while the run lives; the cleanup step (which runs after a
    failed step too) must still unregister it, not leave it for the next run to sweep."""
    repo = make_git_repo({"README.md": "# r\n"})
    workdir = tmp_path / "run"
    workdir.mkdir()
    git(
        repo,
        "worktree",
        "add",
        "--lock",
        "--reason",
        "frugalflow run",
        "-b",
        "w",
        str(workdir / "worktree"),
    )
    assert git(repo, "worktree", "list").count("\n") == 1

    assert remove_workdir(workdir, repo)
    assert git(repo, "worktree", "list").count("\n") == 0

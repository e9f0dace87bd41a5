"""Fast-forwarding the user's checked-out branch to a work branch (``--merge``), only if safe.

Every refusal must leave the user's files, index and refs exactly as they were, and the code
committed on its work branch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from frugalflow.core.schemas import Placement
from frugalflow.placement.fastforward import FastForwardRefusedError
from frugalflow.placement.repository import WorkRepository
from tests.support.git import git, user_state
from tests.support.placement import BRANCH, UTIL, place

NEW = {"pkg/slug.py": "def slug(text):\n    return text\n"}


def fast_forward(repo: Path, placement: Placement) -> Placement:
    work = WorkRepository(repo)
    try:
        return work.fast_forward(placement)
    finally:
        work.close()


def test_fast_forward_of_a_clean_tree(repo: Path, workdir: Path) -> None:
    placement = place(repo, NEW, workdir)

    merged = fast_forward(repo, placement)

    assert merged.merged and merged.commit == placement.commit
    assert git(repo, "rev-parse", "main") == placement.commit
    assert git(repo, "symbolic-ref", "HEAD") == "refs/heads/main"
    assert (repo / "pkg/slug.py").read_text() == NEW["pkg/slug.py"]
    assert git(repo, "status", "--porcelain") == ""
    assert "frugalflow: fast-forward main to" in git(repo, "reflog", "show", "-1", "main")


def test_fast_forward_keeps_unrelated_uncommitted_work(repo: Path, workdir: Path) -> None:
    (repo / "README.md").write_text("# Demo\nunsaved edit\n")
    (repo / "pkg/__init__.py").write_text("STAGED = True\n")
    git(repo, "add", "pkg/__init__.py")
    (repo / "notes.txt").write_text("untracked\n")
    placement = place(repo, {"pkg/util.py": "def more():\n    return 1\n"}, workdir)

    assert fast_forward(repo, placement).merged

    assert git(repo, "rev-parse", "HEAD") == placement.commit
    assert "def more():" in (repo / "pkg/util.py").read_text()
    assert (repo / "README.md").read_text() == "# Demo\nunsaved edit\n"
    assert git(repo, "diff", "--name-only") == "README.md"
    assert git(repo, "diff", "--cached", "--name-only") == "pkg/__init__.py"
    assert git(repo, "ls-files", "--others", "--exclude-standard") == "notes.txt"


def _dirty_target(repo: Path) -> None:
    (repo / "pkg/util.py").write_text(UTIL + "# my edit\n")


def _staged_target(repo: Path) -> None:
    (repo / "pkg/util.py").write_text(UTIL + "# my edit\n")
    git(repo, "add", "pkg/util.py")


def _untracked_in_the_way(repo: Path) -> None:
    (repo / "pkg/slug.py").write_text("mine\n")


def _ignored_in_the_way(repo: Path) -> None:
    (repo / ".git/info/exclude").write_text("pkg/slug.py\n")
    (repo / "pkg/slug.py").write_text("mine\n")


def _directory_in_the_way(repo: Path) -> None:
    (repo / "pkg/slug.py").mkdir()


def _detached(repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach")


def _merge_in_progress(repo: Path) -> None:
    git(repo, "checkout", "-qb", "other")
    (repo / "README.md").write_text("# Other\n")
    git(repo, "commit", "-qam", "other")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "--quiet", "--no-ff", "--no-commit", "other")  # stops before committing
    assert (repo / ".git/MERGE_HEAD").exists()


def _branch_moved_on(repo: Path) -> None:
    (repo / "README.md").write_text("# Demo\nmore\n")
    git(repo, "commit", "-qam", "more")


@pytest.mark.parametrize(
    ("make_unsafe", "message"),
    [
        (_dirty_target, r"pkg/util\.py has uncommitted changes.*git stash"),
        (_staged_target, r"pkg/util\.py has uncommitted changes"),
        (_untracked_in_the_way, r"pkg/slug\.py .*untracked and in the way"),
        (_ignored_in_the_way, r"pkg/slug\.py .*untracked and in the way"),
        (_directory_in_the_way, r"pkg/slug\.py .*in the way"),
        (_detached, r"HEAD is detached.*git switch"),
        (_merge_in_progress, r"a merge is in progress.*git merge --abort"),
        (_branch_moved_on, r"main moved on.*`git merge frugalflow/req123`"),
    ],
)
def test_unsafe_fast_forward_is_refused_and_changes_nothing(
    repo: Path, workdir: Path, make_unsafe: Callable[[Path], None], message: str
) -> None:
    files = {**NEW, "pkg/util.py": "def more():\n    return 1\n"}
    placement = place(repo, files, workdir)
    make_unsafe(repo)
    git(repo, "status")  # refresh the index's stat data before the snapshot
    refs = git(repo, "show-ref")
    before = user_state(repo)

    with pytest.raises(FastForwardRefusedError, match=message) as refused:
        fast_forward(repo, placement)

    assert "the code stays committed on frugalflow/req123" in str(refused.value)
    assert user_state(repo) == before
    assert git(repo, "show-ref") == refs
    assert git(repo, "rev-parse", BRANCH) == placement.commit


def test_fast_forward_is_refused_while_a_rebase_is_in_progress(repo: Path, workdir: Path) -> None:
    placement = place(repo, NEW, workdir)
    git(repo, "checkout", "-qb", "other")
    (repo / "README.md").write_text("# Other\n")
    git(repo, "commit", "-qam", "other")
    git(repo, "checkout", "-q", "main")
    (repo / "pkg/__init__.py").write_text("X = 1\n")
    git(repo, "commit", "-qam", "x")
    git(repo, "reset", "-q", "--hard", "HEAD^")  # main at the placement's parent again
    (repo / ".git/rebase-merge").mkdir()  # as `git rebase -i` leaves it while editing
    (repo / ".git/rebase-merge/head-name").write_text("refs/heads/main\n")
    before = user_state(repo)

    with pytest.raises(FastForwardRefusedError, match="a rebase is in progress"):
        fast_forward(repo, placement)

    assert user_state(repo) == before

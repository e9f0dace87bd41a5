"""WorkRepository against real temporary git repositories.

Most tests hash everything the user owns before and after placing code
(``tests.support.git.user_state``). Refs, objects, logs and worktree metadata are left out of
the hash: adding a branch legitimately changes them. The ``repo`` and ``workdir`` fixtures are
in ``tests/conftest.py``.
"""

from __future__ import annotations

import ast
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from frugalflow.core.errors import (
    NameClashError,
    NotAGitRepositoryError,
    PlacementError,
    UnsafePathError,
)
from frugalflow.placement.repository import WorkRepository
from tests.support.git import git, user_state
from tests.support.placement import BRANCH, UTIL, place

MakeRepo = Callable[..., Path]


def assert_no_leftovers(repo: Path, workdir: Path) -> None:
    assert not (workdir / "worktree").exists()
    listing = git(repo, "worktree", "list", "--porcelain")
    assert [line for line in listing.splitlines() if line.startswith("worktree ")] == [
        f"worktree {repo.resolve()}"
    ]


def assert_failed_cleanly(repo: Path, workdir: Path, before: str) -> None:
    assert git(repo, "branch", "--list", BRANCH) == ""
    assert user_state(repo) == before
    assert_no_leftovers(repo, workdir)


def test_new_file_is_committed_on_the_branch_as_frugalflow(repo: Path, workdir: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    before = user_state(repo)

    placement = place(repo, {"pkg/slug.py": "def slug(text):\n    return text\n"}, workdir)

    assert placement.branch == BRANCH
    assert placement.files == ("pkg/slug.py",)
    assert not placement.merged_into_existing
    assert git(repo, "rev-parse", BRANCH) == placement.commit
    assert git(repo, "rev-parse", f"{BRANCH}^") == head
    assert git(repo, "show", f"{BRANCH}:pkg/slug.py") == "def slug(text):\n    return text"
    assert git(repo, "show", "--name-only", "--format=", BRANCH) == "pkg/slug.py"
    people = git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>", BRANCH)
    assert people == "frugalflow <frugalflow@localhost>|frugalflow <frugalflow@localhost>"
    body = git(repo, "log", "-1", "--format=%B", BRANCH)
    assert body == "Add code\n\nFrugalflow-Request: req123\nFrugalflow-Model: local:qwen"
    trailer = git(repo, "log", "-1", "--format=%(trailers:key=Frugalflow-Request)", BRANCH)
    assert trailer == "Frugalflow-Request: req123"
    assert git(repo, "symbolic-ref", "HEAD") == "refs/heads/main"
    assert git(repo, "rev-parse", "HEAD") == head
    assert user_state(repo) == before
    assert not (repo / "pkg/slug.py").exists()
    assert_no_leftovers(repo, workdir)


def test_uncommitted_staged_untracked_and_stashed_work_is_untouched(
    repo: Path, workdir: Path
) -> None:
    (repo / "README.md").write_text("# Demo\nstashed line\n")
    git(repo, "stash")
    (repo / "README.md").write_text("# Demo\nunsaved edit\n")
    (repo / "pkg/__init__.py").write_text("STAGED = True\n")
    git(repo, "add", "pkg/__init__.py")
    (repo / "pkg/__init__.py").write_text("STAGED = True\nplus_unstaged = 1\n")
    (repo / "notes.txt").write_text("untracked\n")
    git(repo, "status")  # let git refresh the index's stat data before taking the snapshot
    stash, status, before = git(repo, "stash", "list"), git(repo, "status", "-s"), user_state(repo)

    placement = place(repo, {"pkg/new.py": "VALUE = 1\n"}, workdir)

    assert user_state(repo) == before
    assert git(repo, "stash", "list") == stash
    assert git(repo, "status", "-s") == status
    assert git(repo, "diff", "--cached", "--name-only") == "pkg/__init__.py"
    assert git(repo, "show", "--name-only", "--format=", placement.commit) == "pkg/new.py"
    assert git(repo, "show", f"{BRANCH}:pkg/__init__.py") == ""
    assert git(repo, "show", f"{BRANCH}:README.md") == "# Demo"


def test_target_with_uncommitted_changes_is_merged_against_head(repo: Path, workdir: Path) -> None:
    wip = UTIL + "\n\ndef half_written(\n"  # the user's unfinished edit, not even valid Python
    (repo / "pkg/util.py").write_text(wip)
    before = user_state(repo)

    placement = place(
        repo, {"pkg/util.py": "import json\n\n\ndef dump(x):\n    return json.dumps(x)\n"}, workdir
    )

    assert placement.merged_into_existing
    assert (repo / "pkg/util.py").read_text() == wip
    assert user_state(repo) == before
    merged = git(repo, "show", f"{BRANCH}:pkg/util.py")
    assert "half_written" not in merged
    assert "def existing(path):" in merged and "def dump(x):" in merged
    ast.parse(merged)


def test_detached_head_stays_detached_at_the_same_commit(repo: Path, workdir: Path) -> None:
    (repo / "README.md").write_text("# Demo\nsecond\n")
    git(repo, "commit", "-qam", "second")
    first = git(repo, "rev-parse", "HEAD^")
    git(repo, "checkout", "-q", "--detach", first)
    before = user_state(repo)

    placement = place(repo, {"extra.py": "X = 1\n"}, workdir)

    assert git(repo, "rev-parse", f"{placement.commit}^") == first
    assert git(repo, "rev-parse", "HEAD") == first
    with pytest.raises(subprocess.CalledProcessError):
        git(repo, "symbolic-ref", "-q", "HEAD")
    assert user_state(repo) == before
    assert_no_leftovers(repo, workdir)


def test_merge_in_progress_is_untouched(repo: Path, workdir: Path) -> None:
    git(repo, "checkout", "-qb", "other")
    (repo / "README.md").write_text("# Other\n")
    git(repo, "commit", "-qam", "other")
    git(repo, "checkout", "-q", "main")
    (repo / "README.md").write_text("# Main\n")
    git(repo, "commit", "-qam", "main")
    with pytest.raises(subprocess.CalledProcessError):
        git(repo, "merge", "other")
    before = user_state(repo)

    placement = place(repo, {"extra.py": "X = 1\n"}, workdir)

    assert user_state(repo) == before
    assert (repo / ".git/MERGE_HEAD").exists()
    assert "<<<<<<<" in (repo / "README.md").read_text()
    assert git(repo, "rev-parse", f"{placement.commit}^") == git(repo, "rev-parse", "HEAD")
    assert git(repo, "show", f"{BRANCH}:README.md") == "# Main"
    assert_no_leftovers(repo, workdir)


def test_rebase_in_progress_is_untouched(repo: Path, workdir: Path) -> None:
    conflict_on_readme(repo)
    with pytest.raises(subprocess.CalledProcessError):
        git(repo, "rebase", "other")
    assert (repo / ".git/rebase-merge").is_dir()
    head = git(repo, "rev-parse", "HEAD")
    before = user_state(repo)

    placement = place(repo, {"extra.py": "X = 1\n"}, workdir)

    assert user_state(repo) == before
    assert (repo / ".git/rebase-merge").is_dir()
    assert git(repo, "rev-parse", f"{placement.commit}^") == head
    assert git(repo, "show", "--name-only", "--format=", BRANCH) == "extra.py"
    assert_no_leftovers(repo, workdir)


def conflict_on_readme(repo: Path) -> None:
    """Branches ``other`` and ``main`` (checked out) that both changed README.md."""
    git(repo, "checkout", "-qb", "other")
    (repo / "README.md").write_text("# Other\n")
    git(repo, "commit", "-qam", "other")
    git(repo, "checkout", "-q", "main")
    (repo / "README.md").write_text("# Main\n")
    git(repo, "commit", "-qam", "main")


def test_merge_into_existing_module_keeps_code_and_adds_imports_once(
    repo: Path, workdir: Path
) -> None:
    new = "import os\nimport json\n\n\ndef describe(path):\n    return json.dumps(os.sep)\n"

    placement = place(repo, {"pkg/util.py": new}, workdir)

    merged = git(repo, "show", f"{BRANCH}:pkg/util.py") + "\n"
    assert placement.merged_into_existing
    assert merged.count("import os\n") == 1
    assert merged.count("import json\n") == 1
    assert merged.index("import json") < merged.index("def existing")
    assert "def existing(path):\n    return os.path.basename(path)\n" in merged
    assert merged.rstrip().endswith("return json.dumps(os.sep)")
    ast.parse(merged)


def test_name_clash_raises_and_leaves_no_branch(repo: Path, workdir: Path) -> None:
    before = user_state(repo)

    with pytest.raises(NameClashError, match=r"`existing`.*another --target"):
        place(repo, {"pkg/util.py": "def existing(path):\n    return path\n"}, workdir)

    assert_failed_cleanly(repo, workdir, before)


@pytest.mark.parametrize("target", ["../x.py", "/etc/x.py", ".git/hooks/x", "pkg/../../x.py"])
def test_paths_outside_the_repository_are_refused(repo: Path, workdir: Path, target: str) -> None:
    before = user_state(repo)

    with pytest.raises(UnsafePathError, match="must be inside the repository"):
        place(repo, {target: "X = 1\n"}, workdir)

    assert_failed_cleanly(repo, workdir, before)
    assert not (repo.parent / "x.py").exists()


def test_committed_symlink_to_outside_is_refused(
    make_git_repo: MakeRepo, tmp_path: Path, workdir: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    repo = make_git_repo({"a.py": ""})
    (repo / "escape").symlink_to(outside, target_is_directory=True)
    (repo / "sneaky").symlink_to("pkg/../..")
    git(repo, "add", "escape", "sneaky")
    git(repo, "commit", "-qm", "links")
    before = user_state(repo)

    for target in ("escape/x.py", "sneaky/x.py"):
        with pytest.raises(UnsafePathError, match="must be inside the repository"):
            place(repo, {target: "X = 1\n"}, workdir)

    assert_failed_cleanly(repo, workdir, before)
    assert list(outside.iterdir()) == []


def test_symlink_only_in_the_working_tree_is_refused(
    repo: Path, tmp_path: Path, workdir: Path
) -> None:
    (repo / "local").symlink_to(tmp_path, target_is_directory=True)  # untracked, not at HEAD
    before = user_state(repo)

    with pytest.raises(UnsafePathError, match="symlink in the working tree"):
        place(repo, {"local/x.py": "X = 1\n"}, workdir)

    assert_failed_cleanly(repo, workdir, before)
    assert not (tmp_path / "x.py").exists()


def test_symlinks_inside_the_repository_resolve_to_the_real_path(repo: Path, workdir: Path) -> None:
    (repo / "alias").symlink_to("pkg", target_is_directory=True)
    git(repo, "add", "alias")
    git(repo, "commit", "-qm", "alias")
    work = WorkRepository(repo)

    assert work.resolve_target("./alias//util.py") == "pkg/util.py"
    assert work.resolve_target("pkg/sub/../new.py") == "pkg/new.py"
    placement = work.place(
        files={"alias/new.py": "Y = 2\n"}, branch=BRANCH, message="m", trailers={}, workdir=workdir
    )
    assert placement.files == ("pkg/new.py",)
    assert git(repo, "show", f"{BRANCH}:alias") == "pkg"  # the link is still a link


def test_existing_branch_is_refused(repo: Path, workdir: Path) -> None:
    git(repo, "branch", BRANCH)
    tip = git(repo, "rev-parse", BRANCH)

    with pytest.raises(PlacementError, match=r"already exists.*another request id"):
        place(repo, {"new.py": "X = 1\n"}, workdir)

    assert git(repo, "rev-parse", BRANCH) == tip
    assert_no_leftovers(repo, workdir)


def test_existing_non_python_file_is_refused_without_leftovers(repo: Path, workdir: Path) -> None:
    before = user_state(repo)

    with pytest.raises(PlacementError, match=r"README\.md already exists"):
        place(repo, {"new.py": "X = 1\n", "README.md": "# New\n"}, workdir)

    assert_failed_cleanly(repo, workdir, before)


def test_failed_write_leaves_nothing(
    repo: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = user_state(repo)

    def crash(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("frugalflow.placement.repository.os.replace", crash)
    with pytest.raises(PlacementError, match="disk full"):
        place(repo, {"new.py": "X = 1\n"}, workdir)

    assert_failed_cleanly(repo, workdir, before)


def test_user_hooks_and_signing_config_do_not_interfere(repo: Path, workdir: Path) -> None:
    marker = repo.parent / "hook-ran"
    for hook in ("pre-commit", "commit-msg", "post-commit", "post-checkout"):
        path = repo / ".git/hooks" / hook
        path.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
        path.chmod(0o755)
    git(repo, "config", "commit.gpgsign", "true")
    git(repo, "config", "user.signingkey", "NO-SUCH-KEY")
    before = user_state(repo)

    placement = place(repo, {"new.py": "X = 1\n"}, workdir)

    assert git(repo, "rev-parse", BRANCH) == placement.commit
    assert not marker.exists()
    assert user_state(repo) == before


def test_work_directory_inside_the_repository_is_refused(repo: Path) -> None:
    with pytest.raises(PlacementError, match="must be outside the repository"):
        place(repo, {"new.py": "X = 1\n"}, repo / "tmp")
    assert not (repo / "tmp").exists()
    assert git(repo, "branch", "--list", BRANCH) == ""


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(NotAGitRepositoryError, match="git init"):
        WorkRepository(tmp_path)
    with pytest.raises(NotAGitRepositoryError, match="does not exist"):
        WorkRepository(tmp_path / "missing")


def test_bare_repository(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "--bare", "bare.git")
    with pytest.raises(NotAGitRepositoryError, match="bare repository"):
        WorkRepository(tmp_path / "bare.git")


def test_repository_without_commits(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "fresh")
    with pytest.raises(NotAGitRepositoryError, match="make an initial commit first"):
        WorkRepository(tmp_path / "fresh")


def test_read_at_head_and_branch_exists(repo: Path) -> None:
    (repo / "pkg/util.py").write_text("changed in the working tree\n")
    work = WorkRepository(repo)

    assert work.read_at_head("pkg/util.py") == UTIL
    assert work.read_at_head("pkg/missing.py") is None
    assert work.read_at_head("pkg") is None
    assert work.branch_exists("main")
    assert not work.branch_exists(BRANCH)
    with pytest.raises(UnsafePathError):
        work.read_at_head("../secret")


def test_branch_appears_only_with_the_finished_commit(
    repo: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    write = WorkRepository.write_files

    def spy(self: WorkRepository, worktree: Path, *args: Any) -> bool:
        merged = write(self, worktree, *args)
        seen.append(git(repo, "branch", "--list", BRANCH))
        seen.append(git(worktree, "status", "--porcelain"))
        return merged

    monkeypatch.setattr(WorkRepository, "write_files", spy)
    placement = place(repo, {"new.py": "X = 1\n"}, workdir)

    assert seen == ["", "?? new.py"]  # written in the worktree, no branch yet
    assert git(repo, "rev-parse", BRANCH) == placement.commit
    reflog = git(repo, "reflog", "show", "--format=%gs", BRANCH)
    assert reflog == "frugalflow: Add code"


def test_path_in_use(repo: Path) -> None:
    (repo / "notes.txt").write_text("untracked\n")
    work = WorkRepository(repo)

    assert work.path_in_use("pkg/util.py")
    assert work.path_in_use("pkg")
    assert work.path_in_use("notes.txt")
    assert not work.path_in_use("pkg/new.py")
    with pytest.raises(UnsafePathError):
        work.path_in_use("../x.py")

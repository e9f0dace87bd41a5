"""Fast-forwarding the user's checked-out branch to a work branch, only when nothing can be lost.

This is the one place frugalflow writes to the user's working tree and index, and only when the
user asked for it (``--merge``). Every check runs before anything is written; a refusal leaves
every file, the index and every ref exactly as they were, and the code stays committed on its
work branch. Only the files the work commit touches are updated, so the user's unrelated
uncommitted changes stay where they are.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import git

from frugalflow.core.errors import PlacementError
from frugalflow.placement.git import GitRunner

__all__ = ["FastForwardRefusedError", "fast_forward_branch"]

# Read-only git calls must not refresh and rewrite the user's index (GIT_OPTIONAL_LOCKS=0), and
# paths are paths, never glob patterns.
_ENV = {"GIT_OPTIONAL_LOCKS": "0", "GIT_LITERAL_PATHSPECS": "1"}
# What git leaves in its directory while an operation waits for the user, and how to end it.
_IN_PROGRESS = {
    "MERGE_HEAD": ("a merge", "git merge --continue` or `git merge --abort"),
    "rebase-merge": ("a rebase", "git rebase --continue` or `git rebase --abort"),
    "rebase-apply": ("a rebase or `git am`", "git rebase --abort` or `git am --abort"),
    "CHERRY_PICK_HEAD": ("a cherry-pick", "git cherry-pick --continue` or `--abort"),
    "REVERT_HEAD": ("a revert", "git revert --continue` or `git revert --abort"),
    "BISECT_LOG": ("a bisect", "git bisect reset"),
}


class FastForwardRefusedError(PlacementError):
    """The checked-out branch was not fast-forwarded; the code is still on its work branch."""


def fast_forward_branch(cmd: GitRunner, root: Path, branch: str, commit: str) -> None:
    """Move the checked-out branch to ``commit`` and check out the files it touches.

    Args:
        cmd: the git command runner for the user's repository (hooks already disabled).
        root: the top directory of the user's working tree.
        branch: the work branch, named in messages.
        commit: the work branch's commit; its only parent must be the checked-out branch's tip.

    Raises:
        FastForwardRefusedError: if it is not safe: HEAD detached, an operation in progress,
            the branch moved on, or a touched file has uncommitted changes or something in its
            way. Nothing was changed.
        PlacementError: if git failed half-way; the branch is moved back.
    """
    later = f"the code stays committed on {branch}; merge it with `git merge --ff-only {branch}`"
    status, head_ref, _ = cmd.attempt("symbolic-ref", "-q", "HEAD", env=_ENV)
    head_ref = head_ref.strip()
    if status != 0 or not head_ref.startswith("refs/heads/"):
        raise FastForwardRefusedError(
            f"not merged: HEAD is detached (no branch is checked out); {later} after "
            "`git switch <branch>`"
        )
    for marker, (what, how) in _IN_PROGRESS.items():
        if _git_path(cmd, root, marker).exists():
            raise FastForwardRefusedError(
                f"not merged: {what} is in progress in {root}; finish it (`{how}`), then {later}"
            )
    if _git_path(cmd, root, "index.lock").exists():
        raise FastForwardRefusedError(
            f"not merged: another git command is running in {root} (index.lock exists); {later} "
            "when it has finished"
        )
    name = head_ref.removeprefix("refs/heads/")
    tip = _run(cmd, "rev-parse", "--verify", "--quiet", f"{head_ref}^{{commit}}").strip()
    parents = _run(cmd, "rev-list", "--parents", "-n", "1", commit).split()[1:]
    if parents != [tip]:
        raise FastForwardRefusedError(
            f"not merged: {name} moved on since the code was placed (the work branch does not "
            f"start at its tip); the code stays committed on {branch}; merge it with "
            f"`git merge {branch}`"
        )
    paths = _touched_paths(cmd, tip, commit, later)
    _refuse_if_in_the_way(cmd, root, paths, later)

    message = f"frugalflow: fast-forward {name} to {branch}"
    status, _, err = cmd.attempt("update-ref", "-m", message, head_ref, commit, tip, env=_ENV)
    if status != 0:  # it moved since the check above
        raise FastForwardRefusedError(f"not merged: could not move {name} ({err.strip()}); {later}")
    try:
        cmd.run("checkout", commit, "--", *paths, env=_ENV)
    except git.GitError as exc:
        # Put the branch and the index entries back; the files git wrote may remain.
        cmd.attempt("update-ref", head_ref, tip, commit, env=_ENV)
        cmd.attempt("reset", "-q", tip, "--", *paths, env=_ENV)
        raise PlacementError(
            f"could not check out {', '.join(paths)} after moving {name}: {exc}; {name} was "
            f"moved back, check `git status` for files git wrote; {later}"
        ) from exc


def _run(cmd: GitRunner, command: str, *args: str) -> str:
    """Run a read-only git command through ``cmd``; a failure means nothing was merged."""
    status, out, err = cmd.attempt(command, *args, env=_ENV)
    if status != 0:
        raise PlacementError(
            f"`git {command} {' '.join(args)}` failed: {err.strip()}; nothing was merged"
        )
    return out


def _git_path(cmd: GitRunner, root: Path, name: str) -> Path:
    """The path of a file in this worktree's git directory (right in linked worktrees too)."""
    return root / _run(cmd, "rev-parse", "--git-path", name).strip()


def _touched_paths(cmd: GitRunner, tip: str, commit: str, later: str) -> list[str]:
    out = _run(cmd, "diff-tree", "-r", "-z", "--no-renames", "--name-status", tip, commit)
    fields = [field for field in out.split("\0") if field]
    changes = list(zip(fields[::2], fields[1::2], strict=True))
    if not changes or any(kind not in ("A", "M") for kind, _ in changes):
        raise FastForwardRefusedError(
            f"not merged: the work commit does more than add or change files; {later}"
        )
    return [path for _, path in changes]


def _refuse_if_in_the_way(cmd: GitRunner, root: Path, paths: list[str], later: str) -> None:
    """Refuse if a touched path has uncommitted changes or anything untracked in its way."""
    blocked: set[str] = set()
    for path in paths:
        # A symlink, directory or special file where the commit has a file, or a file or
        # symlink where it needs a directory: git would replace it.
        here = root / path
        if os.path.lexists(here) and (here.is_symlink() or not here.is_file()):
            blocked.add(path)
        for parent in PurePosixPath(path).parents:
            here = root / parent
            if parent.parts and os.path.lexists(here) and (here.is_symlink() or not here.is_dir()):
                blocked.add(str(parent))
    options = [
        "--porcelain=v1",
        "-z",
        "--no-renames",
        "--untracked-files=all",
        "--ignored=matching",
    ]
    status, out, err = cmd.attempt("status", *options, "--", *paths, env=_ENV)
    if status != 0:
        raise PlacementError(f"`git status` failed: {err.strip()}; nothing was merged")
    entries = [entry for entry in out.split("\0") if entry[2:3] == " "]
    blocked.update(entry[3:] for entry in entries)
    if blocked:
        listed = ", ".join(sorted(blocked))
        raise FastForwardRefusedError(
            f"not merged: {listed} has uncommitted changes (staged or not) or is untracked and in "
            f"the way; commit, stash (`git stash --include-untracked`) or move it, then {later}"
        )

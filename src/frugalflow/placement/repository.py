"""The user's repository, changed only through a private worktree.

The user's working tree, index, HEAD and stash must stay byte-for-byte as they were. So code is
never written there: :meth:`WorkRepository.place` commits in a private, detached ``git worktree``
and only then creates the work branch at that commit; a crash (even ``kill -9``) before that
leaves no file in the user's tree and no branch, only a worktree that cleanup removes. An
uncommitted change, a merge or rebase in progress, or a detached HEAD are simply not looked at.
Only :meth:`WorkRepository.fast_forward`, on request, writes to the user's tree (see
:mod:`frugalflow.placement.fastforward`). The git commands themselves run through
:mod:`frugalflow.placement.git`.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from git.objects import Blob, Tree

from frugalflow.core.errors import PlacementError
from frugalflow.core.schemas import Placement
from frugalflow.placement.fastforward import fast_forward_branch
from frugalflow.placement.git import (
    GIT_ERRORS,
    IDENTITY,
    SAFE_CONFIG,
    GitRunner,
    open_repository,
    repository_top,
)
from frugalflow.placement.rundirs import (
    RunOwner,
    owner_tag,
    parse_owner_tag,
    remove_run_directory,
    run_directories,
)
from frugalflow.placement.safepaths import SYMLINK_MODE, resolve_path, tree_entry
from frugalflow.placement.worktree import write_files

# repository_top is re-exported: callers that open a WorkRepository also ask where one is.
__all__ = ["FrugalflowWorktree", "WorkRepository", "repository_top"]

logger = logging.getLogger(__name__)


class WorkRepository:
    """A user's git repository, changed only through a private worktree.

    Attributes:
        root: the top-level directory of the repository's working tree.
    """

    def __init__(self, path: Path) -> None:
        """Open the repository at ``path``.

        Args:
            path: the top-level directory of a git repository with at least one commit.

        Raises:
            NotAGitRepositoryError: if ``path`` is not a repository, is bare or has no commits.
            PlacementError: if GIT_DIR-like variables in the environment would redirect git.
        """
        repo, runner = open_repository(Path(path))
        self._repo = repo
        self._git = runner
        assert repo.working_tree_dir is not None  # open_repository refuses bare repositories
        self.root = Path(repo.working_tree_dir).resolve()

    def close(self) -> None:
        """Stop the git helper processes GitPython keeps running."""
        self._repo.close()

    def resolve_target(self, target: str) -> str:
        """Check a target path and return it normalised; in-repository symlinks are followed.

        Args:
            target: a path relative to the repository root, with ``/`` separators.

        Returns:
            The normalised repository-relative POSIX path.

        Raises:
            UnsafePathError: if the path is absolute, escapes with ``..``, lies in ``.git/`` or
                a submodule, or passes through a symlink (committed at HEAD or in the working
                tree) that leads outside the repository.
        """
        try:
            return resolve_path(self.root, target, self._repo.head.commit.tree)
        except GIT_ERRORS as exc:
            raise PlacementError(f"could not read HEAD to check {target!r}: {exc}") from exc

    def branch_exists(self, branch: str) -> bool:
        """Tell whether the local branch ``refs/heads/<branch>`` exists.

        Args:
            branch: a branch name without ``refs/heads/``.

        Returns:
            True if it exists.
        """
        ref = f"refs/heads/{branch}"
        status, _, _ = self._git.attempt("show-ref", "--verify", "--quiet", ref)
        return bool(status == 0)

    def path_in_use(self, path: str) -> bool:
        """Tell whether a path exists at HEAD or in the working tree (tracked or not).

        Args:
            path: a repository-relative path; checked like :meth:`resolve_target`.

        Raises:
            UnsafePathError: if ``path`` is not safely inside the repository.
        """
        try:
            tree = self._repo.head.commit.tree
            resolved = resolve_path(self.root, path, tree)
            return tree_entry(tree, resolved.split("/")) is not None or os.path.lexists(
                self.root / resolved
            )
        except GIT_ERRORS as exc:
            raise PlacementError(f"could not check {path!r} at HEAD: {exc}") from exc

    def read_at_head(self, path: str) -> str | None:
        """Read a file as committed at HEAD, not as it is in the working tree.

        Args:
            path: a repository-relative path; checked like :meth:`resolve_target`.

        Returns:
            The text (undecodable bytes replaced), or None if HEAD has no such file.

        Raises:
            UnsafePathError: if ``path`` is not safely inside the repository.
        """
        try:
            tree = self._repo.head.commit.tree
            entry = tree_entry(tree, resolve_path(self.root, path, tree).split("/"))
            if not isinstance(entry, Blob) or entry.mode == SYMLINK_MODE:
                return None
            data: bytes = entry.data_stream.read()
        except GIT_ERRORS as exc:
            raise PlacementError(f"could not read {path!r} at HEAD: {exc}") from exc
        return data.decode("utf-8", errors="replace")

    def place(
        self,
        *,
        files: Mapping[str, str],
        branch: str,
        message: str,
        trailers: Mapping[str, str],
        workdir: Path,
    ) -> Placement:
        """Commit files on a new branch from HEAD without touching the user's working tree.

        A Python module that exists at HEAD gets the text merged in (see
        :func:`~frugalflow.placement.merge.merge_python_module`); the user's uncommitted changes to
        it are not included, as the branch starts from HEAD. The files are written and
        committed in a detached worktree; the branch is created last, at the finished commit.

        Args:
            files: repository-relative path to full text (new file) or code to merge.
            branch: the new branch, e.g. ``frugalflow/<request-id>``; must not exist yet.
            message: the commit message.
            trailers: ``Key: value`` lines added after the message (e.g. the request id).
            workdir: the run's private directory, outside the repository; the worktree is
                created at ``workdir / "worktree"`` and removed again.

        Returns:
            The branch, the commit, the placed paths and whether code was merged.

        Raises:
            UnsafePathError: if a path is not safely inside the repository.
            NameClashError: if merged code defines a name the module already defines.
            PlacementError: for anything else; a failure leaves no branch and no worktree.
        """
        try:
            head = self._repo.head.commit
        except GIT_ERRORS as exc:
            raise PlacementError(f"could not read HEAD of {self.root}: {exc}") from exc
        targets, worktree = self._preflight(files, head.tree, branch, Path(workdir))
        full_message = _commit_message(message, trailers)
        try:  # from here on a half-made worktree may exist and must go
            self.remove_stale_worktrees()
            # Locked with who made it: a plain `git worktree prune` leaves a live run's worktree
            # alone, and the next run can tell a killed run's worktree from a running one's.
            self._git.run(
                "worktree",
                "add",
                "--quiet",
                "--detach",
                "--lock",
                "--reason",
                owner_tag(),
                str(worktree),
                head.hexsha,
            )
            merged = self.write_files(worktree, targets, _at_head(head.tree, targets))
            wt = GitRunner(worktree, config=SAFE_CONFIG)
            wt.run("add", "--force", "--", *targets)
            if not wt.run("diff", "--cached", "--name-only", "--no-ext-diff"):
                raise PlacementError(f"the code changes nothing in {', '.join(targets)}")
            wt.run(
                "commit",
                "--quiet",
                "--no-verify",
                "--cleanup=whitespace",
                "-m",
                full_message,
                env=IDENTITY,
            )
            commit = wt.run("rev-parse", "HEAD").strip()
            # The branch appears only now, at the finished commit; "" = it must not exist yet.
            reflog = f"frugalflow: {message.strip().splitlines()[0]}"
            self._git.run("update-ref", "-m", reflog, f"refs/heads/{branch}", commit, "")
        except GIT_ERRORS as exc:
            raise PlacementError(f"could not place the code on branch {branch}: {exc}") from exc
        finally:
            self._remove_worktree(worktree)
        return Placement(
            branch=branch, commit=commit, files=tuple(targets), merged_into_existing=merged
        )

    def fast_forward(self, placement: Placement) -> Placement:
        """Fast-forward the checked-out branch to a placement's commit, if nothing can be lost.

        Args:
            placement: what :meth:`place` returned.

        Returns:
            The placement with ``merged=True``.

        Raises:
            FastForwardRefusedError: if it is not safe (see
                :func:`~frugalflow.placement.fastforward.fast_forward_branch`); nothing was changed.
            PlacementError: if git failed half-way.
        """
        fast_forward_branch(self._git, self.root, placement.branch, placement.commit)
        return placement.model_copy(update={"merged": True})

    def write_files(self, worktree: Path, targets: Mapping[str, str], at_head: set[str]) -> bool:
        """Write the targets into the private worktree; :meth:`place` calls it before the commit.

        The one step between a checked-out worktree and a commit: a subclass may override it
        to observe the worktree at that moment (the crash-safety tests stop a run there). See
        :func:`~frugalflow.placement.worktree.write_files` for the arguments and errors.

        Returns:
            True if any target was merged into an existing module.
        """
        return write_files(worktree, targets, at_head)

    def _preflight(
        self, files: Mapping[str, str], tree: Tree, branch: str, workdir: Path
    ) -> tuple[dict[str, str], Path]:
        """Refuse before anything is created: bad paths, branch, or work directory."""
        targets: dict[str, str] = {}
        for target, text in files.items():
            resolved = resolve_path(self.root, target, tree)
            if resolved in targets:
                raise PlacementError(f"{target!r} names the same file as another target")
            targets[resolved] = text
        if not targets:
            raise PlacementError("there are no files to place")
        status, _, _ = self._git.attempt("check-ref-format", f"refs/heads/{branch}")
        if status != 0 or branch.startswith("-"):
            raise PlacementError(f"{branch!r} is not a valid git branch name")
        if self.branch_exists(branch):
            raise PlacementError(
                f"branch {branch} already exists; pick another request id or delete the branch "
                f"(`git branch -D {branch}`)"
            )
        worktree = workdir.resolve() / "worktree"
        if worktree.is_relative_to(self.root):
            raise PlacementError(f"the work directory {workdir} must be outside the repository")
        if os.path.lexists(worktree):
            raise PlacementError(f"{worktree} already exists; use a fresh work directory")
        return targets, worktree

    def frugalflow_worktrees(self) -> list[FrugalflowWorktree]:
        """The worktrees frugalflow added to this repository and has not removed yet.

        Only worktrees locked with frugalflow's reason (``frugalflow run pid=... host=...``)
        count; the user's own worktrees, locked or not, are never listed.
        """
        try:
            listing = self._git.run("worktree", "list", "--porcelain", "-z", strip=False)
        except GIT_ERRORS as exc:
            raise PlacementError(f"could not list the worktrees of {self.root}: {exc}") from exc
        found = []
        for record in listing.split("\0\0"):
            fields = dict(line.partition(" ")[::2] for line in record.split("\0") if line)
            owner = parse_owner_tag(fields.get("locked", ""))
            if "worktree" in fields and owner is not None:
                found.append(FrugalflowWorktree(Path(fields["worktree"]), owner))
        return found

    def remove_stale_worktrees(self) -> list[Path]:
        """Remove the worktrees (and their temp checkouts) of frugalflow runs that died.

        A run killed during placement (``kill -9``, a reboot) leaves its worktree registered
        and, unless the temp directory was wiped, its checkout on disk. A worktree whose run
        still lives (same host, process alive) is kept; so is one made on another host, whose
        process cannot be checked from here.

        Returns:
            The worktree paths that were removed.
        """
        removed = []
        for stale in self.frugalflow_worktrees():
            if not stale.owner.is_dead():
                continue
            self._remove_worktree(stale.path)
            remove_run_directory(stale.path.parent)
            removed.append(stale.path)
            logger.info("removed the worktree %s of a frugalflow run that died", stale.path)
        return removed

    def remove_dead_runs(self) -> list[Path]:
        """Remove what runs on this repository that were killed left behind: their worktrees
        (see :meth:`remove_stale_worktrees`) and their marked temp directories.

        Returns:
            The worktrees and directories that were removed.
        """
        removed = self.remove_stale_worktrees()
        for run in run_directories():
            if run.repo == self.root and remove_run_directory(run.path):
                removed.append(run.path)
        return removed

    def _remove_worktree(self, worktree: Path) -> None:
        try:
            # Twice --force: the worktree is locked (see place()).
            self._git.run("worktree", "remove", "--force", "--force", str(worktree))
            return
        except GIT_ERRORS as exc:
            logger.warning("git worktree remove failed for %s: %s", worktree, exc)
        shutil.rmtree(worktree, ignore_errors=True)
        self._git.attempt("worktree", "unlock", str(worktree))  # or prune keeps it
        # Prune only as a fallback and only if git still lists ours: prune also forgets the
        # user's own worktrees whose directory is missing right now (an unmounted drive).
        try:
            if f"worktree {worktree}" in self._git.run("worktree", "list", "--porcelain").split(
                "\n"
            ):
                self._git.run("worktree", "prune")
        except GIT_ERRORS as exc:
            logger.warning(
                "could not prune worktree %s; run `git worktree prune`: %s", worktree, exc
            )


@dataclass(frozen=True)
class FrugalflowWorktree:
    """A worktree frugalflow added, and the run that added it."""

    path: Path
    owner: RunOwner


def _at_head(tree: Tree, targets: Mapping[str, str]) -> set[str]:
    return {target for target in targets if tree_entry(tree, target.split("/")) is not None}


def _commit_message(message: str, trailers: Mapping[str, str]) -> str:
    if not message.strip():
        raise PlacementError("the commit message is empty; say what the code does")
    lines = [f"{key}: {value}" for key, value in trailers.items()]
    for key, value in trailers.items():
        if not key or any(c in key for c in ": \n\r") or "\n" in value or "\r" in value:
            raise PlacementError(f"{key!r}: {value!r} is not a valid commit trailer")
    return message.strip() + ("\n\n" + "\n".join(lines) if lines else "") + "\n"

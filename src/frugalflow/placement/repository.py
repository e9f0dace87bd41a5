"""Every git operation frugalflow performs, in one place.

The user's working tree, index, HEAD and stash must stay byte-for-byte as they were. So code is
never written there: :meth:`WorkRepository.place` commits in a private, detached ``git worktree``
and only then creates the work branch at that commit; a crash (even ``kill -9``) before that
leaves no file in the user's tree and no branch, only a worktree that cleanup removes. An
uncommitted change, a merge or rebase in progress, or a detached HEAD are simply not looked at.
Only :meth:`WorkRepository.fast_forward`, on request, writes to the user's tree (see
:mod:`frugalflow.placement.fastforward`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import git
from git.objects import Blob, Tree

from frugalflow.core.errors import NotAGitRepositoryError, PlacementError, UnsafePathError
from frugalflow.core.schemas import Placement
from frugalflow.placement.fastforward import fast_forward_branch
from frugalflow.placement.merge import merge_python_module
from frugalflow.placement.rundirs import (
    RunOwner,
    owner_tag,
    parse_owner_tag,
    remove_run_directory,
    run_directories,
)
from frugalflow.placement.safepaths import INSIDE, SYMLINK_MODE, resolve_path, tree_entry

__all__ = ["FrugalflowWorktree", "WorkRepository", "repository_top"]

logger = logging.getLogger(__name__)

# The one tuple of library failures translated into PlacementError at the edge. gitdb's
# BadName/BadObject are ValueErrors; OSError covers failed writes in the worktree.
_GIT_ERRORS = (git.GitError, ValueError, OSError)

_WHO = {"NAME": "frugalflow", "EMAIL": "frugalflow@localhost"}
_IDENTITY = {f"GIT_{r}_{k}": v for r in ("AUTHOR", "COMMITTER") for k, v in _WHO.items()}
# The user's hooks, signing setup and background maintenance must not run for our commit:
# a hook could touch the user's tree, a signing prompt would hang the run.
_SAFE_CONFIG = ["core.hooksPath=/dev/null", "commit.gpgSign=false", "gc.auto=0"]
_SAFE_CONFIG += ["maintenance.auto=false", "core.fsmonitor=false"]
# With any of these set (as inside a git hook), git would act on another repository or index
# than the one we opened, possibly the user's own index.
_REDIRECTING_ENV = ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR"]
_REDIRECTING_ENV += ["GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE"]
_NO_RAISE: dict[str, Any] = {"with_extended_output": True, "with_exceptions": False}


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
        redirecting = [name for name in _REDIRECTING_ENV if os.environ.get(name)]
        if redirecting:
            names = ", ".join(redirecting)
            raise PlacementError(f"unset {names}: it would make git use another repository")
        repo = _open(Path(path))
        repo.git.set_persistent_git_options(c=_SAFE_CONFIG)
        # LFS would otherwise download every large file into the private worktree.
        repo.git.update_environment(GIT_LFS_SKIP_SMUDGE="1", GIT_TERMINAL_PROMPT="0")
        self._repo = repo
        assert repo.working_tree_dir is not None  # _open refuses bare repositories
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
        except _GIT_ERRORS as exc:
            raise PlacementError(f"could not read HEAD to check {target!r}: {exc}") from exc

    def branch_exists(self, branch: str) -> bool:
        """Tell whether the local branch ``refs/heads/<branch>`` exists.

        Args:
            branch: a branch name without ``refs/heads/``.

        Returns:
            True if it exists.
        """
        ref = f"refs/heads/{branch}"
        status, _, _ = self._repo.git.show_ref("--verify", "--quiet", ref, **_NO_RAISE)
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
        except _GIT_ERRORS as exc:
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
        except _GIT_ERRORS as exc:
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
        except _GIT_ERRORS as exc:
            raise PlacementError(f"could not read HEAD of {self.root}: {exc}") from exc
        targets, worktree = self._preflight(files, head.tree, branch, Path(workdir))
        full_message = _commit_message(message, trailers)
        try:  # from here on a half-made worktree may exist and must go
            self.remove_stale_worktrees()
            # Locked with who made it: a plain `git worktree prune` leaves a live run's worktree
            # alone, and the next run can tell a killed run's worktree from a running one's.
            self._repo.git.worktree(
                "add",
                "--quiet",
                "--detach",
                "--lock",
                "--reason",
                owner_tag(),
                str(worktree),
                head.hexsha,
            )
            merged = _write_files(worktree, targets, _at_head(head.tree, targets))
            wt = git.Git(worktree)
            wt.set_persistent_git_options(c=_SAFE_CONFIG)
            wt.add("--force", "--", *targets)
            if not wt.diff("--cached", "--name-only", "--no-ext-diff"):
                raise PlacementError(f"the code changes nothing in {', '.join(targets)}")
            wt.commit(
                "--quiet", "--no-verify", "--cleanup=whitespace", "-m", full_message, env=_IDENTITY
            )
            commit = str(wt.rev_parse("HEAD")).strip()
            # The branch appears only now, at the finished commit; "" = it must not exist yet.
            reflog = f"frugalflow: {message.strip().splitlines()[0]}"
            self._repo.git.update_ref("-m", reflog, f"refs/heads/{branch}", commit, "")
        except _GIT_ERRORS as exc:
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
        fast_forward_branch(self._repo.git, self.root, placement.branch, placement.commit)
        return placement.model_copy(update={"merged": True})

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
        status, _, _ = self._repo.git.check_ref_format(f"refs/heads/{branch}", **_NO_RAISE)
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
            listing = self._repo.git.worktree(
                "list", "--porcelain", "-z", strip_newline_in_stdout=False
            )
        except _GIT_ERRORS as exc:
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
            self._repo.git.worktree("remove", "--force", "--force", str(worktree))
            return
        except _GIT_ERRORS as exc:
            logger.warning("git worktree remove failed for %s: %s", worktree, exc)
        shutil.rmtree(worktree, ignore_errors=True)
        self._repo.git.worktree("unlock", str(worktree), **_NO_RAISE)  # or prune keeps it
        # Prune only as a fallback and only if git still lists ours: prune also forgets the
        # user's own worktrees whose directory is missing right now (an unmounted drive).
        try:
            if f"worktree {worktree}" in self._repo.git.worktree("list", "--porcelain").split("\n"):
                self._repo.git.worktree("prune")
        except _GIT_ERRORS as exc:
            logger.warning(
                "could not prune worktree %s; run `git worktree prune`: %s", worktree, exc
            )


@dataclass(frozen=True)
class FrugalflowWorktree:
    """A worktree frugalflow added, and the run that added it."""

    path: Path
    owner: RunOwner


def repository_top(path: Path) -> Path | None:
    """The top directory of the working tree that contains ``path``, or None.

    None when ``path`` is in no repository, in a bare one, or in git's own data.
    """
    try:
        repo = git.Repo(path, search_parent_directories=True)
    except _GIT_ERRORS:
        return None
    try:
        top = repo.working_tree_dir
        inside_git_dir = Path(path).resolve().is_relative_to(Path(repo.git_dir).resolve())
        return None if repo.bare or top is None or inside_git_dir else Path(top).resolve()
    finally:
        repo.close()


def _open(path: Path) -> git.Repo:
    """The repository whose top directory is ``path``, or an error that says what to pass."""
    try:
        repo = git.Repo(path, search_parent_directories=True)
    except _GIT_ERRORS as exc:
        if isinstance(exc, git.NoSuchPathError) or not path.exists():
            what = "does not exist; pass the path of your project's git repository with --repo"
        elif not path.is_dir():
            what = "is a file; pass the directory of your project's git repository with --repo"
        else:
            what = (
                "is not a git repository; run `git init && git add -A && git commit -m initial` "
                "there first, or pass the top-level directory of an existing repository"
            )
        raise NotAGitRepositoryError(f"{path} {what}") from exc
    problem = ""
    resolved = path.resolve()
    if repo.bare or repo.working_tree_dir is None:
        problem = "is a bare repository (no files to add code to); clone it and use the clone"
    elif resolved.is_relative_to(Path(repo.git_dir).resolve()):
        problem = "points into git's own data (.git/); pass the repository's top directory"
    elif Path(repo.working_tree_dir).resolve() != resolved:
        # Refused rather than silently moved up: --target and the repository's frugalflow.toml
        # are read relative to --repo, so the top level would read another config and place
        # the code somewhere else than the user wrote.
        problem = (
            f"is inside the repository {Path(repo.working_tree_dir).resolve()}, not its top "
            f"directory; pass --repo {Path(repo.working_tree_dir).resolve()}"
        )
    elif not repo.head.is_valid():
        problem = "has no commits yet; make an initial commit first (`git commit`)"
    if problem:
        repo.close()
        raise NotAGitRepositoryError(f"{path} {problem}")
    return repo


def _at_head(tree: Tree, targets: Mapping[str, str]) -> set[str]:
    return {target for target in targets if tree_entry(tree, target.split("/")) is not None}


def _write_files(worktree: Path, targets: Mapping[str, str], at_head: set[str]) -> bool:
    """Write every target into the worktree; True if any was merged into an existing module."""
    merged = False
    real_root = Path(os.path.realpath(worktree))
    for relative, text in targets.items():
        path = worktree / relative
        # Holds as targets were resolved against HEAD; refuse rather than write through a link.
        if Path(os.path.realpath(path)) != real_root / relative:
            raise UnsafePathError(f"{relative!r} resolves elsewhere in the checkout; {INSIDE}")
        if (relative in at_head) != os.path.lexists(path):
            # A sparse checkout leaves files out: writing one anew would replace it unseen.
            raise PlacementError(
                f"{relative} is not checked out as at HEAD in frugalflow's worktree (sparse "
                "checkout?); choose another --target"
            )
        if os.path.lexists(path):
            if not relative.endswith(".py") or not path.is_file():
                raise PlacementError(
                    f"{relative} already exists and is not a Python module frugalflow can merge "
                    "into; choose another --target"
                )
            try:
                text = merge_python_module(path.read_bytes().decode("utf-8"), text)
            except PlacementError as exc:  # NameClashError too: keep the type, add the path
                raise type(exc)(f"{relative}: {exc}") from exc
            mode, merged = stat.S_IMODE(path.stat().st_mode), True
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            mode = 0o644
        _write_atomic(path, text, mode)
    return merged


def _write_atomic(path: Path, text: str, mode: int) -> None:
    """Write via a temporary file in the same directory, so a reader never sees half a file."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _commit_message(message: str, trailers: Mapping[str, str]) -> str:
    if not message.strip():
        raise PlacementError("the commit message is empty; say what the code does")
    lines = [f"{key}: {value}" for key, value in trailers.items()]
    for key, value in trailers.items():
        if not key or any(c in key for c in ": \n\r") or "\n" in value or "\r" in value:
            raise PlacementError(f"{key!r}: {value!r} is not a valid commit trailer")
    return message.strip() + ("\n\n" + "\n".join(lines) if lines else "") + "\n"

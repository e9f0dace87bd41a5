"""Running git: the one module in frugalflow that starts a git command.

Everything goes through GitPython: :func:`open_repository` opens the user's repository with
the options that keep frugalflow's own commands from running the user's hooks, signing or
maintenance, and :class:`GitRunner` runs one git command in a directory with fixed ``-c``
options and environment. The few plain reads other parts need (the files git lists, what
identifies the repository's current content, removing a run's worktree, making the example
repository) are functions here, so that no other module spawns git.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import cast

import git

from frugalflow.core.errors import NotAGitRepositoryError, PlacementError

__all__ = [
    "GIT_ERRORS",
    "IDENTITY",
    "SAFE_CONFIG",
    "GitRunner",
    "content_digest",
    "content_state",
    "init_with_commit",
    "list_files",
    "open_repository",
    "remove_worktree",
    "repository_top",
]

# The one tuple of library failures translated into PlacementError at the edge. gitdb's
# BadName/BadObject are ValueErrors; OSError covers failed writes in the worktree.
GIT_ERRORS = (git.GitError, ValueError, OSError)

_WHO = {"NAME": "frugalflow", "EMAIL": "frugalflow@localhost"}
# The author and committer of frugalflow's commits, as environment variables.
IDENTITY = {f"GIT_{r}_{k}": v for r in ("AUTHOR", "COMMITTER") for k, v in _WHO.items()}
# The user's hooks, signing setup and background maintenance must not run for our commit:
# a hook could touch the user's tree, a signing prompt would hang the run.
SAFE_CONFIG = ["core.hooksPath=/dev/null", "commit.gpgSign=false", "gc.auto=0"]
SAFE_CONFIG += ["maintenance.auto=false", "core.fsmonitor=false"]
# With any of these set (as inside a git hook), git would act on another repository or index
# than the one we opened, possibly the user's own index.
_REDIRECTING_ENV = ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR"]
_REDIRECTING_ENV += ["GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE"]
# LFS would otherwise download every large file into the private worktree; a credential
# prompt would hang the run.
_REPOSITORY_ENV = {"GIT_LFS_SKIP_SMUDGE": "1", "GIT_TERMINAL_PROMPT": "0"}
# Reads of the user's repository: the same options, and no optional locks, so that `git status`
# does not refresh (rewrite) the user's index while it reads it.
_READ_ENV = {**_REPOSITORY_ENV, "GIT_OPTIONAL_LOCKS": "0"}


class GitRunner:
    """Runs git commands in one directory, each with the same ``-c`` options and environment.

    Args:
        directory: where the commands run (a working tree, or a directory to create one in).
        config: ``name=value`` settings passed as ``-c`` before every command.
        env: variables added to the environment of every command.
    """

    def __init__(
        self,
        directory: Path,
        *,
        config: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self._config = [arg for setting in config for arg in ("-c", setting)]
        self._env = dict(env or {})
        self._cmd = git.Git(self.directory)
        # The executable GitPython found (or $GIT_PYTHON_GIT_EXECUTABLE), as its own calls use.
        self._git = str(git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git")

    def run(self, *args: str, env: Mapping[str, str] | None = None, strip: bool = True) -> str:
        """Run ``git <args>`` and return its standard output.

        Args:
            args: the git command and its arguments, e.g. ``"rev-parse", "HEAD"``.
            env: more environment variables for this command only.
            strip: drop one trailing newline from the output.

        Raises:
            git.GitCommandError: the command exited with a non-zero status.
        """
        out = self._execute(args, env, raising=True, strip=strip)
        return str(out)

    def attempt(self, *args: str, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
        """Run ``git <args>`` whatever its exit status: the status, output and error output.

        The output and error output have one trailing newline dropped.
        """
        status, out, err = cast(
            "tuple[int, str, str]", self._execute(args, env, raising=False, strip=True)
        )
        return status, out, err

    def attempt_bytes(self, *args: str) -> tuple[int, bytes, str]:
        """Run ``git <args>`` whatever its exit status; its output as the exact bytes."""
        self._check_directory()
        return self._cmd.execute(
            [self._git, *self._config, *args],
            with_extended_output=True,
            with_exceptions=False,
            stdout_as_string=False,
            strip_newline_in_stdout=False,
            env={**self._env},
        )

    def _execute(
        self, args: Sequence[str], env: Mapping[str, str] | None, *, raising: bool, strip: bool
    ) -> object:
        self._check_directory()
        return self._cmd.execute(
            [self._git, *self._config, *args],
            with_extended_output=not raising,
            with_exceptions=raising,
            strip_newline_in_stdout=strip,
            env={**self._env, **(env or {})},
        )

    def _check_directory(self) -> None:
        # GitPython would quietly run the command in the current directory instead.
        if not self.directory.is_dir():
            raise FileNotFoundError(errno.ENOENT, "no such directory", str(self.directory))


def _reader(repo: Path) -> GitRunner:
    """A runner for reading ``repo`` (or removing a run's worktree): hardened as for commits."""
    return GitRunner(repo, config=SAFE_CONFIG, env=_READ_ENV)


def open_repository(path: Path) -> tuple[git.Repo, GitRunner]:
    """Open the repository whose top directory is ``path``, for frugalflow's own commands.

    Hooks, signing, background maintenance, LFS downloads and credential prompts are off for
    every command run on it, through the returned runner or through GitPython's objects.

    Returns:
        The repository (for reading objects) and a runner for commands in its working tree.

    Raises:
        NotAGitRepositoryError: ``path`` is not a repository's top directory, is bare or has
            no commits; the message says what to pass instead.
        PlacementError: GIT_DIR-like variables in the environment would redirect git.
    """
    redirecting = [name for name in _REDIRECTING_ENV if os.environ.get(name)]
    if redirecting:
        names = ", ".join(redirecting)
        raise PlacementError(f"unset {names}: it would make git use another repository")
    repo = _open(Path(path))
    repo.git.set_persistent_git_options(c=SAFE_CONFIG)
    repo.git.update_environment(**_REPOSITORY_ENV)
    assert repo.working_tree_dir is not None  # _open refuses bare repositories
    root = Path(repo.working_tree_dir)
    return repo, GitRunner(root, config=SAFE_CONFIG, env=_REPOSITORY_ENV)


def repository_top(path: Path) -> Path | None:
    """The top directory of the working tree that contains ``path``, or None.

    None when ``path`` is in no repository, in a bare one, or in git's own data.
    """
    try:
        repo = git.Repo(path, search_parent_directories=True)
    except GIT_ERRORS:
        return None
    try:
        top = repo.working_tree_dir
        inside_git_dir = Path(path).resolve().is_relative_to(Path(repo.git_dir).resolve())
        return None if repo.bare or top is None or inside_git_dir else Path(top).resolve()
    finally:
        repo.close()


def list_files(repo: Path) -> list[bytes]:
    """The names git shows for a working tree: tracked plus untracked, never ignored.

    Args:
        repo: the repository's working tree (or a directory inside it).

    Returns:
        Each name as git wrote it (bytes: a Linux name need not be UTF-8), relative to
        ``repo``; a name appears once per stage while a merge is unresolved.

    Raises:
        NotAGitRepositoryError: ``repo`` is not inside a git working tree.
    """
    status, out, err = _reader(repo).attempt_bytes(
        "ls-files", "-z", "--cached", "--others", "--exclude-standard"
    )
    if status != 0:
        # As git wrote it, undecodable bytes replaced (GitPython kept them as surrogates).
        detail = err.encode("utf-8", "surrogateescape").decode("utf-8", "replace").strip()
        raise NotAGitRepositoryError(
            f"{repo} is not a git repository ({detail or 'git ls-files failed'}); "
            "run `git init` there first, or give the path of an existing repository"
        )
    return [name for name in out.split(b"\0") if name]


def content_state(repo: Path) -> bytes:
    """Bytes that change whenever the repository's content does, committed or not.

    The HEAD commit, the status of every changed or untracked file, and the diff of the
    uncommitted edits against HEAD (an edited file keeps its status line while its content
    changes). What a failing command printed counts as it is: outside a repository, or
    before the first commit, the state is still a stable value.
    """
    runner = _reader(repo)
    parts = [
        runner.attempt_bytes("rev-parse", "HEAD"),
        runner.attempt_bytes("status", "--porcelain=v1", "-z", "--untracked-files"),
        # Plumbing, not `git diff`: that one refreshes (rewrites) the user's index, and runs a
        # configured diff.external program.
        runner.attempt_bytes("diff-index", "-p", "--no-color", "HEAD"),
    ]
    return b"".join(out for _, out, _ in parts)


def content_digest(repo: Path) -> str:
    """A hex digest of :func:`content_state`: equal exactly when the content is."""
    return hashlib.sha256(content_state(repo)).hexdigest()


def remove_worktree(repo: Path, worktree: Path) -> None:
    """Unregister and delete a locked worktree of ``repo``; a failure is ignored.

    Only this worktree is unregistered: a plain ``git worktree prune`` would also forget the
    user's own worktrees whose directories happen to be missing (an unmounted disk).
    """
    # Twice --force: the worktree is locked while its run lives (see WorkRepository.place).
    _reader(repo).attempt_bytes("worktree", "remove", "--force", "--force", str(worktree))


def init_with_commit(path: Path, message: str, *, name: str, email: str) -> None:
    """Make ``path`` a repository on branch ``main`` with all its files in one commit.

    Args:
        path: an existing directory holding the files.
        message: the commit message.
        name: the author and committer name.
        email: the author and committer email.

    Raises:
        git.GitCommandError: a git command failed.
    """
    runner = GitRunner(path)
    runner.run("init", "--quiet", "--initial-branch", "main")
    runner.run("add", "--all")
    identity = ["-c", f"user.name={name}", "-c", f"user.email={email}"]
    runner.run(*identity, "commit", "--quiet", "-m", message)


def _open(path: Path) -> git.Repo:
    """The repository whose top directory is ``path``, or an error that says what to pass."""
    try:
        repo = git.Repo(path, search_parent_directories=True)
    except GIT_ERRORS as exc:
        if isinstance(exc, git.NoSuchPathError) or not path.exists():
            what = "does not exist; give the path of your project's git repository"
        elif not path.is_dir():
            what = "is a file; give the directory of your project's git repository"
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
            f"directory; give {Path(repo.working_tree_dir).resolve()} as the repository"
        )
    elif not repo.head.is_valid():
        problem = "has no commits yet; make an initial commit first (`git commit`)"
    if problem:
        repo.close()
        raise NotAGitRepositoryError(f"{path} {problem}")
    return repo

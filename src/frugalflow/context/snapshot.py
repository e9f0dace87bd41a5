"""A repository's content at one moment: every file git shows, each with its content hash.

Two git commands read it: ``ls-files -s`` gives the blob id of every tracked file as the index
has it, ``status`` names the files whose working copy differs (edited, untracked, in a merge);
only those are read and hashed here, the way git hashes a blob, so that a file has the same
hash whether it is committed or not, and an edit undone gives back the earlier state. The
fingerprint of all the (path, hash) pairs is the key the context caches use: equal exactly
when the content the context is built from is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from frugalflow.context.files import inside
from frugalflow.core.errors import NotAGitRepositoryError
from frugalflow.placement.git import SAFE_CONFIG, GitRunner

# As placement.git reads a user's repository: no optional locks (status would refresh, that
# is rewrite, the user's index), no LFS downloads, never a credential prompt.
_READ_ENV = {"GIT_OPTIONAL_LOCKS": "0", "GIT_LFS_SKIP_SMUDGE": "1", "GIT_TERMINAL_PROMPT": "0"}
_SYMLINK_MODE = b"120000"
_SUBMODULE_MODE = b"160000"


@dataclass(frozen=True)
class RepositorySnapshot:
    """The files of a working tree and their content hashes.

    Attributes:
        root: the working tree.
        hashes: repo-relative POSIX path -> git blob id of the content on disk; symlinks,
            submodules, files deleted from disk and names that are not UTF-8 are left out.
        fingerprint: a digest of every (path, hash) pair.
    """

    root: Path
    hashes: Mapping[str, str]
    fingerprint: str


def blob_id(data: bytes) -> str:
    """The id git gives a blob of these bytes (``git hash-object``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def take_snapshot(repo: Path) -> RepositorySnapshot:
    """Read which files a repository has and what each one holds, committed or not.

    Args:
        repo: the repository's working tree (its top directory).

    Returns:
        The snapshot; edited and untracked files are hashed from disk, ignored files are
        not listed.

    Raises:
        NotAGitRepositoryError: ``repo`` is not a git working tree.
    """
    repo = Path(repo)
    if not repo.is_dir():
        raise NotAGitRepositoryError(
            f"{repo} is not a directory; give the path of the repository's top directory"
        )
    runner = GitRunner(repo, config=SAFE_CONFIG, env=_READ_ENV)
    status, listing, err = runner.attempt_bytes("ls-files", "-z", "-s")
    if status != 0:
        raise NotAGitRepositoryError(
            f"{repo} is not a git repository ({err.strip() or 'git ls-files failed'}); "
            "run `git init` there first, or give the path of an existing repository"
        )
    hashes: dict[bytes, str] = {}
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, _, name = entry.partition(b"\t")
        mode, blob, _stage = meta.split(b" ")
        if mode not in (_SYMLINK_MODE, _SUBMODULE_MODE):
            hashes[name] = blob.decode("ascii")
    _, changes, _ = runner.attempt_bytes(
        "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"
    )
    for entry in changes.split(b"\0"):
        if len(entry) < 4:
            continue
        index_state, tree_state, name = entry[0:1], entry[1:2], entry[3:]
        if index_state == tree_state == b" ":
            continue
        if tree_state == b" " and index_state != b"U":
            continue  # staged only: the index's blob is what is on disk
        _rehash(repo, name, hashes)
    paths: dict[str, str] = {}
    for raw, content_id in hashes.items():
        try:
            paths[raw.decode("utf-8")] = content_id
        except UnicodeDecodeError:
            continue  # cannot go into a prompt or a JSON answer; list_repository_files agrees
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(f"{path}\0{paths[path]}\n".encode())
    return RepositorySnapshot(root=repo, hashes=paths, fingerprint=digest.hexdigest())


def _rehash(repo: Path, name: bytes, hashes: dict[bytes, str]) -> None:
    relative = name.decode("utf-8", "surrogateescape")
    path = inside(repo, relative)
    try:
        if path is None or (repo / relative).is_symlink():
            # Deleted, turned into something else, or reached through a symlink out of the
            # repository (its directory replaced by one): not part of the repository's content.
            hashes.pop(name, None)
            return
        hashes[name] = blob_id(path.read_bytes())
    except OSError:
        hashes.pop(name, None)

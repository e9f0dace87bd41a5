"""Git as the test user, and a hash of everything the user owns in a repository."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test User",
    "GIT_AUTHOR_EMAIL": "user@example.test",
    "GIT_COMMITTER_NAME": "Test User",
    "GIT_COMMITTER_EMAIL": "user@example.test",
}

# Left out of the hash: adding a branch legitimately changes them.
EXCLUDED = {"objects", "refs", "logs", "worktrees", "packed-refs"}


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` as the test user and return its stdout."""
    env = {**os.environ, **GIT_IDENTITY}
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def user_state(repo: Path) -> str:
    """Hash every file, symlink and directory the user owns, .git/index and .git/HEAD included.

    Refs, objects, logs and worktree metadata are left out (see :data:`EXCLUDED`).
    """
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(repo):
        here = Path(folder)
        if here == repo / ".git":
            dirs[:] = [d for d in dirs if d not in EXCLUDED]
            files = [f for f in files if f not in EXCLUDED]
        dirs.sort()
        for name in sorted(files) + [d for d in dirs if (here / d).is_symlink()]:
            path = here / name
            data = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
            mode = os.lstat(path).st_mode
            digest.update(f"{path.relative_to(repo)}\0{mode}\0".encode() + data + b"\0")
        digest.update(f"dir {here.relative_to(repo)}\0".encode())
    return digest.hexdigest()

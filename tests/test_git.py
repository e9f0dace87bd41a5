"""placement.git: the reads frugalflow makes of the user's repository leave it as it was."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from frugalflow.placement.git import content_state, list_files


def test_reading_the_repository_state_does_not_rewrite_the_users_index(
    make_git_repo: Callable[..., Path],
) -> None:
    repo = make_git_repo({"a.py": "A = 1\n", "b.py": "B = 2\n"})
    # Same content, new mtime: the index's stat data is stale, and a plain `git status`
    # would refresh it, rewriting .git/index under the user's feet.
    stat = (repo / "a.py").stat()
    os.utime(repo / "a.py", ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    index = repo / ".git" / "index"
    before = index.read_bytes(), index.stat().st_mtime_ns

    state = content_state(repo)
    names = list_files(repo)

    assert (index.read_bytes(), index.stat().st_mtime_ns) == before
    assert sorted(names) == [b"a.py", b"b.py"]
    assert content_state(repo) == state  # same content, same state
    (repo / "b.py").write_text("B = 3\n")
    assert content_state(repo) != state  # an uncommitted edit changes it

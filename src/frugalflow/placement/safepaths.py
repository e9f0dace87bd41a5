"""Which paths are safely inside a repository: no ``..``, no absolute path, no symlink out.

Paths are checked lexically, then against the symlinks committed in a tree (which the private
worktree will contain), then against symlinks in the user's working tree.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import Any

from git.objects import Tree

from frugalflow.core.errors import UnsafePathError

__all__ = ["INSIDE", "SYMLINK_MODE", "resolve_path", "tree_entry"]

SYMLINK_MODE, _GITLINK_MODE, _MAX_SYMLINK_HOPS = 0o120000, 0o160000, 40
INSIDE = "the target path must be inside the repository, relative to its top directory"


def resolve_path(root: Path, target: str, tree: Tree) -> str:
    """Check a target path and return it normalised; in-repository symlinks are followed.

    Lexical checks first, then symlinks committed in ``tree``, then those in the working tree.

    Args:
        root: the resolved top directory of the working tree.
        target: a path relative to ``root``, with ``/`` separators.
        tree: the committed tree the path is resolved against (HEAD's).

    Returns:
        The normalised repository-relative POSIX path.

    Raises:
        UnsafePathError: if the path is absolute, escapes with ``..``, lies in ``.git/`` or a
            submodule, or passes through a symlink that leads outside the repository.
    """
    if not target or "\0" in target or "\\" in target:
        raise UnsafePathError(f"{target!r} is not a usable path; {INSIDE}")
    if posixpath.isabs(target):
        raise UnsafePathError(f"{target!r} is absolute; {INSIDE}")
    parts = posixpath.normpath(target).split("/")
    if parts[0] in ("..", "."):
        raise UnsafePathError(f"{target!r} leads outside the repository; {INSIDE}")
    resolved = _follow_symlinks(tree, parts, target)
    if not resolved or ".git" in (part.lower() for part in resolved):
        raise UnsafePathError(f"{target!r} points into git's own data (.git/); {INSIDE}")
    on_disk = Path(os.path.realpath(root / target))
    inside = on_disk.is_relative_to(root)
    if not inside or ".git" in str(on_disk.relative_to(root)).lower().split("/"):
        raise UnsafePathError(
            f"{target!r} passes through a symlink in the working tree that leads outside; {INSIDE}"
        )
    return "/".join(resolved)


def tree_entry(tree: Tree, parts: list[str]) -> Any:
    """The tree entry at ``parts``, or None; a path below a file does not exist."""
    item: Any = tree
    for part in parts:
        if not isinstance(item, Tree):
            return None
        try:
            item = item / part
        except KeyError:
            return None
    return item


def _follow_symlinks(tree: Tree, parts: list[str], target: str) -> list[str]:
    """Resolve ``parts`` against the committed tree the way the filesystem would."""
    outside = f"{target!r} passes through a committed symlink that leads outside; {INSIDE}"
    done: list[str] = []
    todo = list(parts)
    hops = 0
    while todo:
        part = todo.pop(0)
        if part == ".." and not done:
            raise UnsafePathError(outside)
        if part in ("", ".", ".."):
            done = done[:-1] if part == ".." else done
            continue
        entry = tree_entry(tree, [*done, part])
        mode = getattr(entry, "mode", None)
        if mode == _GITLINK_MODE:
            raise UnsafePathError(f"{target!r} lies in a submodule; {INSIDE} itself")
        if mode == SYMLINK_MODE:
            hops += 1
            link = entry.data_stream.read().decode("utf-8", errors="surrogateescape")
            if hops > _MAX_SYMLINK_HOPS or link.startswith("/"):
                raise UnsafePathError(outside)
            todo[:0] = link.split("/")
            continue
        done.append(part)
    return done

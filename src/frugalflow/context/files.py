"""Reading a repository's files for its context, and never a file outside it.

A path git lists can still lead out of the working tree: a directory replaced by a symlink
(``pkg -> /elsewhere``, which git shows as ``pkg`` untracked and ``pkg/mod.py`` deleted) or a
symlinked file. Every read of the context goes through :func:`inside`, which resolves the whole
path and refuses one whose real location is not under the repository's real top directory, so
that neither a prompt nor ``frugalflow bridge serve`` ever shows such a file's contents.
"""

from __future__ import annotations

import os
from pathlib import Path


def inside(repo: Path, relative: str | os.PathLike[str]) -> Path | None:
    """The real path of the regular file ``repo / relative`` when it lies inside ``repo``.

    Args:
        repo: the working tree's top directory.
        relative: a path relative to it.

    Returns:
        The resolved path, or None when the file does not exist, is not a regular file, or is
        reached through a symlink that leads outside the repository.
    """
    root = Path(os.path.realpath(repo))
    real = Path(os.path.realpath(root / relative))
    if not real.is_relative_to(root) or not real.is_file():
        return None
    return real


def read_text(repo: Path, relative: str | os.PathLike[str]) -> str | None:
    """A file's text (undecodable bytes replaced), or None when it cannot or may not be read."""
    path = inside(repo, relative)
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None

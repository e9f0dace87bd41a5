"""Writing the code into frugalflow's private worktree, before it is committed there.

Every target is checked again against the checkout (no symlink on the way, present exactly
when HEAD has it) and written atomically; a Python module that exists is merged into (see
:func:`~frugalflow.placement.merge.merge_python_module`). Nothing here runs git.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

from frugalflow.core.errors import PlacementError, UnsafePathError
from frugalflow.placement.merge import merge_python_module
from frugalflow.placement.safepaths import INSIDE

__all__ = ["write_atomic", "write_files"]


def write_files(worktree: Path, targets: Mapping[str, str], at_head: set[str]) -> bool:
    """Write every target into the worktree.

    Args:
        worktree: the private checkout of HEAD.
        targets: repository-relative path (already resolved against HEAD) -> full text of a
            new file, or code to merge into the existing module.
        at_head: the targets that exist at HEAD.

    Returns:
        True if any target was merged into an existing module.

    Raises:
        UnsafePathError: a target resolves elsewhere in the checkout (through a symlink).
        NameClashError: merged code defines a name the module already defines.
        PlacementError: a target is not checked out as at HEAD, or exists and is not a
            Python module that can be merged into.
    """
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
        write_atomic(path, text, mode)
    return merged


def write_atomic(path: Path, text: str, mode: int) -> None:
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

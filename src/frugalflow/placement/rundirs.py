"""A run's private temp directory, and telling those of killed runs from those of live ones.

Every run works in its own directory under the system temp dir (candidates, sandboxes, the
placement worktree). A run killed with ``kill -9`` cannot remove it, so the directory carries
a small marker saying which process on which host made it and for which repository; the next
run and ``frugalflow doctor`` remove the directories (and the git worktrees) of processes that
no longer exist, and never touch anything without the marker.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MARKER",
    "RunDirectory",
    "RunOwner",
    "create_run_directory",
    "owner_tag",
    "parse_owner_tag",
    "remove_run_directory",
    "run_directories",
]

logger = logging.getLogger(__name__)

MARKER = ".frugalflow-run.json"
PREFIX = "frugalflow-"
_TAG = re.compile(r"^frugalflow run pid=(\d+) host=(\S+)$")


@dataclass(frozen=True)
class RunOwner:
    """The process that made a worktree or run directory.

    Attributes:
        pid: its process id.
        host: the host it ran on.
    """

    pid: int
    host: str

    @classmethod
    def current(cls) -> RunOwner:
        return cls(os.getpid(), socket.gethostname())

    def is_dead(self) -> bool:
        """True only when the process is known to be gone: same host, no such process.

        A process on another host cannot be checked from here, so it counts as alive; a reused
        pid keeps a dead run's leftovers until that process ends too (never the reverse).
        """
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # exists, owned by someone else
            return False
        return False


@dataclass(frozen=True)
class RunDirectory:
    """A run directory with frugalflow's marker.

    Attributes:
        path: the directory.
        owner: the process that made it.
        repo: the repository the run worked on.
        request_id: the request it ran.
    """

    path: Path
    owner: RunOwner
    repo: Path
    request_id: str


def owner_tag(owner: RunOwner | None = None) -> str:
    """The lock reason frugalflow gives its worktrees: ``frugalflow run pid=<pid> host=<host>``."""
    owner = owner or RunOwner.current()
    return f"frugalflow run pid={owner.pid} host={owner.host}"


def parse_owner_tag(reason: str) -> RunOwner | None:
    """The owner named by a lock reason, or None if frugalflow did not write it."""
    match = _TAG.match(reason.strip())
    return RunOwner(int(match.group(1)), match.group(2)) if match else None


def create_run_directory(request_id: str, repo: Path, *, root: Path | None = None) -> Path:
    """Make a fresh private directory for one run, marked with this process and the repository.

    Args:
        request_id: the request the run is for; part of the directory's name.
        repo: the repository the run works on (recorded so that a cleanup can find it).
        root: where to make it; the system temp dir by default.
    """
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{request_id}-", dir=root))
    owner = RunOwner.current()
    marker = {
        "pid": owner.pid,
        "host": owner.host,
        "repo": os.fsdecode(Path(repo).resolve()),
        "request_id": request_id,
    }
    (path / MARKER).write_text(json.dumps(marker, ensure_ascii=True))
    return path


def read_run_directory(path: Path) -> RunDirectory | None:
    """The run a directory belongs to, or None if it has no (readable) frugalflow marker."""
    try:
        marker = json.loads((path / MARKER).read_text())
        return RunDirectory(
            path=path,
            owner=RunOwner(int(marker["pid"]), str(marker["host"])),
            repo=Path(marker["repo"]),
            request_id=str(marker["request_id"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_directories(root: Path | None = None) -> list[RunDirectory]:
    """The marked run directories under ``root`` (the system temp dir by default)."""
    root = Path(root or tempfile.gettempdir())
    found = []
    for path in sorted(root.glob(f"{PREFIX}*")):
        if path.is_dir() and not path.is_symlink():
            run = read_run_directory(path)
            if run is not None:
                found.append(run)
    return found


def remove_run_directory(path: Path) -> bool:
    """Delete a run directory whose owner is dead; anything unmarked or alive is kept.

    Returns:
        True if it was removed.
    """
    run = read_run_directory(path)
    if run is None or not run.owner.is_dead():
        return False
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():
        logger.warning("could not remove %s entirely; delete it by hand", path)
        return False
    return True

"""Running a checker (ruff, mypy, node) on a scratch copy of the candidate.

A checker reads the candidate, and some can be made to run it (a project's mypy plugin may be
the candidate itself), so :func:`run_tool` runs one as untrusted code would, in the sandbox
(:mod:`frugalflow.validation.sandbox`). A checker that only reads the code (ruff, ``node
--check``) may run without a sandbox, through :func:`run_reader`: no secrets in its
environment and a time limit. :func:`run_checker` takes the sandbox when there is one.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from frugalflow.validation import sandbox

TOOL_TIMEOUT_SECONDS = 120
TOOL_MEMORY_MB = 4096  # mypy with a project's plugins; ruff needs far less
TOOL_MAX_PROCESSES = 256  # ruff and node run a thread per core
MAX_MESSAGE_CHARS = 600


def clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text``, cut to ``limit`` characters (with an ellipsis) for a report's message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run_tool(
    args: Sequence[str], *, cwd: Path, hidden: Iterable[Path] = (), memory_mb: int | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a checker (ruff, mypy, node) on files in ``cwd``, inside the sandbox.

    A checker reads the candidate, and some can be made to run it (a project's mypy plugin
    may be the candidate itself), so each runs as untrusted code would: ``cwd`` is its only
    writable directory and ``hidden`` (the user's repository, the ledger) is out of its sight.

    Args:
        args: the command.
        cwd: a scratch directory holding the candidate and the configuration it needs.
        hidden: paths the checker must not see.
        memory_mb: address-space limit, or ``None`` (node reserves large virtual areas).

    Raises:
        subprocess.TimeoutExpired: it did not finish within ``TOOL_TIMEOUT_SECONDS``.
        SandboxUnavailableError: there is no working sandbox on this machine.
    """
    run = sandbox.run(
        args,
        cwd,
        timeout_seconds=TOOL_TIMEOUT_SECONDS,
        memory_mb=memory_mb,
        max_processes=TOOL_MAX_PROCESSES,
        hidden=hidden,
    )
    if run.timed_out:
        raise subprocess.TimeoutExpired(list(args), TOOL_TIMEOUT_SECONDS)
    return subprocess.CompletedProcess(list(args), run.returncode or 0, run.stdout, run.stderr)


def run_reader(
    args: Sequence[str],
    *,
    cwd: Path | None,
    stdin: str | None = None,
    timeout_seconds: float = TOOL_TIMEOUT_SECONDS,
) -> subprocess.CompletedProcess[str]:
    """Run a checker that only reads the code (ruff, ``node --check``) where there is no
    sandbox: no secrets in its environment, a time limit, the scratch copy as its directory.

    Args:
        args: the command.
        cwd: its directory (``None``: this process's).
        stdin: text for its standard input (``None``: it inherits this process's).
        timeout_seconds: how long it may take.

    Raises:
        OSError: the program cannot start.
        subprocess.TimeoutExpired: it did not finish in time.
    """
    return subprocess.run(
        list(args),
        cwd=cwd,
        input=stdin,
        env=sandbox.stripped_environment(),
        capture_output=True,
        text=True,
        timeout=timeout_seconds,
        check=False,
    )


def run_checker(
    args: Sequence[str], *, cwd: Path, hidden: Iterable[Path], memory_mb: int | None
) -> subprocess.CompletedProcess[str]:
    """Run a checker that only reads the code: in the sandbox (:func:`run_tool`) when there is
    one, else with :func:`run_reader`."""
    if sandbox.unavailable_reason() is None:
        return run_tool(args, cwd=cwd, hidden=hidden, memory_mb=memory_mb)
    return run_reader(args, cwd=cwd)

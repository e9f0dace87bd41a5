"""Child processes in a process group of their own, killed as a whole.

The sandbox (bubblewrap) and the Claude Code CLI both start programs that start others (tools,
MCP servers, the sandboxed code). A :class:`ProcessGroup` starts its child as the leader of a
new session, so that one ``killpg`` ends the child and everything it started, on a timeout, an
error or an interrupt. The group is signalled only while the child is not reaped: until then
the child's pid, which is the group's id, cannot belong to another process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from types import TracebackType
from typing import IO

__all__ = ["ProcessGroup"]

# How long one wait holds the reaping lock: the longest a watchdog's kill waits for it.
_WAIT_STEP_SECONDS = 0.05

_Stream = IO[bytes] | int | None


class ProcessGroup:
    """A child process leading its own process group, with an optional watchdog.

    Use it as a context manager: on leaving, a child still running is killed with its whole
    group and reaped, the watchdog stops and the pipe to its output is closed.

    Args:
        args: the program and its arguments.
        cwd: the working directory; None for the current one.
        env: the whole environment of the child; None to inherit this process's.
        stdin: what the child reads (a file, ``subprocess.DEVNULL``...).
        stdout: where its output goes; ``subprocess.PIPE`` to read it from :attr:`stdout`.
        stderr: where its error output goes.
        timeout: seconds after which a watchdog kills the group (and :attr:`timed_out` is
            set); None for no watchdog.

    Raises:
        OSError: the program cannot be started (``FileNotFoundError``, ``PermissionError``...).
    """

    def __init__(
        self,
        args: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        stdin: _Stream = None,
        stdout: _Stream = None,
        stderr: _Stream = None,
        timeout: float | None = None,
    ) -> None:
        self.timed_out = False
        self._reap_lock = threading.Lock()
        self.process = subprocess.Popen(
            list(args),
            cwd=cwd,
            env=env,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # its own process group, killed as a whole
        )
        self._timer: threading.Timer | None = None
        if timeout is not None:
            self._timer = threading.Timer(timeout, self._on_timeout)
            self._timer.daemon = True
            self._timer.start()

    @property
    def stdout(self) -> IO[bytes] | None:
        """The child's output, when it was started with ``stdout=subprocess.PIPE``."""
        return self.process.stdout

    @property
    def returncode(self) -> int | None:
        """The child's exit status once reaped (negative: killed by that signal), else None."""
        return self.process.returncode

    def _on_timeout(self) -> None:
        self.timed_out = True
        self.kill()

    def kill(self) -> None:
        """Kill the child and every process in its group with SIGKILL, unless it is reaped."""
        with self._reap_lock:
            if self.process.returncode is not None:
                return
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds (``float("inf")``: no limit) for the child to exit.

        Returns:
            True once the child has exited and been reaped.
        """
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            with self._reap_lock:
                try:
                    self.process.wait(timeout=max(0.0, min(remaining, _WAIT_STEP_SECONDS)))
                    return True
                except subprocess.TimeoutExpired:
                    pass
            if remaining <= 0:
                return False

    def abort(self) -> None:
        """Kill the group now (if the child still runs) and reap the child."""
        self.kill()
        self.wait(float("inf"))

    def close(self) -> None:
        """Stop the watchdog and close the pipe from the child (it has been reaped)."""
        if self._timer is not None:
            self._timer.cancel()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self.abort()
        finally:
            self.close()

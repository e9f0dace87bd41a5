"""frugalflow's own local Prefect server: started once, detached, and used by every CLI run.

Without a Prefect API configured, each flow run in a new process would start a temporary
Prefect server (about ten seconds). Instead the CLI keeps one ``prefect server start`` running
on 127.0.0.1 between runs, with its own ``PREFECT_HOME`` under frugalflow's home:

    <home>/prefect-server/
        prefect/      the server's PREFECT_HOME (its database)
        server.pid    "<pid> <start time>" of the process this module started
        server.port   the port it listens on (kept, so the UI's address stays the same)
        server.log    its output
        lock          held while starting or stopping, so that two CLIs start one server

:func:`stop` signals only the process group of the process recorded in ``server.pid``, and
only when that process is still the one that was started (same start time): never a process
that happens to reuse the pid. Prefect itself is not imported here: the server is a child
program (``python -m prefect server start``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from frugalflow.core.errors import ConfigurationError

HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 90.0  # the first start creates and migrates the server's database
STOP_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class ServerInfo:
    """A running frugalflow Prefect server.

    Attributes:
        pid: the server process (leader of its own process group).
        port: the port it listens on, on 127.0.0.1.
        state_dir: the directory holding its pid, port and log files and its PREFECT_HOME.
    """

    pid: int
    port: int
    state_dir: Path

    @property
    def url(self) -> str:
        """The server's address, where its UI is."""
        return f"http://{HOST}:{self.port}"

    @property
    def api_url(self) -> str:
        """The value ``PREFECT_API_URL`` takes to use this server."""
        return f"{self.url}/api"

    @property
    def log_file(self) -> Path:
        """The server's output."""
        return self.state_dir / "server.log"


def state_dir(home: Path) -> Path:
    """Where the server's files live under frugalflow's ``home``."""
    return home / "prefect-server"


# Indexes into _stat's fields (``/proc/<pid>/stat`` fields 3, 5 and 22).
_STATE, _GROUP, _START_TIME = 0, 2, 19


def _stat(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name, or None if unreadable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields if len(fields) > _START_TIME else None


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot."""
    fields = _stat(pid)
    return fields[_START_TIME] if fields else None


def _recorded(directory: Path) -> tuple[int, str, int] | None:
    """The pid, start time and port recorded by :func:`start`, when all are readable."""
    try:
        pid_text = (directory / "server.pid").read_text().split()
        port = int((directory / "server.port").read_text().strip())
        return int(pid_text[0]), pid_text[1], port
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int, started: str) -> bool:
    """Whether ``pid`` is still the process started at ``started`` (and not a zombie)."""
    fields = _stat(pid)
    return fields is not None and fields[_START_TIME] == started and fields[_STATE] != "Z"


def healthy(port: int, timeout: float = 1.0) -> bool:
    """Whether a Prefect server answers ``GET /api/health`` on 127.0.0.1:``port``."""
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/api/health", timeout=timeout) as reply:
            return bool(reply.status == 200 and reply.read().strip() == b"true")
    except (OSError, urllib.error.URLError, ValueError):
        return False


def status(home: Path) -> ServerInfo | None:
    """The running server started for ``home``, or None (not started, exited, or unhealthy)."""
    directory = state_dir(home)
    recorded = _recorded(directory)
    if recorded is None:
        return None
    pid, started, port = recorded
    if not _alive(pid, started) or not healthy(port):
        return None
    return ServerInfo(pid=pid, port=port, state_dir=directory)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the server binds (SO_REUSEADDR): a port its last run left in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _choose_port(directory: Path, configured: int | None) -> int:
    if configured:
        if not _port_free(configured):
            raise ConfigurationError(
                f"port {configured} (prefect_server_port) is already in use on {HOST}; "
                "choose another port, or leave prefect_server_port unset for a free one"
            )
        return configured
    with contextlib.suppress(OSError, ValueError):
        previous = int((directory / "server.port").read_text().strip())
        if _port_free(previous):
            return previous  # the UI keeps its address between starts
    return _free_port()


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def server_environment(directory: Path, port: int) -> dict[str, str]:
    """The server process's environment: its own PREFECT_HOME, and the UI told its API's port.

    Without ``PREFECT_UI_API_URL`` (and the server's host and port settings) the UI served on
    another port still talks to port 4200.
    """
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PREFECT_") or key == "PREFECT_LOGGING_LEVEL"
    }
    api_url = f"http://{HOST}:{port}/api"
    environment.update(
        {
            "PREFECT_HOME": str(directory / "prefect"),
            "PREFECT_SERVER_API_HOST": HOST,
            "PREFECT_SERVER_API_PORT": str(port),
            "PREFECT_UI_API_URL": api_url,
            "PREFECT_API_URL": api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
    )
    return environment


def start(
    home: Path, port: int | None = None, *, timeout: float = START_TIMEOUT_SECONDS
) -> tuple[ServerInfo, bool]:
    """Start the server for ``home`` detached, or find it already running.

    Args:
        home: frugalflow's home; the server's files go in :func:`state_dir`.
        port: the port to listen on; the previous one (or a free one) when None.
        timeout: seconds to wait for ``/api/health`` to answer.

    Returns:
        The running server, and whether this call started it.

    Raises:
        ConfigurationError: the port is taken, or the server did not become healthy in time
            (it is then stopped, and the message names its log).
    """
    directory = state_dir(home)
    with _locked(directory):
        running = status(home)
        if running is not None:
            return running, False
        _stop_recorded(directory)  # a server that died or hangs: its group goes first
        chosen = _choose_port(directory, port)
        log = directory / "server.log"
        with log.open("ab") as output:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "prefect",
                    "server",
                    "start",
                    "--host",
                    HOST,
                    "--port",
                    str(chosen),
                ],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=server_environment(directory, chosen),
                cwd=directory,
                start_new_session=True,  # its own process group: stop() signals exactly it
            )
        started = _start_time(process.pid) or ""
        (directory / "server.pid").write_text(f"{process.pid} {started}\n")
        (directory / "server.port").write_text(f"{chosen}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if healthy(chosen):
                return ServerInfo(pid=process.pid, port=chosen, state_dir=directory), True
            time.sleep(0.2)
        _stop_recorded(directory)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT_SECONDS)  # reaped, whether it exited or was stopped
        raise ConfigurationError(
            f"the local Prefect server did not start within {timeout:g} s on port {chosen}; "
            f"see {log}"
        )


def _group_members(group: int) -> list[int]:
    """The live processes of process group ``group``."""
    members = []
    for entry in Path("/proc").iterdir():
        fields = _stat(entry.name) if entry.name.isdigit() else None
        if fields and fields[_GROUP] == str(group) and fields[_STATE] != "Z":
            members.append(int(entry.name))
    return members


def _stop_recorded(directory: Path, timeout: float = STOP_TIMEOUT_SECONDS) -> bool:
    """Stop the recorded server's process group if it is still the process started; forget it.

    Returns:
        Whether a running server was stopped.
    """
    recorded = _recorded(directory)
    stopped = False
    if recorded is not None:
        pid, started, _port = recorded
        if started and _alive(pid, started) and os.getpgid(pid) == pid:
            stopped = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _group_members(pid) and time.monotonic() < deadline:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)  # reap it when this process is its parent
                time.sleep(0.1)
            if _group_members(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    with contextlib.suppress(FileNotFoundError):
        (directory / "server.pid").unlink()
    return stopped


def stop(home: Path, *, timeout: float = STOP_TIMEOUT_SECONDS) -> bool:
    """Stop the server started for ``home`` (its process group only).

    Returns:
        Whether a server was running and has been stopped.
    """
    directory = state_dir(home)
    if not directory.is_dir():
        return False
    with _locked(directory):
        return _stop_recorded(directory, timeout)

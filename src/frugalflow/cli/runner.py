"""The preloaded runner: ``frugalflow generate`` without two seconds of imports each time.

A request's own work takes a few seconds; before it, every new ``frugalflow`` process spent
about two more importing Prefect and the flows, and then loading the embedded model. The
runner pays for that once. It is started in the background beside the local Prefect server
(``prefect_server = "auto"``), imports the flows and loads the embedded model, then waits on a
Unix socket. ``frugalflow generate`` connects and hands over its arguments, its environment,
its working directory and its terminal: the file descriptors themselves, so that colours, the
spinner, the width and piping work as in the process itself. The runner forks a child that runs
the very same command-line code the process would have run, with that environment; the exit
code comes back, and Ctrl-C is passed on to the child. It is the design of Rails' Spring and of
Nailgun.

What keeps it safe and correct:

- The socket lives in a directory only its user can enter, and the runner also checks the
  connecting process's uid (``SO_PEERCRED``).
- Each request runs in its own child: its environment (keys included) is its own, and a crash
  kills the child only. The runner itself never runs a flow, so it holds no Prefect client, no
  ledger and no lock when it forks.
- Code that changed since the runner started (an upgrade, an edit to an editable install) is
  detected by a fingerprint of the installed files: the runner refuses the request and exits,
  the command runs in its own process, and the next one starts a fresh runner.
- Anything that goes wrong before the child starts falls back to running in-process.

Only ``generate`` goes through the runner (``FRUGALFLOW_RUNNER=0`` turns it off): the other
commands either do not import Prefect or are rare.

Over 400 lines because the client, the runner's loop and its start and stop are one protocol:
apart, each half would have to be read with the other.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

# The commands the runner takes. Each imports Prefect, and a user runs it many times a day.
HANDED_OVER = frozenset({"generate"})
# Signals a user sends to the command (Ctrl-C, a closed terminal, kill): passed to the child.
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
CONNECT_TIMEOUT_SECONDS = 2.0
# Once the command is sent, the runner may have started it: the client waits for its answer
# rather than run the command a second time itself. It comes in milliseconds; this is for a
# runner that hangs.
REPLY_TIMEOUT_SECONDS = 60.0
START_TIMEOUT_SECONDS = 120.0
_LENGTH = struct.Struct("!I")


def runner_dir() -> Path:
    """Where the runner's socket and log live: per user and per Python environment.

    Under ``$XDG_RUNTIME_DIR`` when the system provides it (a tmpfs only the user can read),
    else under ``$XDG_STATE_HOME/frugalflow``. Settings are not read here (that needs the
    whole settings machinery, the cost this module exists to avoid): the runner serves any
    frugalflow home, since each child loads its own settings from the environment it is given.
    """
    base = os.environ.get("XDG_RUNTIME_DIR") or os.environ.get("XDG_STATE_HOME")
    root = Path(base) if base else Path.home() / ".local" / "state"
    environment = hashlib.sha256(sys.prefix.encode()).hexdigest()[:8]
    return root / "frugalflow" / f"runner-{environment}"


def socket_path() -> Path:
    """The runner's Unix socket (a short name: a socket's whole path must fit in 107 bytes)."""
    return runner_dir() / "sock"


def fingerprint() -> str:
    """A digest of the code a process would run: frugalflow's files and the installed packages.

    Sizes and modification times, not contents: a stat per file (about 1 ms in all), and any
    edit, reinstall or upgrade changes it.
    """
    digest = hashlib.sha256(sys.executable.encode())
    package = Path(__file__).resolve().parent.parent
    for path in sorted(package.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    # pip adds and removes dist-info directories here on every install or upgrade.
    site = Path(sysconfig.get_paths()["purelib"])
    with contextlib.suppress(OSError):
        digest.update(str(site.stat().st_mtime_ns).encode())
    return digest.hexdigest()


def _send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    framed = _LENGTH.pack(len(data)) + data
    sent = socket.send_fds(sock, [framed], fds) if fds else sock.send(framed)
    sock.sendall(framed[sent:])


def _receive_exactly(sock: socket.socket, size: int, start: bytes = b"") -> bytes:
    data = start
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the other side closed the connection")
        data += chunk
    return data


def _receive(sock: socket.socket, max_fds: int = 0) -> tuple[dict[str, Any], list[int]]:
    """One framed JSON message, and the file descriptors sent with its first bytes.

    Reads exactly one message (its length, then that many bytes), never into the next one:
    two messages can arrive together ("started", then at once "exit" for a short command).
    """
    if max_fds:
        first, fds, _flags, _address = socket.recv_fds(sock, _LENGTH.size, max_fds)
    else:
        first, fds = sock.recv(_LENGTH.size), []
    if not first:
        raise ConnectionError("the other side closed the connection")
    (length,) = _LENGTH.unpack(_receive_exactly(sock, _LENGTH.size, first))
    return json.loads(_receive_exactly(sock, length)), list(fds)


# The client: the ``frugalflow`` process a user started.


def hand_over(argv: list[str]) -> int | None:
    """Run ``frugalflow <argv>`` in the runner, if one runs and takes it.

    Returns:
        The command's exit code, or None when the runner is not there, its code is stale, or
        it could not start the command: the caller then runs the command itself.
    """
    if not argv or argv[0] not in HANDED_OVER or os.environ.get("FRUGALFLOW_RUNNER") == "0":
        return None
    path = socket_path()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if not path.exists():  # (may raise: a directory this user may not enter)
            sock.close()
            return None
        for fd in (0, 1, 2):
            os.fstat(fd)  # a closed standard stream: nothing to hand over
        sock.settimeout(CONNECT_TIMEOUT_SECONDS)
        sock.connect(str(path))
        request = {
            "argv": argv,
            "env": dict(os.environ),
            "cwd": os.getcwd(),
            "fingerprint": fingerprint(),
        }
        _send(sock, request, [0, 1, 2])
    except (OSError, ValueError):
        sock.close()
        return None  # not sent: nothing runs in the runner, the caller runs it
    try:
        sock.settimeout(REPLY_TIMEOUT_SECONDS)
        reply, _ = _receive(sock)
    except (OSError, ValueError):
        sock.close()
        sys.stderr.write(
            "frugalflow: the runner took the command but did not answer; it may be running "
            f"there (see {runner_dir() / 'runner.log'}); set FRUGALFLOW_RUNNER=0 to bypass it\n"
        )
        return 1
    if reply.get("started") is not True:
        sock.close()
        return None
    sock.settimeout(None)
    return _wait_for_exit(sock)


def _wait_for_exit(sock: socket.socket) -> int:
    """Pass the user's signals on to the child until its exit code comes back."""

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(OSError):
            _send(sock, {"signal": signum})

    for signum in FORWARDED_SIGNALS:
        signal.signal(signum, forward)
    try:
        while True:
            try:
                reply, _ = _receive(sock)
            except InterruptedError:
                continue
            if "exit" in reply:
                return int(reply["exit"])
    except (OSError, ValueError):
        sys.stderr.write(
            "frugalflow: the runner stopped while running this command; see `frugalflow "
            "server status` and its log, and check `frugalflow ledger` before running it again\n"
        )
        return 1
    finally:
        sock.close()


def main() -> None:
    """The ``frugalflow`` entry point: through the runner when it takes the command."""
    code = hand_over(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from frugalflow.cli.app import app

    app(prog_name="frugalflow")


# The runner process.


def preload() -> None:
    """Import what a ``generate`` child needs, and load the embedded model once."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    import typer  # noqa: F401  (imported for the children)

    import frugalflow.flows.codegen  # noqa: F401
    from frugalflow.core.settings import load_settings
    from frugalflow.providers import llamacpp

    try:  # optional: without it (no model yet, settings that do not load) each child loads
        llamacpp.preload_bundled_model(load_settings())
    except Exception as exc:
        print(f"not preloading the embedded model: {exc}", file=sys.stderr)


def _log(line: str) -> None:
    """A line in the runner's log (its stderr): which child ran which command, and its end."""
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}", file=sys.stderr, flush=True)


def _peer_uid(conn: socket.socket) -> int:
    credentials = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", credentials)
    return int(uid)


def _run_child(request: dict[str, Any], fds: list[int], inherited: list[socket.socket]) -> None:
    """In the forked child: become the user's command, run it, and exit with its code.

    Args:
        request: the client's argv, environment and working directory.
        fds: the client's standard streams, received over the socket.
        inherited: the runner's sockets (its listener, other clients), closed here so that
            only the runner answers them.
    """
    code = 1
    try:
        for sock in inherited:
            sock.close()
        for signum in (*FORWARDED_SIGNALS, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        for target, fd in zip((0, 1, 2), fds, strict=True):
            os.dup2(fd, target)
            os.close(fd)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = ["frugalflow", *request["argv"]]
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()
        from frugalflow.cli.app import app

        try:
            app(args=request["argv"], prog_name="frugalflow")
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        except KeyboardInterrupt:
            code = 130
    except BaseException as exc:  # the child must reach os._exit, whatever happens
        with contextlib.suppress(Exception):
            sys.stderr.write(f"frugalflow runner: {type(exc).__name__}: {exc}\n")
    finally:
        import atexit

        with contextlib.suppress(Exception):
            atexit._run_exitfuncs()  # Prefect drains its event queue here, as at any exit
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def serve(directory: Path | None = None) -> None:
    """The runner's loop: one child per request, until its code goes stale or it is stopped."""
    directory = directory or runner_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)
    preload()
    mine = fingerprint()
    path = directory / "sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    listener.bind(str(path))
    listener.listen(16)
    (directory / "runner.pid").write_text(f"{os.getpid()}\n")
    _log(f"runner {os.getpid()} ready on {path}")
    children: dict[int, socket.socket] = {}  # child pid -> the client waiting for it
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopping or children:
            for key, _events in selector.select(timeout=0.2):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is listener:
                    if stopping:
                        continue
                    conn, _ = listener.accept()
                    if not _accept(conn, mine, children, selector, listener):
                        stopping = True  # stale: the next command starts a fresh runner
                        with contextlib.suppress(FileNotFoundError):
                            path.unlink()
                else:
                    _client_message(sock, children, selector)
            _reap(children, selector)
    finally:
        with contextlib.suppress(FileNotFoundError):
            if path.exists() and (directory / "runner.pid").read_text().strip() == str(os.getpid()):
                path.unlink()
                (directory / "runner.pid").unlink()
        listener.close()


def _accept(
    conn: socket.socket,
    mine: str,
    children: dict[int, socket.socket],
    selector: selectors.BaseSelector,
    listener: socket.socket,
) -> bool:
    """Start a child for one client. False when the runner's code is stale."""
    conn.settimeout(CONNECT_TIMEOUT_SECONDS)
    fds: list[int] = []
    try:
        if _peer_uid(conn) != os.getuid():
            _send(conn, {"started": False, "why": "another user"})  # it runs its own command
            conn.close()
            return True
        request, fds = _receive(conn, max_fds=3)
        if request.get("fingerprint") != mine:
            _log("code changed since the runner started: exiting")
            _send(conn, {"started": False, "why": "stale"})
            conn.close()
            return False
        if len(fds) != 3:
            _send(conn, {"started": False, "why": "no standard streams"})
            conn.close()
            return True
        pid = os.fork()
        if pid == 0:
            _run_child(request, fds, [listener, conn, *children.values()])
        _send(conn, {"started": True, "pid": pid})
        _log(f"child {pid}: frugalflow {request['argv'][0]}")
    except (OSError, ValueError):
        conn.close()
        return True
    finally:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
    conn.settimeout(None)
    children[pid] = conn
    selector.register(conn, selectors.EVENT_READ, pid)
    return True


def _client_message(
    conn: socket.socket, children: dict[int, socket.socket], selector: selectors.BaseSelector
) -> None:
    """A signal to pass on, or the client gone (its terminal closed): the child is told."""
    pid = selector.get_key(conn).data
    try:
        message, _ = _receive(conn)
        signum = int(message.get("signal", 0))
    except (OSError, ValueError):
        selector.unregister(conn)
        signum = signal.SIGHUP
    if signum in FORWARDED_SIGNALS and pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _reap(children: dict[int, socket.socket], selector: selectors.BaseSelector) -> None:
    for pid in list(children):
        done, status = os.waitpid(pid, os.WNOHANG)
        if not done:
            continue
        conn = children.pop(pid)
        code = os.waitstatus_to_exitcode(status)
        _log(f"child {pid}: exit {code}")
        with contextlib.suppress(OSError, ValueError):
            _send(conn, {"exit": code if code >= 0 else 128 - code})
        with contextlib.suppress(KeyError, ValueError):
            selector.unregister(conn)
        conn.close()


# Starting and stopping it.


def running() -> int | None:
    """The pid of the runner for this Python environment, or None.

    A recorded pid counts only while that process is still a runner (its command line says
    so): after a crash or a reboot the number may belong to anything, and is never signalled.
    """
    directory = runner_dir()
    try:
        pid = int((directory / "runner.pid").read_text().strip())
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    if b"frugalflow.cli.runner" not in command:
        return None
    return pid if (directory / "sock").exists() else None


def start_in_background() -> None:
    """Start a runner detached, unless one runs; returns at once (it preloads on its own)."""
    if running() is not None:
        return
    directory = runner_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(directory / "runner.log", "ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "frugalflow.cli.runner"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
        )


def stop() -> bool:
    """Stop the runner (it finishes the commands it runs first). False when none ran."""
    pid = running()
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and running() == pid:
        time.sleep(0.05)
    return True


if __name__ == "__main__":
    serve()
    # Straight out: the runner ran no flow and holds nothing to flush, and the exit handlers
    # of what it preloaded (the model's, Prefect's) only slow a stale runner's exit down.
    sys.stderr.flush()
    os._exit(0)

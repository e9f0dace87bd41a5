"""The preloaded runner, for real: a runner process started as the CLI starts it, commands handed
over with the caller's environment, streams and exit code, Ctrl-C passed on, stale code and
other users refused, and a recorded pid that names another process never signalled."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from frugalflow.cli import runner

pytestmark = pytest.mark.prefect
FRUGALFLOW = Path(sys.executable).with_name("frugalflow")


def wait_until(condition: object, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A runner of this test's own (its socket under a fresh XDG_RUNTIME_DIR, short enough for
    a socket's path), started the way ``use_local_server`` starts it, stopped afterwards."""
    run = Path(tempfile.mkdtemp(prefix="ffr-", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    monkeypatch.delenv("FRUGALFLOW_RUNNER", raising=False)
    runner.start_in_background()
    wait_until(lambda: runner.running() is not None)
    yield run
    runner.stop()
    shutil.rmtree(run, ignore_errors=True)


def client_environment(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


def test_a_command_runs_in_the_runner_with_the_callers_environment(
    runtime: Path, tmp_path: Path
) -> None:
    pid = runner.running()
    assert pid is not None and runner.socket_path().stat().st_mode & 0o777 != 0
    assert (runner.runner_dir().stat().st_mode & 0o777) == 0o700
    # A misspelt setting in the caller's environment only: the runner was started without it,
    # so the message proves the child loaded the caller's environment, not the runner's.
    done = subprocess.run(
        [FRUGALFLOW, "generate", "Add a function f()", "--repo", str(tmp_path)],
        env=client_environment(FRUGALFLOW_DAILY_BUDGTE="3"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "FRUGALFLOW_DAILY_BUDGTE" in done.stderr and "DAILY_BUDGET_USD" in done.stderr
    log = (runner.runner_dir() / "runner.log").read_text()
    assert ": frugalflow generate" in log and ": exit 2" in log, log  # it ran in a child
    assert "Traceback" not in log, log
    assert runner.running() == pid  # one runner, still there for the next command


def test_the_exit_code_and_the_streams_come_back(
    runtime: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    code = runner.hand_over(["generate", "--help"])
    assert code == 0  # handed over: None would mean it ran nowhere
    out, _err = capfd.readouterr()
    assert "Usage:" in out and "generate" in out
    code = runner.hand_over(["generate", "Add a function f()", "--repo", "relative/path"])
    assert code == 2
    _out, err = capfd.readouterr()
    assert "relative" in err.lower() or "absolute" in err.lower(), err


def test_only_generate_is_handed_over_and_the_switch_turns_it_off(
    runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.hand_over(["ledger"]) is None
    monkeypatch.setenv("FRUGALFLOW_RUNNER", "0")
    assert runner.hand_over(["generate", "--help"]) is None


def test_a_runner_with_stale_code_refuses_and_exits(
    runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = runner.running()
    monkeypatch.setattr(runner, "fingerprint", lambda: "code edited since the runner started")
    assert runner.hand_over(["generate", "--help"]) is None  # the caller runs it itself
    assert pid is not None
    wait_until(lambda: _zombie(pid), timeout=60)  # it exited (a zombie until its parent reaps)
    assert runner.running() is None and not runner.socket_path().exists()


def _zombie(pid: int) -> bool:
    """Whether ``pid`` has exited: gone, or a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_another_user_cannot_hand_a_command_over(runtime: Path) -> None:
    # As nobody: the runner's directory is the user's own (0700), and the runner checks the
    # peer's uid as well. The command then runs in the caller's own process (exit code None).
    # (Imported first: nobody cannot read this interpreter's standard library.)
    probe = (
        "import os, sys; from frugalflow.cli import runner; runner.fingerprint(); "
        "os.setgid(65534); os.setuid(65534); "
        "print(runner.hand_over(['generate', '--help']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=client_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "None", done.stdout + done.stderr


def test_ctrl_c_reaches_the_running_request(runtime: Path, tmp_path: Path) -> None:
    environment = client_environment(FRUGALFLOW_HOME=str(tmp_path / "home"))
    demo = tmp_path / "demo"
    subprocess.run([FRUGALFLOW, "example-repo", demo], check=True, env=environment)
    client = subprocess.Popen(
        [FRUGALFLOW, "generate", "Add a function count_words(text)", "--repo", demo],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert client.stdout is not None
    seen = []
    for line in client.stdout:  # the first finished step: the request runs in a child now
        seen.append(line)
        if line.startswith("✓"):
            break
    children = _children(runner.running())
    assert children, seen
    client.send_signal(signal.SIGINT)
    code = client.wait(timeout=60)
    assert code != 0, "".join(seen) + client.stdout.read()
    wait_until(lambda: not any(Path(f"/proc/{c}").exists() and not _zombie(c) for c in children))
    assert runner.running() is not None  # the runner itself goes on
    # Nothing half-done: the example repository has no commit from the interrupted request.
    log = subprocess.run(
        ["git", "-C", demo, "log", "--oneline"], capture_output=True, text=True, check=True
    )
    assert len(log.stdout.splitlines()) == 1, log.stdout


def _children(pid: int | None) -> list[int]:
    assert pid is not None
    tasks = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in tasks.read_text().split()]


def test_a_recorded_pid_of_another_process_is_never_signalled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    directory = runner.runner_dir()
    directory.mkdir(parents=True)
    other = subprocess.Popen(["sleep", "60"])
    try:
        (directory / "runner.pid").write_text(f"{other.pid}\n")
        runner.socket_path().touch()
        assert runner.running() is None
        assert runner.stop() is False
        assert other.poll() is None
        # A stale socket file with nobody listening: the command runs in its own process.
        assert runner.hand_over(["generate", "--help"]) is None
    finally:
        other.kill()
        other.wait()


def test_messages_that_arrive_together_are_read_one_at_a_time() -> None:
    # A short command's "started" and "exit" can reach the client in one read.
    ours, theirs = socket.socketpair()
    try:
        runner._send(ours, {"argv": ["generate"]}, [0, 1, 2])
        runner._send(ours, {"started": True})
        runner._send(ours, {"exit": 3})
        first, fds = runner._receive(theirs, max_fds=3)
        assert first == {"argv": ["generate"]} and len(fds) == 3
        for fd in fds:
            os.close(fd)
        assert runner._receive(theirs) == ({"started": True}, [])
        assert runner._receive(theirs) == ({"exit": 3}, [])
    finally:
        ours.close()
        theirs.close()

"""The process-group runner the sandbox and the Claude Code CLI share."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from frugalflow.core.processes import ProcessGroup

# A child that starts a grandchild, writes its pid, and waits for it.
FAMILY = (
    "import subprocess, sys, time; "
    "grandchild = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
    "open(sys.argv[1], 'w').write(str(grandchild.pid)); "
    "time.sleep(60)"
)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie waiting for its (killed) parent's reaper counts as gone.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def wait_for(path: Path) -> int:
    deadline = time.monotonic() + 10
    while not (path.exists() and path.read_text()):
        assert time.monotonic() < deadline, "the child never wrote its grandchild's pid"
        time.sleep(0.02)
    return int(path.read_text())


@pytest.mark.timeout(30)
def test_the_watchdog_kills_the_whole_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    started = time.monotonic()
    with ProcessGroup(
        [sys.executable, "-c", FAMILY, str(pid_file)], stdin=subprocess.DEVNULL, timeout=1.0
    ) as group:
        grandchild = wait_for(pid_file)
        assert group.wait(float("inf"))
    assert group.timed_out
    assert group.returncode == -9
    assert time.monotonic() - started < 10
    deadline = time.monotonic() + 5
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(grandchild)


@pytest.mark.timeout(30)
def test_leaving_early_kills_the_group_and_a_quick_child_is_reaped(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    with ProcessGroup([sys.executable, "-c", FAMILY, str(pid_file)]) as group:
        grandchild = wait_for(pid_file)
        assert not group.wait(0.1)
    assert not group.timed_out
    assert group.returncode == -9
    deadline = time.monotonic() + 5
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(grandchild)

    with ProcessGroup([sys.executable, "-c", "raise SystemExit(3)"]) as quick:
        assert quick.wait(10)
    assert quick.returncode == 3
    assert not quick.timed_out


def test_a_missing_program_raises() -> None:
    with pytest.raises(FileNotFoundError):
        ProcessGroup(["/nonexistent/frugalflow-no-such-program"])

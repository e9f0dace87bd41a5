"""frugalflow's persistent local Prefect server, for real: started detached, found again by the
next CLI run, used by ``generate``, stopped with nothing left running, and never confused with
an unrelated process that reuses its pid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from frugalflow.cli import runner
from frugalflow.cli.app import app
from frugalflow.core import prefect_server

pytestmark = pytest.mark.prefect
cli = CliRunner()
FRUGALFLOW = Path(sys.executable).with_name("frugalflow")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    yield home
    prefect_server.stop(home)  # whatever a failing test left running
    runner.stop()  # the preloaded runner that `generate` starts beside the server


def test_start_status_and_stop_leave_nothing_running(home: Path) -> None:
    info, started = prefect_server.start(home)
    assert started and prefect_server.healthy(info.port)
    with urllib.request.urlopen(f"{info.api_url}/health", timeout=5) as answer:
        assert json.load(answer) is True
    again, started_again = prefect_server.start(home)
    assert (again.pid, again.port, started_again) == (info.pid, info.port, False)  # one server
    assert prefect_server.status(home) == info

    shown = cli.invoke(app, ["server", "status"], env={"FRUGALFLOW_HOME": str(home)})
    assert shown.exit_code == 0 and info.url in shown.output, shown.output
    stopped = cli.invoke(app, ["server", "stop"], env={"FRUGALFLOW_HOME": str(home)})
    assert stopped.exit_code == 0, stopped.output
    assert not alive(info.pid) and not prefect_server.healthy(info.port)
    assert prefect_server.status(home) is None
    assert prefect_server.stop(home) is False  # stopping twice is harmless
    gone = cli.invoke(app, ["server", "status"], env={"FRUGALFLOW_HOME": str(home)})
    assert gone.exit_code == 1 and "not running" in gone.output
    # The next start keeps the port, so the UI's address stays the same.
    restarted, _ = prefect_server.start(home)
    assert restarted.port == info.port and restarted.pid != info.pid


def test_a_pid_reused_by_another_process_is_never_signalled(home: Path) -> None:
    info, _ = prefect_server.start(home)
    record = info.state_dir / "server.pid"
    _, started = record.read_text().split()
    prefect_server.stop(home)
    other = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        # The recorded pid now names an unrelated process, a group leader too (as after a
        # reboot): only its start time differs from the one recorded.
        record.write_text(f"{other.pid} {started}\n")
        assert prefect_server.status(home) is None
        prefect_server.stop(home)
        assert other.poll() is None and alive(other.pid)
    finally:
        other.kill()
        other.wait()


def test_generate_uses_the_local_server_and_starts_it_once(home: Path, tmp_path: Path) -> None:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("PREFECT_API")
    }
    environment.update(
        {
            "FRUGALFLOW_HOME": str(home),
            "FRUGALFLOW_PREFECT_SERVER": "auto",
            "PREFECT_HOME": str(tmp_path / "client-prefect-home"),  # no profile naming a server
        }
    )
    demo = tmp_path / "demo"
    subprocess.run([FRUGALFLOW, "example-repo", demo], check=True, env=environment)
    for name in ("count_words", "sum_digits"):
        done = subprocess.run(
            [FRUGALFLOW, "generate", f"Add a function {name}(text)", "--repo", demo],
            capture_output=True,
            text=True,
            env=environment,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert ("starting the local Prefect server" in done.stderr) == (name == "count_words")
    info = prefect_server.status(home)
    assert info is not None
    # The first run also started the preloaded runner, for the requests after it.
    deadline = time.monotonic() + 120
    while runner.running() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert runner.running() is not None
    request = urllib.request.Request(
        f"{info.api_url}/flow_runs/filter",
        data=json.dumps({}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        runs = json.load(answer)
    assert sorted(r["state_type"] for r in runs) == ["COMPLETED", "COMPLETED"]
    assert all("add-a-function" in r["name"] for r in runs), [r["name"] for r in runs]

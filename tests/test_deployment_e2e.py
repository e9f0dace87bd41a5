"""The documented deployment path, for real: `prefect deploy --all` from prefect.yaml, a process
worker, and a request triggered through the Prefect API, as a script or the UI would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from frugalflow.cli.example_repo import create_example_repo
from frugalflow.money.ledger import CostLedger
from tests.support.git import git

pytestmark = [pytest.mark.prefect, pytest.mark.model, pytest.mark.usefixtures("prefect_server")]

PROJECT = Path(__file__).resolve().parent.parent
PREFECT = str(Path(sys.executable).with_name("prefect"))


@pytest.fixture
def prefect_env(ledger_path: Path) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    return {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "FRUGALFLOW_LEDGER_PATH": str(ledger_path),
    }


@pytest.fixture
def worker(prefect_env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    def prefect(*args: str) -> None:
        subprocess.run(
            [PREFECT, *args], cwd=PROJECT, env=prefect_env, check=True, capture_output=True
        )

    prefect("work-pool", "create", "frugalflow", "--type", "process", "--overwrite")
    prefect("--no-prompt", "deploy", "--all")
    log = (tmp_path / "worker.log").open("wb")
    process = subprocess.Popen(
        [PREFECT, "worker", "start", "--pool", "frugalflow", "--type", "process"],
        cwd=tmp_path,  # the pull step, not the worker's directory, must find the project
        env=prefect_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def test_a_request_triggered_through_the_api_runs_on_a_worker(
    worker: subprocess.Popen[bytes], tmp_path: Path, ledger_path: Path
) -> None:
    from prefect.deployments import run_deployment

    repo = create_example_repo(tmp_path / "textkit")
    started = time.monotonic()
    flow_run = run_deployment(
        "codegen/codegen",
        parameters={
            "request": {
                "description": "Add a function count_words(text) that returns the number of "
                "words in text",
                "repo": str(repo),
                "examples": ['assert count_words("a b  c") == 3'],
            }
        },
        timeout=240,
    )

    assert worker.poll() is None, (tmp_path / "worker.log").read_text()
    assert flow_run.state is not None
    assert flow_run.state.is_completed(), (flow_run.state, (tmp_path / "worker.log").read_text())
    branches = git(repo, "branch", "--list", "frugalflow/*").split()
    assert len(branches) == 1
    assert "def count_words(" in git(repo, "show", f"{branches[0]}:src/textkit/count_words.py")
    [call] = [c for c in CostLedger(ledger_path).recent(10) if c.step == "generate"]
    assert call.flow_run_id == str(flow_run.id)
    print(f"trigger to done: {time.monotonic() - started:.1f} s")

"""The documented Prefect path, for real, as the README's "From Prefect" steps do it: a Prefect
server started on 127.0.0.1 (with its UI), the work pool, `prefect deploy --all` from
prefect.yaml, a process worker, `codegen` triggered through the REST API on a temporary
repository with the embedded model, the CodeResult read back, the nightly cost report's
deployment run and its artifacts read back through the API, and both pages looked at in a real
headless browser (Debian's chromium), the screenshots saved. Every process started is stopped.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from frugalflow.cli.example_repo import create_example_repo
from frugalflow.core.schemas import CodeResult, RunStatus
from frugalflow.money.ledger import CostLedger
from tests.support.git import git

pytestmark = [pytest.mark.prefect, pytest.mark.model]

PROJECT = Path(__file__).resolve().parent.parent
PREFECT = str(Path(sys.executable).with_name("prefect"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = PROJECT / "tests" / "screenshots"  # saved by the run, not committed
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop ``process`` and everything it started (its own process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


class Stack:
    """The server, the worker and their environment."""

    def __init__(self, api: str, env: dict[str, str], logs: Path) -> None:
        self.api = api
        self.ui = api.removesuffix("/api")
        self.env = env
        self.logs = logs

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-4000:]

    def trigger(self, deployment: str, parameters: dict[str, Any]) -> str:
        """Create a run of ``flow/deployment`` through the REST API, as curl would."""
        found = httpx.get(f"{self.api}/deployments/name/{deployment}", timeout=10)
        found.raise_for_status()
        for wait in (1, 2, 4, 8, 0):
            created = httpx.post(
                f"{self.api}/deployments/{found.json()['id']}/create_flow_run",
                json={"parameters": parameters},
                timeout=10,
            )
            # 503: the server's SQLite database was busy; Prefect's own client retries it too.
            if created.status_code != 503 or not wait:
                break
            time.sleep(wait)
        assert created.status_code == 201, (created.status_code, created.text)
        return str(created.json()["id"])

    def wait(self, flow_run_id: str, timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run: dict[str, Any] = httpx.get(
                f"{self.api}/flow_runs/{flow_run_id}", timeout=10
            ).json()
            if run["state"] and run["state"]["type"] in TERMINAL:
                return run
            time.sleep(1)
        raise AssertionError(f"run {flow_run_id} did not end in {timeout} s:\n{self.log('worker')}")

    def artifacts(self, flow_run_id: str) -> list[dict[str, Any]]:
        response = httpx.post(
            f"{self.api}/artifacts/filter",
            json={"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}},
            timeout=10,
        )
        response.raise_for_status()
        return list(response.json())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("e2e")
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(root / "prefect"),
        "PREFECT_API_URL": api,
        "PREFECT_UI_API_URL": api,  # else the UI calls port 4200 whatever --port says
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "FRUGALFLOW_LEDGER_PATH": str(root / "ledger.duckdb"),
        "FRUGALFLOW_HOME": str(root / "home"),
    }
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: str, cwd: Path) -> None:
        log = (root / f"{name}.log").open("wb")
        started.append(
            subprocess.Popen(
                [PREFECT, *args],
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, stopped as a whole
            )
        )

    def prefect(*args: str) -> None:
        subprocess.run([PREFECT, *args], cwd=PROJECT, env=env, check=True, capture_output=True)

    try:
        start("server", "server", "start", "--host", "127.0.0.1", "--port", str(port), cwd=root)
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (root / "server.log").read_text()
            assert started[0].poll() is None, (root / "server.log").read_text()
            time.sleep(0.5)
        prefect("work-pool", "create", "frugalflow", "--type", "process", "--overwrite")
        prefect("--no-prompt", "deploy", "--all")
        # The worker runs from elsewhere: the pull step, not its directory, finds the project.
        start("worker", "worker", "start", "--pool", "frugalflow", "--type", "process", cwd=root)
        yield Stack(api, env, root)
    finally:
        for process in reversed(started):
            _stop(process)
    assert all(process.poll() is not None for process in started)


@pytest.fixture(scope="module")
def codegen_run(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    repo = create_example_repo(tmp_path_factory.mktemp("repo") / "textkit")
    flow_run_id = stack.trigger(
        "codegen/codegen",
        {
            "request": {
                "description": "Add a function count_words(text) that returns the number of "
                "words in text",
                "repo": str(repo),
                "examples": ['assert count_words("a b  c") == 3'],
            }
        },
    )
    return {"repo": repo, "run": stack.wait(flow_run_id)}


def _read_result(stack: Stack, flow_run_id: str) -> object:
    """The run's result as ``run_deployment(...).state.result()`` reads it: the state from the
    API, the value from Prefect's result storage."""
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def read() -> object:
        async with get_client() as client:
            flow_run = await client.read_flow_run(flow_run_id)  # type: ignore[arg-type]
        assert flow_run.state is not None
        return await flow_run.state.aresult(raise_on_failure=False)

    with temporary_settings({PREFECT_API_URL: stack.api}):
        return asyncio.run(read())


def test_a_request_triggered_through_the_rest_api_runs_on_a_worker(
    stack: Stack, codegen_run: dict[str, Any]
) -> None:
    run, repo = codegen_run["run"], codegen_run["repo"]
    assert run["state"]["type"] == "COMPLETED", (run["state"], stack.log("worker"))
    branches = git(repo, "branch", "--list", "frugalflow/*").split()
    assert len(branches) == 1
    assert "def count_words(" in git(repo, "show", f"{branches[0]}:src/textkit/count_words.py")
    [call] = [
        c
        for c in CostLedger(Path(stack.env["FRUGALFLOW_LEDGER_PATH"])).recent(10)
        if c.step == "generate"
    ]
    assert call.flow_run_id == run["id"]
    assert run["name"].startswith("add-a-function-count-words-text-")  # named from the request

    result = _read_result(stack, run["id"])
    assert isinstance(result, CodeResult)
    assert result.status is RunStatus.COMPLETED and result.branch == branches[0]
    [summary] = [a for a in stack.artifacts(run["id"]) if a["type"] == "markdown"]
    assert "### Model calls" in summary["data"] and call.model in summary["data"]


def _look_at(url: str, screenshot: Path, expected: str) -> dict[str, Any]:
    """Open ``url`` in headless chromium, wait until ``expected`` is on the page, save a
    screenshot, and say what the page's images are (loaded or not)."""
    from playwright.sync_api import sync_playwright

    screenshot.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.goto(url)
            page.get_by_text(expected, exact=False).first.wait_for(timeout=60_000)
            page.wait_for_load_state("networkidle")
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => ({src: e.src.slice(0, 30), w: e.naturalWidth}))"
            )
            page.screenshot(path=str(screenshot), full_page=True)
            return {"images": images, "text": page.inner_text("body")}
        finally:
            browser.close()


@pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="needs Debian's chromium (./dev install installs it when run as root with apt)",
)
def test_the_ui_shows_a_codegen_runs_money(stack: Stack, codegen_run: dict[str, Any]) -> None:
    run = codegen_run["run"]
    [summary] = [a for a in stack.artifacts(run["id"]) if a["type"] == "markdown"]

    seen = _look_at(
        f"{stack.ui}/artifacts/artifact/{summary['id']}",
        SCREENSHOTS / "codegen-run-artifact.png",
        "Model calls",
    )

    assert "Budget left" in seen["text"] and "llamacpp:" in seen["text"]


@pytest.fixture(scope="module")
def report_run(stack: Stack, codegen_run: dict[str, Any]) -> dict[str, Any]:
    """The nightly report's deployment, run now for the day of the codegen run."""
    from zoneinfo import ZoneInfo

    from frugalflow.core.settings import load_settings

    today = datetime.now(ZoneInfo(load_settings().timezone)).date()
    flow_run_id = stack.trigger("cost-report/nightly-cost-report", {"date": today.isoformat()})
    return stack.wait(flow_run_id, timeout=180)


def test_the_nightly_report_deployment_publishes_its_artifacts(
    stack: Stack, codegen_run: dict[str, Any], report_run: dict[str, Any]
) -> None:
    assert report_run["state"]["type"] == "COMPLETED", (report_run["state"], stack.log("worker"))
    artifacts = {a["key"]: a for a in stack.artifacts(report_run["id"])}
    assert {"cost-report-day", "cost-report-day-table", "cost-report-day-chart"} <= set(artifacts)
    markdown = artifacts["cost-report-day"]["data"]
    assert "data:image/png;base64," in markdown
    assert "llamacpp" in markdown  # the codegen run's call is in the day's report
    assert artifacts["cost-report-day-chart"]["data"].startswith("data:image/png;base64,")
    reports = Path(stack.env["FRUGALFLOW_HOME"]) / "reports"
    assert sorted(p.suffix for p in reports.iterdir()) == [".html", ".md"]


@pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="needs Debian's chromium (./dev install installs it when run as root with apt)",
)
def test_the_ui_shows_the_reports_chart(stack: Stack, report_run: dict[str, Any]) -> None:
    [report] = [a for a in stack.artifacts(report_run["id"]) if a["key"] == "cost-report-day"]

    seen = _look_at(
        f"{stack.ui}/artifacts/artifact/{report['id']}",
        SCREENSHOTS / "cost-report-artifact.png",
        "llamacpp",
    )

    charts = [image for image in seen["images"] if image["src"].startswith("data:image/png")]
    assert charts and all(image["w"] > 100 for image in charts), seen["images"]  # drawn

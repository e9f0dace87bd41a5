"""The semantic bridge over HTTP (issue 13): the FastAPI app through its test client, and
``frugalflow bridge serve`` for real on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from frugalflow.context import ContextBridge
from frugalflow.context.http import create_app
from frugalflow.core.schemas import GenerationContext

MakeRepo = Callable[..., Path]

STRINGS = '''"""Cleaning up text."""


def normalize_whitespace(text: str) -> str:
    """Collapse runs of whitespace to single spaces."""
    return " ".join(text.split())
'''
FILES = {"src/textkit/__init__.py": "", "src/textkit/strings.py": STRINGS}
REQUEST = "Add a function slugify(title) that collapses whitespace and lowercases"


@pytest.fixture
def served(make_git_repo: MakeRepo, tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    repo = make_git_repo(FILES, name="textkit")
    bridge = ContextBridge(cache_dir=tmp_path / "cache", roots=[repo])
    with TestClient(create_app(bridge)) as client:
        yield client, repo


def test_post_context_answers_the_repository_s_context(served: tuple[TestClient, Path]) -> None:
    client, repo = served

    response = client.post("/context", json={"repo": str(repo), "description": REQUEST})

    assert response.status_code == 200
    context = GenerationContext.model_validate(response.json())
    assert context.related_path == "src/textkit/strings.py"
    assert context.hints[0].import_line == "from textkit.strings import normalize_whitespace"
    assert context.token_count <= context.budget_tokens  # type: ignore[operator]


def test_cached_contexts_are_listed_with_their_hits(served: tuple[TestClient, Path]) -> None:
    client, repo = served
    body = {"repo": str(repo), "description": REQUEST, "budget_tokens": 800}

    first = client.post("/context", json=body).json()
    again = client.post("/context", json=body).json()
    cached = client.get("/context/cached").json()
    health = client.get("/health").json()

    assert again == first
    assert len(cached) == 1
    assert cached[0]["hits"] == 1 and cached[0]["budget_tokens"] == 800
    assert cached[0]["repo"] == str(repo.resolve())
    assert health["status"] == "ok" and health["repositories"] == [str(repo.resolve())]
    assert (health["builds"], health["memory_hits"]) == (1, 1)


def test_paths_outside_the_served_repositories_are_refused(
    served: tuple[TestClient, Path], make_git_repo: MakeRepo
) -> None:
    client, repo = served
    other = make_git_repo({"b.py": "B = 1\n"}, name="other")

    outside = client.post("/context", json={"repo": str(other), "description": REQUEST})
    climbing = client.post("/context", json={"repo": f"{repo}/../other", "description": REQUEST})
    relative = client.post("/context", json={"repo": "textkit", "description": REQUEST})
    missing = client.post("/context", json={"repo": f"{repo}/nowhere", "description": REQUEST})
    empty = client.post("/context", json={"repo": str(repo), "description": ""})

    assert outside.status_code == climbing.status_code == 403
    assert "outside the repositories this bridge serves" in outside.json()["detail"]
    assert relative.status_code == empty.status_code == 422
    assert missing.status_code == 404


def test_the_openapi_schema_describes_the_three_endpoints(served: tuple[TestClient, Path]) -> None:
    client, _ = served

    schema = client.get("/openapi.json").json()

    assert set(schema["paths"]) == {"/context", "/context/cached", "/health"}
    assert "GenerationContext" in schema["components"]["schemas"]
    assert "ContextRequest" in schema["components"]["schemas"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return dict(json.loads(answer.read()))


def test_frugalflow_bridge_serve_answers_on_127_0_0_1(
    make_git_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_git_repo(FILES, name="textkit")
    port = _free_port()
    command = [sys.executable, "-c", "from frugalflow.cli.app import app; app()"]
    server = subprocess.Popen(
        [*command, "bridge", "serve", "--repo", str(repo), "--port", str(port)],
        env={**__import__("os").environ, "XDG_CACHE_HOME": str(tmp_path / "cache")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = _get(f"http://127.0.0.1:{port}/health")
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "the bridge did not start in 30 s"
                time.sleep(0.2)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/context",
            data=json.dumps({"repo": str(repo), "description": REQUEST}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            context = GenerationContext.model_validate_json(answer.read())
    finally:
        server.terminate()
        server.wait(timeout=10)

    assert health["repositories"] == [str(repo.resolve())]
    assert context.hints[0].name == "normalize_whitespace"
    assert any((tmp_path / "cache" / "frugalflow" / "context").rglob("*.json"))


def test_serve_refuses_a_directory_that_is_not_a_repository(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from frugalflow.cli.app import app; app()",
            "bridge",
            "serve",
            "--repo",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2
    assert "is not inside a git repository" in done.stderr

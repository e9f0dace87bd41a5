"""Validation of candidate code: syntax, the project's ruff and mypy, safety, examples and
doctests in a sandbox, and JavaScript/TypeScript syntax with node."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from frugalflow.core.schemas import CodeRequest, ValidationReport
from frugalflow.core.settings import Settings
from frugalflow.validation import sandbox
from frugalflow.validation.project import project_config
from frugalflow.validation.report import validate_code

ADD = "def add(a, b):\n    return a + b\n"
ISOLATION = sandbox.BWRAP
needs_netns = pytest.mark.skipif(
    sandbox.unavailable_reason() is not None,
    reason=f"no sandbox on this machine: {sandbox.unavailable_reason()}",
)
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def node_strips_types() -> bool:
    node = shutil.which("node")
    if node is None:
        return False
    probe = "process.exit(typeof require('node:module').stripTypeScriptTypes === 'function' ? 0:3)"
    return subprocess.run([node, "-e", probe], capture_output=True, check=False).returncode == 0


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", sandbox_timeout_seconds=5, sandbox_memory_mb=512)


def validate(
    code: str,
    tmp_path: Path,
    settings: Settings,
    *examples: str,
    language: str = "python",
    repo: Path | None = None,
    allow_dangerous: bool = False,
    target: str | None = None,
) -> ValidationReport:
    request = CodeRequest(
        description="Write the code",
        repo=repo or tmp_path,
        examples=examples,
        language=language,
        allow_dangerous=allow_dangerous,
        target=target,
    )
    return validate_code(code, request, settings, tmp_path / "scratch", repo=repo)


def test_good_code_with_passing_examples_passes(tmp_path: Path, settings: Settings) -> None:
    report = validate(ADD, tmp_path, settings, "assert add(1, 2) == 3", "assert add(-1, 1) == 0")
    assert report.passed
    assert report.checks == ("syntax", "ruff", "safety", f"examples({ISOLATION})")
    assert report.issues == ()
    assert report.code == ADD


def test_syntax_error_is_reported_with_its_line(tmp_path: Path, settings: Settings) -> None:
    report = validate("def add(a, b):\n    x = 1\n    return a +\n", tmp_path, settings)
    assert not report.passed
    assert report.checks == ("syntax",)
    (issue,) = report.issues
    assert issue.check == "syntax"
    assert issue.message.startswith("SyntaxError")
    assert issue.line == 3
    assert "line 3" in report.feedback()


def test_undefined_name_is_a_ruff_f821_issue(tmp_path: Path, settings: Settings) -> None:
    code = "def add(a, b):\n    return a + c\n"
    report = validate(code, tmp_path, settings, "assert add(1, 2) == 3")
    assert not report.passed
    assert report.checks == ("syntax", "ruff", "safety")  # examples are not run on broken code
    (issue,) = report.issues
    assert issue.check == "ruff"
    assert issue.message.startswith("F821")
    assert "`c`" in issue.message
    assert issue.line == 2


def test_unused_import_is_fixed_and_the_fixed_code_returned(
    tmp_path: Path, settings: Settings
) -> None:
    code = "import os\n\n\n" + ADD
    report = validate(code, tmp_path, settings, "assert add(2, 3) == 5")
    assert report.passed
    assert report.issues == ()
    assert "import os" not in report.code
    assert report.code.strip() == ADD.strip()


def test_failing_example_names_the_assertion_and_what_the_code_returned(
    tmp_path: Path, settings: Settings
) -> None:
    code = "def add(a, b):\n    return a - b\n"
    report = validate(
        code,
        tmp_path,
        settings,
        "assert add(2, 2) == 0",  # passes by accident with subtraction
        "assert add(1, 2) == 3",
    )
    assert not report.passed
    (issue,) = report.issues
    assert issue.check == "examples"
    assert issue.message == "assert add(1, 2) == 3 -> AssertionError: got -1, expected 3"


def test_failing_non_equality_assertion_keeps_its_message(
    tmp_path: Path, settings: Settings
) -> None:
    report = validate(ADD, tmp_path, settings, "assert add(1, 2) > 5, 'too small'")
    (issue,) = report.issues
    assert issue.message == "assert add(1, 2) > 5, 'too small' -> AssertionError: too small"


def test_example_raising_another_error_is_reported(tmp_path: Path, settings: Settings) -> None:
    report = validate(ADD, tmp_path, settings, "add(1, 'x')")
    (issue,) = report.issues
    assert issue.message.startswith("add(1, 'x') -> TypeError")


def test_infinite_loop_times_out_quickly(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", sandbox_timeout_seconds=2, sandbox_memory_mb=512)
    code = "def spin():\n    while True:\n        pass\n"
    started = time.monotonic()
    report = validate(code, tmp_path, settings, "spin()")
    took = time.monotonic() - started
    assert not report.passed
    (issue,) = report.issues
    assert issue.check == "examples"
    assert "did not finish within 2 s" in issue.message
    assert 1.5 < took < 6


def test_memory_hog_is_stopped_by_the_memory_limit(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", sandbox_timeout_seconds=5, sandbox_memory_mb=256)
    code = "def hog():\n    return len(bytearray(2 * 1024**3))\n"
    report = validate(code, tmp_path, settings, "assert hog() == 2 * 1024**3")
    assert not report.passed
    (issue,) = report.issues
    assert issue.check == "examples"
    assert "MemoryError" in issue.message


def test_interpreter_crash_is_reported(tmp_path: Path, settings: Settings) -> None:
    report = validate(ADD, tmp_path, settings, "import os\nos._exit(3)")
    (issue,) = report.issues
    assert issue.check == "examples"
    assert "crashed" in issue.message
    assert "exit status 3" in issue.message


def test_child_does_not_see_the_parents_secrets(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-secret")
    report = validate(
        ADD,
        tmp_path,
        settings,
        "import os\nassert os.environ.get('OPENAI_API_KEY') is None",
        "import os\nassert 'ANTHROPIC_API_KEY' not in os.environ",
    )
    assert report.passed, report.feedback()


def test_examples_run_in_the_scratch_directory_not_the_repo(
    tmp_path: Path, settings: Settings
) -> None:
    report = validate(ADD, tmp_path, settings, "open('written.txt', 'w').write('x')")
    assert report.passed
    assert (tmp_path / "scratch" / "examples" / "written.txt").is_file()
    assert not (Path.cwd() / "written.txt").exists()


def test_examples_cannot_read_the_users_repo_by_relative_path(
    tmp_path: Path, settings: Settings, make_git_repo: Callable[..., Path]
) -> None:
    repo = make_git_repo({"secret.txt": "hunter2\n", "pyproject.toml": "[tool.ruff]\n"})
    report = validate(ADD, tmp_path, settings, "open('secret.txt').read()", repo=repo)
    assert not report.passed
    (issue,) = report.issues
    assert issue.message.startswith("open('secret.txt').read() -> FileNotFoundError")


@needs_netns
def test_examples_cannot_reach_the_network_not_even_loopback(
    tmp_path: Path, settings: Settings
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        # the same connection from this process works: the server is really listening
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        example = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)"
        report = validate(ADD, tmp_path, settings, example)
    assert not report.passed
    assert "examples(bwrap)" in report.checks
    (issue,) = report.issues
    # Its own loopback, on which nothing listens.
    assert "ConnectionRefusedError" in issue.message or "OSError" in issue.message


@pytest.mark.parametrize("code", ["print('hello')\n", "import os\n", "", "# just a comment\n"])
def test_code_without_definitions_is_an_issue(
    code: str, tmp_path: Path, settings: Settings
) -> None:
    report = validate(code, tmp_path, settings)
    assert not report.passed
    (issue,) = report.issues
    assert issue.check == "syntax"
    assert issue.message == "the reply contains no definitions"


def test_module_constant_counts_as_a_definition(tmp_path: Path, settings: Settings) -> None:
    report = validate("MAX_RETRIES = 3\n", tmp_path, settings, "assert MAX_RETRIES == 3")
    assert report.passed, report.feedback()


def test_annotated_constant_counts_as_a_definition(tmp_path: Path, settings: Settings) -> None:
    report = validate("MAX_RETRIES: int = 3\n", tmp_path, settings, "assert MAX_RETRIES == 3")
    assert report.passed, report.feedback()


# -- the project's own ruff and mypy configuration ----------------------------------------------

LONG_LINE = "def greeting(name):\n    return 'Hello, ' + name + ', welcome back!'\n"


def test_project_ruff_rules_are_honoured(
    tmp_path: Path, settings: Settings, make_git_repo: Callable[..., Path]
) -> None:
    strict = "[tool.ruff]\nline-length = 40\n\n[tool.ruff.lint]\nselect = ['E501']\n"
    repo = make_git_repo({"pyproject.toml": strict})
    assert validate(LONG_LINE, tmp_path / "default", settings).passed  # default rules pass it
    report = validate(LONG_LINE, tmp_path, settings, repo=repo)
    assert not report.passed
    (issue,) = report.issues
    assert issue.check == "ruff"
    assert issue.message.startswith("E501")
    assert issue.line == 2
    assert git_status(repo) == ""  # the repository is only read


def test_project_that_ignores_f401_keeps_its_unused_import(
    tmp_path: Path, settings: Settings, make_git_repo: Callable[..., Path]
) -> None:
    repo = make_git_repo({"ruff.toml": "[lint]\nignore = ['F401']\n"})
    report = validate("import os\n\n\n" + ADD, tmp_path, settings, repo=repo)
    assert report.passed, report.feedback()
    assert report.code.startswith("import os\n")


def test_per_file_ignores_apply_at_the_target_path(
    tmp_path: Path, settings: Settings, make_git_repo: Callable[..., Path]
) -> None:
    config = (
        "[tool.ruff]\nline-length = 40\n\n[tool.ruff.lint]\nselect = ['E501']\n"
        "per-file-ignores = {'scripts/*' = ['E501']}\n"
    )
    repo = make_git_repo({"pyproject.toml": config})
    assert not validate(LONG_LINE, tmp_path / "a", settings, repo=repo, target="src/g.py").passed
    assert validate(LONG_LINE, tmp_path / "b", settings, repo=repo, target="scripts/g.py").passed


def test_unusable_project_ruff_config_falls_back_to_default_rules(
    tmp_path: Path, settings: Settings, make_git_repo: Callable[..., Path]
) -> None:
    repo = make_git_repo({"ruff.toml": "extend = '../elsewhere/ruff.toml'\n"})
    report = validate("import os\n\n\n" + ADD, tmp_path, settings, repo=repo)
    assert report.passed, report.feedback()
    assert "ruff(default rules: project config unusable)" in report.checks
    assert "import os" not in report.code


def test_pyproject_without_ruff_table_means_default_rules(
    tmp_path: Path, make_git_repo: Callable[..., Path]
) -> None:
    repo = make_git_repo({"pyproject.toml": "[project]\nname = 'x'\n"})
    assert project_config(repo).ruff == ()


TYPE_ERROR = "def label(count: int) -> str:\n    return count\n"


def test_mypy_runs_when_the_project_configures_it(
    tmp_path: Path, settings: Settings, make_git_repo: Callable[..., Path]
) -> None:
    repo = make_git_repo({"pyproject.toml": "[tool.mypy]\nstrict = true\n"})
    report = validate(TYPE_ERROR, tmp_path, settings, repo=repo)
    assert not report.passed
    assert report.checks == ("syntax", "ruff", "safety", "types")
    (issue,) = report.issues
    assert issue.check == "types"
    assert issue.line == 2
    assert "Incompatible return value type" in issue.message
    assert "[return-value]" in issue.message


def test_mypy_strictness_comes_from_the_project(
    tmp_path: Path, settings: Settings, make_git_repo: Callable[..., Path]
) -> None:
    untyped = "def add(a, b):\n    return a + b\n"
    lax = make_git_repo({"mypy.ini": "[mypy]\n"}, name="lax")
    strict = make_git_repo({"setup.cfg": "[metadata]\nname = x\n\n[mypy]\nstrict = True\n"})
    assert validate(untyped, tmp_path / "lax", settings, repo=lax).passed
    report = validate(untyped, tmp_path / "strict", settings, repo=strict)
    assert [issue.message for issue in report.issues] == [
        "Function is missing a type annotation [no-untyped-def]"
    ]


def test_mypy_is_not_run_without_project_configuration(
    tmp_path: Path, settings: Settings, make_git_repo: Callable[..., Path]
) -> None:
    repo = make_git_repo({"pyproject.toml": "[tool.ruff]\n", "setup.cfg": "[flake8]\n"})
    report = validate(TYPE_ERROR, tmp_path, settings, repo=repo)
    assert report.passed
    assert "types" not in report.checks


def test_mypy_leaves_out_modules_it_cannot_find(
    tmp_path: Path, settings: Settings, make_git_repo: Callable[..., Path]
) -> None:
    """The project's own modules and its dependencies are not beside the candidate: what mypy
    says about them (not found, so Any, so "Returning Any") is not the candidate's fault."""
    repo = make_git_repo({"pyproject.toml": "[tool.mypy]\nstrict = true\n"})
    code = (
        "from myproject.helpers import double\n\n\n"
        "def quad(x: int) -> int:\n"
        "    return double(double(x))\n"
    )
    report = validate(code, tmp_path / "a", settings, repo=repo)
    assert report.passed, report.feedback()
    report = validate(code + "\n\nWRONG: str = 1\n", tmp_path / "b", settings, repo=repo)
    assert [(issue.check, issue.line) for issue in report.issues] == [("types", 8)]


# -- doctests -------------------------------------------------------------------------------------

DOCTESTED = '''def double(x):
    """Double x.

    >>> double(2)
    4
    >>> double(3)
    {expected}
    """
    return 2 * x
'''


def test_failing_doctest_is_reported_with_its_line(tmp_path: Path, settings: Settings) -> None:
    report = validate(DOCTESTED.format(expected=7), tmp_path, settings)
    assert not report.passed
    assert report.checks == ("syntax", "ruff", "safety", f"doctests({ISOLATION})")
    (issue,) = report.issues
    assert issue.check == "doctests"
    assert issue.message == "double(3) -> expected 7, got 6"
    assert issue.line == 6


def test_passing_doctests_pass(tmp_path: Path, settings: Settings) -> None:
    report = validate(DOCTESTED.format(expected=6), tmp_path, settings, "assert double(5) == 10")
    assert report.passed, report.feedback()
    assert report.checks[-2:] == (f"examples({ISOLATION})", f"doctests({ISOLATION})")


def test_doctest_raising_is_reported(tmp_path: Path, settings: Settings) -> None:
    code = 'def inverse(x):\n    """\n    >>> inverse(0)\n    0\n    """\n    return 1 / x\n'
    (issue,) = validate(code, tmp_path, settings).issues
    assert issue.message == "inverse(0) -> raised ZeroDivisionError: division by zero"
    assert issue.line == 3


# -- dangerous code -------------------------------------------------------------------------------

SHELL = "import subprocess\n\n\ndef run(command):\n    return subprocess.run(command, shell=True)\n"


@pytest.mark.parametrize(
    "code",
    [
        SHELL,
        "def calculate(user_input):\n    return eval(user_input)\n",
        "import shutil\n\n\ndef clean(path):\n    shutil.rmtree(path)\n",
        "API_KEY = '" + "sk-" + "Zq8Wm2Lr5Tx9Kp3Vn7Bc4Hd" + "'\n",
    ],
    ids=["shell", "eval", "rmtree", "api-key"],
)
def test_dangerous_code_is_refused_with_how_to_allow_it(
    code: str, tmp_path: Path, settings: Settings
) -> None:
    report = validate(code, tmp_path, settings, "assert True")
    assert not report.passed
    assert report.checks == ("syntax", "ruff", "safety")  # not run in the sandbox
    (issue,) = report.issues
    assert issue.check == "safety"
    assert issue.line == code.count("\n")
    assert "--allow-dangerous" in issue.message
    assert "allow_dangerous" in issue.message


def test_dangerous_code_passes_with_its_issues_when_allowed(
    tmp_path: Path, settings: Settings
) -> None:
    report = validate(SHELL, tmp_path, settings, "assert callable(run)", allow_dangerous=True)
    assert report.passed
    assert report.checks == ("syntax", "ruff", "safety", f"examples({ISOLATION})")
    (issue,) = report.issues
    assert issue.check == "safety"
    assert "shell=True" in issue.message
    assert "--allow-dangerous" not in issue.message
    assert "allow_dangerous" in issue.message


def test_allowed_dangerous_code_still_fails_on_other_issues(
    tmp_path: Path, settings: Settings
) -> None:
    report = validate(SHELL, tmp_path, settings, "assert run is None", allow_dangerous=True)
    assert not report.passed
    assert [issue.check for issue in report.issues] == ["safety", "examples"]


def test_benign_subprocess_call_is_not_flagged(tmp_path: Path, settings: Settings) -> None:
    code = (
        "import subprocess\n\n\ndef status():\n"
        "    return subprocess.run(['git', 'status'], capture_output=True, check=False)\n"
    )
    report = validate(code, tmp_path, settings)
    assert report.passed, report.feedback()
    assert "safety" in report.checks


# -- JavaScript and TypeScript -------------------------------------------------------------------


@needs_node
def test_javascript_syntax_error_is_found_with_node(tmp_path: Path, settings: Settings) -> None:
    code = "function add(a, b) {\n  return a + ;\n}\n"
    report = validate(code, tmp_path, settings, language="javascript")
    assert not report.passed
    assert report.checks == ("syntax", "safety")
    (issue,) = report.issues
    assert issue.check == "syntax"
    assert issue.message == "SyntaxError: Unexpected token ';'"
    assert issue.line == 2
    assert report.code == code


@needs_node
@pytest.mark.parametrize(
    "code",
    [
        "function add(a, b) { return a + b; }\nmodule.exports = { add };\n",
        "import { join } from 'node:path';\nexport const add = (a, b) => join(a, b);\n",
    ],
    ids=["commonjs", "esm"],
)
def test_valid_javascript_passes(code: str, tmp_path: Path, settings: Settings) -> None:
    report = validate(code, tmp_path, settings, language="javascript")
    assert report.passed, report.feedback()
    assert report.checks == ("syntax", "safety")


def test_javascript_without_node_is_skipped_and_says_so(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    report = validate("function f( {\n", tmp_path, settings, language="javascript")
    assert report.passed
    assert report.checks == ("syntax(skipped: node missing)", "safety")


@needs_node
@pytest.mark.skipif(node_strips_types(), reason="this node can strip TypeScript types")
def test_typescript_is_skipped_by_a_node_that_cannot_strip_types(
    tmp_path: Path, settings: Settings
) -> None:
    report = validate("const x: number = ;\n", tmp_path, settings, language="typescript")
    assert report.passed
    assert report.checks == ("syntax(skipped: node cannot strip TypeScript types)", "safety")


@pytest.mark.skipif(not node_strips_types(), reason="node cannot strip TypeScript types")
def test_typescript_syntax_is_checked_when_node_can_strip_types(
    tmp_path: Path, settings: Settings
) -> None:
    good = "export function add(a: number, b: number): number {\n  return a + b;\n}\n"
    assert validate(good, tmp_path / "good", settings, language="typescript").passed
    report = validate(
        "export function add(a: number): number {\n  return a + ;\n}\n",
        tmp_path / "bad",
        settings,
        language="typescript",
    )
    assert not report.passed
    assert report.issues[0].check == "syntax"


def test_secrets_are_found_in_any_language(tmp_path: Path, settings: Settings) -> None:
    code = 'package main\n\nconst token = "ghp_' + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8" + '"\n'
    report = validate(code, tmp_path, settings, language="go")
    assert not report.passed
    assert report.checks == ("safety",)
    (issue,) = report.issues
    assert issue.line == 3
    assert "GitHub token" in issue.message
    assert "A1b2C3" not in issue.message  # the secret itself is never repeated


# -- processes the examples start ---------------------------------------------------------------


def git_status(repo: Path) -> str:
    done = subprocess.run(
        ["git", "status", "--porcelain", "--ignored"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def is_running(pid: int) -> bool:
    """True while ``pid`` runs; a killed process that nobody reaped yet (a zombie) is not."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def pids_running(marker: str) -> list[int]:
    """Host pids of running processes whose command line holds ``marker``. Scanned from this
    process's /proc because the sandbox's own /proc shows only its namespace."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                pid = int(cmdline.parent.name)
                if is_running(pid):
                    found.append(pid)
        except (OSError, ValueError):
            continue
    return found


@pytest.fixture
def grandchild_pid_file(tmp_path: Path) -> Iterator[Path]:
    """Where the grandchild says it started: in the examples' sandbox directory (the only
    place it can write), which ``validate`` below puts under ``tmp_path / "scratch"``."""
    pid_file = tmp_path / "scratch" / "examples" / "grandchild.pid"
    yield pid_file
    for pid in pids_running(str(pid_file)):  # end what this test started, whatever the outcome
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def start_grandchild(pid_file: Path, *, new_session: bool) -> str:
    """An example that starts a sleeping process (its command line names ``pid_file``, so the
    test can find it from outside), waits until it runs, then spins."""
    sleeper = (
        f"import time; marker = {str(pid_file)!r}; open({pid_file.name!r}, 'w').write('started');"
        " time.sleep(30)"
    )
    return (
        "import subprocess, sys, time, os\n"
        f"subprocess.Popen([sys.executable, '-c', {sleeper!r}], start_new_session={new_session})\n"
        f"while not os.path.exists({pid_file.name!r}):\n"
        "    time.sleep(0.01)\n"
        "while True:\n"
        "    pass\n"
    )


def assert_ends_soon(pid_file: Path) -> None:
    assert pid_file.read_text() == "started"  # the grandchild did run
    deadline = time.monotonic() + 2
    while pids_running(str(pid_file)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pids_running(str(pid_file)) == []


def test_timeout_also_ends_processes_the_examples_started(
    tmp_path: Path, grandchild_pid_file: Path
) -> None:
    settings = Settings(home=tmp_path / "home", sandbox_timeout_seconds=2, sandbox_memory_mb=512)
    example = start_grandchild(grandchild_pid_file, new_session=False)
    report = validate(ADD, tmp_path, settings, example)
    assert "did not finish" in report.issues[0].message
    assert_ends_soon(grandchild_pid_file)


@needs_netns
def test_processes_that_left_the_process_group_end_too(
    tmp_path: Path, grandchild_pid_file: Path
) -> None:
    settings = Settings(home=tmp_path / "home", sandbox_timeout_seconds=2, sandbox_memory_mb=512)
    example = start_grandchild(grandchild_pid_file, new_session=True)
    report = validate(ADD, tmp_path, settings, example)
    assert "did not finish" in report.issues[0].message
    assert_ends_soon(grandchild_pid_file)


def test_the_sandbox_runs_this_python(tmp_path: Path, settings: Settings) -> None:
    example = f"import sys\nassert sys.executable == {sys.executable!r}, sys.executable"
    report = validate(ADD, tmp_path, settings, example)
    assert report.passed, report.feedback()


def test_a_docstring_doctest_cannot_parse_is_reported_and_skipped_not_a_crash(
    tmp_path: Path, settings: Settings
) -> None:
    """A ``"\\n"`` inside an example makes doctest raise ValueError while parsing; that was an
    "unexpected ValueError" that ended the request with no repair and no escalation."""
    code = (
        "def lines(text):\n"
        '    """Split text into lines.\n\n'
        "    >>> lines('a\\nb')\n"
        "    ['a', 'b']\n"
        '    """\n'
        "    return text.splitlines()\n"
    )
    from frugalflow.validation.execution import unparsable_doctest

    assert unparsable_doctest(code) is not None  # doctest itself cannot read it
    report = validate(code, tmp_path, settings, "assert lines('a') == ['a']")
    assert report.passed, report.feedback()
    assert any(
        check.startswith("doctests(skipped: doctest cannot parse") for check in report.checks
    )


def test_the_sandbox_runners_are_package_files_that_do_nothing_when_imported() -> None:
    """The scripts that run inside the sandbox are real modules (linted, type-checked), read as
    text and written into its directory; importing one here must not run it."""
    import importlib

    from frugalflow.validation import runners

    path = list(sys.path)
    for name in ("project_paths", "examples", "doctests"):
        importlib.import_module(f"frugalflow.validation.runners.{name}")
    assert sys.path == path
    for name in ("examples", "doctests"):
        script = runners.python_runner(name)
        assert script.startswith(runners.script(runners.PROJECT_PATHS))
        compile(script, f"{name}.py", "exec")


@needs_node
def test_the_typescript_runner_is_valid_javascript(tmp_path: Path) -> None:
    from frugalflow.validation.javascript import STRIP_TYPES
    from frugalflow.validation.runners import script

    (tmp_path / "strip.cjs").write_text(script(STRIP_TYPES))
    node = shutil.which("node") or "node"
    done = subprocess.run([node, "--check", "strip.cjs"], cwd=tmp_path, capture_output=True)
    assert done.returncode == 0, done.stderr


# -- lint findings on names the request demands are advisory (issue 10) -----------------------

MAX_OF = 'def max_of(l):\n    """The largest element of l."""\n    return max(l)\n'


def test_a_lint_finding_on_a_parameter_the_request_demands_does_not_reject_the_code(
    tmp_path: Path, settings: Settings
) -> None:
    # MBPP's signatures ask for parameters named `l`; ruff's E741 flags exactly that name, and
    # the reference solution fails the same way. The request's choice is not a defect.
    request = CodeRequest(
        description="Write a function max_of(l) that returns the largest element of the list l",
        repo=tmp_path,
        examples=("assert max_of([1, 3, 2]) == 3",),
    )
    report = validate_code(MAX_OF, request, settings, tmp_path / "scratch")

    assert report.passed, report.feedback()
    [finding] = report.issues
    assert finding.message.startswith("E741") and not finding.blocking  # reported, not blocking
    assert any(check.startswith("examples") for check in report.checks)  # the examples ran
    assert report.feedback() == ""  # a repair prompt does not ask to change what must stay


def test_the_same_finding_on_a_name_nobody_asked_for_still_rejects_the_code(
    tmp_path: Path, settings: Settings
) -> None:
    request = CodeRequest(
        description="Write a function max_of(values) that returns the largest value",
        repo=tmp_path,
        examples=("assert max_of([1, 3, 2]) == 3",),
    )
    report = validate_code(MAX_OF, request, settings, tmp_path / "scratch")

    assert not report.passed
    assert "E741" in report.feedback()


def test_demanded_names_include_the_parameters_of_a_written_out_signature() -> None:
    from frugalflow.conform.naming import demanded_names

    names = demanded_names(
        "Write a function find_max(l, *rest, key=None, limit: int = 3) that ...",
        ("assert find_max([1]) == 1",),
    )
    assert {"find_max", "l", "rest", "key", "limit"} <= names
    assert "None" not in names and "int" not in names

"""Validation of candidate code: syntax, ruff, and the request's examples in a sandbox."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from frugalflow.schemas import CodeRequest, ValidationReport
from frugalflow.settings import Settings
from frugalflow.tasks.validate import validate_code

ADD = "def add(a, b):\n    return a + b\n"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", sandbox_timeout_seconds=5, sandbox_memory_mb=512)


def validate(
    code: str, tmp_path: Path, settings: Settings, *examples: str, language: str = "python"
) -> ValidationReport:
    request = CodeRequest(
        description="Write the code", repo=tmp_path, examples=examples, language=language
    )
    return validate_code(code, request, settings, tmp_path / "scratch")


def test_good_code_with_passing_examples_passes(tmp_path: Path, settings: Settings) -> None:
    report = validate(ADD, tmp_path, settings, "assert add(1, 2) == 3", "assert add(-1, 1) == 0")
    assert report.passed
    assert report.checks == ("syntax", "ruff", "examples")
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
    assert report.checks == ("syntax", "ruff")  # examples are not run on broken code
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


def test_other_languages_are_not_checked(tmp_path: Path, settings: Settings) -> None:
    code = "function add(a, b) { return a + ; }\n"
    report = validate(code, tmp_path, settings, language="javascript")
    assert report.passed
    assert report.checks == ()
    assert report.code == code


def is_running(pid: int) -> bool:
    """True while ``pid`` runs; a killed process that nobody reaped yet (a zombie) is not."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.fixture
def grandchild_pid_file(tmp_path: Path) -> Iterator[Path]:
    pid_file = tmp_path / "grandchild.pid"
    yield pid_file
    if pid_file.is_file():  # end the process this test started, whatever the outcome
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_timeout_also_ends_processes_the_examples_started(
    tmp_path: Path, grandchild_pid_file: Path
) -> None:
    settings = Settings(home=tmp_path / "home", sandbox_timeout_seconds=1, sandbox_memory_mb=512)
    example = (
        "import subprocess\n"
        "p = subprocess.Popen(['sleep', '30'])\n"
        f"open({str(grandchild_pid_file)!r}, 'w').write(str(p.pid))\n"
        "while True:\n"
        "    pass\n"
    )
    report = validate(ADD, tmp_path, settings, example)
    assert "did not finish" in report.issues[0].message
    pid = int(grandchild_pid_file.read_text())
    deadline = time.monotonic() + 1
    alive = True
    while alive and time.monotonic() < deadline:
        alive = is_running(pid)
        time.sleep(0.05)
    assert not alive

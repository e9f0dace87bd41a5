"""Step 5, validate: does the candidate parse, lint clean, and pass the request's examples?

The report is structured so that the router can hand it to the next model as feedback. Safe
automatic fixes (``ruff check --fix``, for example an unused import) are applied and the fixed
code is what gets placed. Examples run in a child process in a scratch directory, with a time
and memory limit and an environment stripped of secrets.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

from ruff.__main__ import find_ruff_bin

from frugalflow.schemas import CodeRequest, ValidationIssue, ValidationReport
from frugalflow.settings import Settings
from frugalflow.tasks import step

# ruff's default rule set: syntax errors, undefined names, unused imports, bad comparisons.
RUFF_RULES = "E4,E7,E9,F"

_EXAMPLE_RUNNER = """
import ast, json

def run(example, namespace):
    tree = ast.parse(example)
    test = tree.body[0].test if len(tree.body) == 1 and isinstance(tree.body[0], ast.Assert) else None
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
        # Evaluate both sides so that the report says what the code returned: the most useful
        # feedback a model can get for its next attempt.
        got = eval(compile(ast.Expression(test.left), "<example>", "eval"), namespace)
        expected = eval(compile(ast.Expression(test.comparators[0]), "<example>", "eval"), namespace)
        if got != expected:
            return f"AssertionError: got {got!r}, expected {expected!r}"
        return None
    exec(compile(tree, "<example>", "exec"), namespace)
    return None

namespace = {"__name__": "candidate"}
examples = json.load(open("examples.json"))
results = []
try:
    exec(compile(open("candidate.py").read(), "candidate.py", "exec"), namespace)
except BaseException as exc:
    results.append({"example": "(loading the code)", "error": f"{type(exc).__name__}: {exc}"})
else:
    for example in examples:
        try:
            error = run(example, namespace)
        except AssertionError as exc:
            error = "AssertionError" + (f": {exc}" if str(exc) else "")
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
        if error:
            results.append({"example": example, "error": error})
json.dump(results, open("results.json", "w"))
"""


def check_syntax(code: str) -> list[ValidationIssue]:
    """Python syntax errors, and code that defines nothing at all."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return [ValidationIssue(check="syntax", message=f"SyntaxError: {exc.msg}", line=exc.lineno)]
    if not any(
        isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Assign | ast.AnnAssign
        )
        for node in tree.body
    ):
        return [ValidationIssue(check="syntax", message="the reply contains no definitions")]
    return []


def run_ruff(code: str, scratch: Path) -> tuple[str, list[ValidationIssue]]:
    """Apply ruff's safe fixes and return the fixed code and the problems that remain."""
    scratch.mkdir(parents=True, exist_ok=True)
    path = scratch / "candidate.py"
    path.write_text(code)
    done = subprocess.run(
        [
            find_ruff_bin(),
            "check",
            "--isolated",
            "--no-cache",
            "--fix",
            "--select",
            RUFF_RULES,
            "--output-format",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in (0, 1):
        return code, [ValidationIssue(check="ruff", message=f"ruff failed: {done.stderr.strip()}")]
    issues = [
        ValidationIssue(
            check="ruff",
            message=f"{item['code']} {item['message']}",
            line=(item.get("location") or {}).get("row"),
        )
        for item in json.loads(done.stdout or "[]")
    ]
    return path.read_text(), issues


def _limit_child(memory_mb: int, cpu_seconds: float) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
    cpu = int(cpu_seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    os.setsid()  # its own process group, so a timeout can kill whatever it started


def run_examples(
    code: str, examples: tuple[str, ...], scratch: Path, settings: Settings
) -> list[ValidationIssue]:
    """Run the request's examples against the code in a limited child process."""
    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / "candidate.py").write_text(code)
    (scratch / "examples.json").write_text(json.dumps(list(examples)))
    (scratch / "runner.py").write_text(_EXAMPLE_RUNNER)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1"}
    child = subprocess.Popen(
        [sys.executable, "-I", "runner.py"],
        cwd=scratch,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: _limit_child(
            settings.sandbox_memory_mb, settings.sandbox_timeout_seconds
        ),
    )
    try:
        child.wait(timeout=settings.sandbox_timeout_seconds)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        # Kill the whole process group: the child and anything it left running.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    if timed_out:
        return [
            ValidationIssue(
                check="examples",
                message=f"the examples did not finish within {settings.sandbox_timeout_seconds:g} s"
                " (an endless loop?)",
            )
        ]
    results_file = scratch / "results.json"
    if not results_file.is_file():
        return [
            ValidationIssue(
                check="examples",
                message="the examples crashed the interpreter (out of memory or CPU time?)",
            )
        ]
    return [
        ValidationIssue(check="examples", message=f"{item['example']} -> {item['error']}")
        for item in json.loads(results_file.read_text())
    ]


def validate_code(
    code: str, request: CodeRequest, settings: Settings, scratch: Path
) -> ValidationReport:
    """Validate candidate code for a request.

    Args:
        code: the extracted candidate code.
        request: the request, whose examples the code must pass.
        settings: sandbox limits.
        scratch: a private directory for this validation's files.
    """
    if request.language != "python":
        # Other languages are placed unchecked until their validators exist; say so.
        return ValidationReport(passed=True, checks=(), code=code)
    checks = ["syntax"]
    issues = check_syntax(code)
    if not issues:
        checks.append("ruff")
        code, issues = run_ruff(code, scratch / "ruff")
    if not issues and request.examples:
        checks.append("examples")
        issues = run_examples(code, request.examples, scratch / "examples", settings)
    return ValidationReport(
        passed=not issues, checks=tuple(checks), issues=tuple(issues), code=code
    )


validate = step("validate")(validate_code)

"""Static checks of Python candidates: syntax, the project's ruff, the project's mypy.

Nothing of the candidate runs or is imported in this process: ruff and mypy (which imports the
project's plugins, and a plugin may be the candidate) run on a copy in a scratch directory,
inside the sandbox when there is one (:mod:`frugalflow.validation.tools`). Without a sandbox
ruff, which only parses, runs outside it; mypy is skipped and says so.
"""

from __future__ import annotations

import ast
import contextlib
import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ruff.__main__ import find_ruff_bin

from frugalflow.core.schemas import ValidationIssue
from frugalflow.validation import sandbox
from frugalflow.validation.project import copy_config
from frugalflow.validation.tools import TOOL_MEMORY_MB, clip, run_checker, run_tool

# ruff's default rule set: syntax errors, undefined names, unused imports, bad comparisons.
RUFF_RULES = "E4,E7,E9,F"
IGNORED_MYPY_CODES = frozenset({"import-not-found", "import-untyped", "import"})


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


def _ruff(
    scratch: Path, relative: str, *, project: bool, hidden: Iterable[Path]
) -> subprocess.CompletedProcess[str]:
    options = [] if project else ["--isolated", "--select", RUFF_RULES]
    return run_checker(
        [
            find_ruff_bin(),
            "check",
            *options,
            "--no-cache",
            "--fix",
            "--no-unsafe-fixes",
            "--output-format",
            "json",
            relative,
        ],
        cwd=scratch,
        hidden=hidden,
        memory_mb=TOOL_MEMORY_MB,
    )


def run_ruff(
    code: str,
    scratch: Path,
    config: tuple[Path, ...] = (),
    *,
    relative: str = "candidate.py",
    hidden: Iterable[Path] = (),
) -> tuple[str, list[ValidationIssue], str]:
    """Apply ruff's safe fixes and return the fixed code, the problems left, and the check name.

    Args:
        code: the candidate.
        scratch: a private directory; the candidate and copies of ``config`` are written there.
        config: the project's ruff configuration files (see
            :func:`~frugalflow.validation.project.project_config`); empty for ruff's default
            rules.
        relative: where the candidate goes inside ``scratch``.
        hidden: paths ruff must not see (it runs in the sandbox when there is one).
    """
    scratch.mkdir(parents=True, exist_ok=True)
    copy_config(config, scratch)
    path = scratch / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(code)
    name = "ruff"
    done = _ruff(scratch, relative, project=bool(config), hidden=hidden)
    if done.returncode not in (0, 1) and config:
        name = "ruff(default rules: project config unusable)"
        path.write_text(code)
        done = _ruff(scratch, relative, project=False, hidden=hidden)
    if done.returncode not in (0, 1):
        message = f"ruff failed: {clip(done.stderr.strip())}"
        return code, [ValidationIssue(check="ruff", message=message)], name
    issues = [
        ValidationIssue(
            check="ruff",
            message=clip(f"{item['code'] or 'syntax'} {item['message']}"),
            line=(item.get("location") or {}).get("row"),
        )
        for item in json.loads(done.stdout or "[]")
    ]
    return sandbox.read_output(scratch, relative), issues, name


def _about_any(item: dict[str, Any]) -> bool:
    return item.get("code") == "no-any-return" or (
        item.get("code") == "misc" and '"Any"' in str(item.get("message"))
    )


def run_mypy(
    code: str, scratch: Path, config: Path, *, hidden: Iterable[Path] = ()
) -> tuple[list[ValidationIssue], str]:
    """Type-check the candidate with the project's mypy configuration, in the sandbox.

    The configuration may name plugins, which mypy imports (one may be the candidate), so
    mypy runs only in the sandbox; without one it is skipped.

    Returns:
        The type errors in the candidate (not those about modules mypy cannot find), and the
        check's name: ``types``, or ``types(skipped: ...)`` when mypy could not run.
    """
    if sandbox.unavailable_reason() is not None:
        return [], "types(skipped: no sandbox to run mypy and the project's plugins in)"
    scratch.mkdir(parents=True, exist_ok=True)
    copy_config((config,), scratch)
    (scratch / "candidate.py").write_text(code)
    try:
        done = run_tool(
            [
                sys.executable,
                "-m",
                "mypy",
                "--config-file",
                config.name,
                "--cache-dir",
                "/dev/null",
                "--no-error-summary",
                "--output",
                "json",
                "candidate.py",
            ],
            cwd=scratch,
            hidden=hidden,
            memory_mb=TOOL_MEMORY_MB,
        )
    except subprocess.TimeoutExpired:
        return [], "types(skipped: mypy timed out)"
    if done.returncode not in (0, 1):
        return [], "types(skipped: mypy cannot run with the project's configuration)"
    items = []
    for line in done.stdout.splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            item = json.loads(line)
            if isinstance(item, dict) and item.get("severity") == "error":
                items.append(item)
    # A module mypy cannot find is Any, and strict mode then complains about the Any too.
    missing = any(item.get("code") in IGNORED_MYPY_CODES for item in items)
    issues = []
    for item in items:
        if (
            Path(str(item.get("file"))).name != "candidate.py"
            or item.get("code") in IGNORED_MYPY_CODES
            or (missing and _about_any(item))
        ):
            continue
        hint = f" ({item['hint']})" if item.get("hint") else ""
        message = f"{item.get('message')} [{item.get('code')}]{hint}"
        issues.append(ValidationIssue(check="types", message=clip(message), line=item.get("line")))
    return issues, "types"

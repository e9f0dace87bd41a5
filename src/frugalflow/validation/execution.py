"""Running Python candidates: the request's examples and the code's doctests, in the sandbox.

The trusted drivers that run inside are :mod:`frugalflow.validation.runners`; they load the
candidate beside a read-only copy of the project's Python files (``project/``) and write
``results.json``, read back here with :func:`frugalflow.validation.sandbox.read_output`.
"""

from __future__ import annotations

import ast
import contextlib
import doctest
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from frugalflow.core.schemas import ValidationIssue
from frugalflow.core.settings import Settings
from frugalflow.validation import sandbox
from frugalflow.validation.runners import python_runner
from frugalflow.validation.tools import clip

MAX_ISSUES_PER_CHECK = 20


def _sandbox_issues(
    run: sandbox.SandboxRun, check: str, settings: Settings
) -> list[ValidationIssue]:
    if run.timed_out:
        message = (
            f"the {check} did not finish within {settings.sandbox_timeout_seconds:g} s"
            " (an endless loop?)"
        )
        return [ValidationIssue(check=check, message=message)]
    try:
        results = json.loads(sandbox.read_output(run.workdir, "results.json"))
        if not isinstance(results, list):
            raise TypeError(results)
    except (OSError, ValueError, TypeError):
        detail = run.stderr.splitlines()[-1] if run.stderr else f"exit status {run.returncode}"
        message = (
            f"the {check} crashed the interpreter (out of memory or CPU time?): {clip(detail)}"
        )
        return [ValidationIssue(check=check, message=message)]
    issues = []
    for item in results[:MAX_ISSUES_PER_CHECK]:
        if not isinstance(item, dict):
            continue
        line = item.get("line")
        issues.append(
            ValidationIssue(
                check=check,
                message=clip(f"{item.get('example')} -> {item.get('error')}"),
                line=line if isinstance(line, int) else None,
            )
        )
    if len(results) > MAX_ISSUES_PER_CHECK:
        more = len(results) - MAX_ISSUES_PER_CHECK
        issues.append(ValidationIssue(check=check, message=f"... and {more} more failures"))
    return issues


def _run(
    check: str,
    files: Mapping[str, str],
    scratch: Path,
    settings: Settings,
    *,
    project: Mapping[str, str] | None,
    hidden: Iterable[Path],
) -> tuple[list[ValidationIssue], str]:
    """Run the runner named ``check`` in the sandbox beside ``files`` and the project's copy;
    its issues and the isolation used."""
    (scratch / "results.json").unlink(missing_ok=True)
    run = sandbox.run_python(
        python_runner(check),
        scratch,
        files={**(project or {}), **files},
        timeout_seconds=settings.sandbox_timeout_seconds,
        memory_mb=settings.sandbox_memory_mb,
        hidden=hidden,
    )
    return _sandbox_issues(run, check, settings), run.isolation


def run_examples(
    code: str,
    examples: tuple[str, ...],
    scratch: Path,
    settings: Settings,
    *,
    project: Mapping[str, str] | None = None,
    hidden: Iterable[Path] = (),
) -> tuple[list[ValidationIssue], str]:
    """Run the request's examples against the code in the sandbox.

    Returns:
        One issue per failed example (``got ..., expected ...`` for ``assert a == b``), and the
        isolation used (``bwrap``).

    Raises:
        SandboxUnavailableError: there is no working sandbox: the examples are not run.
    """
    files = {"candidate.py": code, "examples.json": json.dumps(list(examples))}
    return _run("examples", files, scratch, settings, project=project, hidden=hidden)


def _docstrings(code: str) -> list[str]:
    """The docstrings of the code's module, classes and functions (found without running it)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    kinds = ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
    return [
        docstring
        for node in ast.walk(tree)
        if isinstance(node, kinds) and (docstring := ast.get_docstring(node, clean=True))
    ]


def has_doctests(code: str) -> bool:
    """Whether a docstring of the code holds doctest examples (found without running it)."""
    parser = doctest.DocTestParser()
    for docstring in _docstrings(code):
        with contextlib.suppress(ValueError):  # doctest cannot parse it: see below
            if parser.get_examples(docstring):
                return True
    return False


def unparsable_doctest(code: str) -> str | None:
    """What doctest cannot parse in the code's docstrings (a ``"\\n"`` inside an example,
    an example without its blank line), or ``None``."""
    parser = doctest.DocTestParser()
    for docstring in _docstrings(code):
        try:
            parser.get_examples(docstring)
        except ValueError as exc:
            return str(exc).splitlines()[0]
    return None


def run_doctests(
    code: str,
    scratch: Path,
    settings: Settings,
    *,
    project: Mapping[str, str] | None = None,
    hidden: Iterable[Path] = (),
) -> tuple[list[ValidationIssue], str]:
    """Run the doctests of the code (as ``doctest.testmod`` would) in the sandbox.

    Returns:
        One issue per failing doctest example, with its line in the code, and the isolation.
    """
    files = {"candidate.py": code}
    return _run("doctests", files, scratch, settings, project=project, hidden=hidden)

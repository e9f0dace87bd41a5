"""Is the candidate correct, in the project's own terms, and safe to place? (:func:`validate_code`)

The report is structured so that the router can hand it to the next model as feedback: every
issue has a ``check``, a message that says what to change, and the line when one is known.
Safe automatic fixes (``ruff check --fix``, for example an unused import) are applied and the
fixed code is what gets placed. This module puts the checks in order; they live in
:mod:`~frugalflow.validation.python` (syntax, ruff, mypy), :mod:`~frugalflow.validation.execution`
(examples, doctests), :mod:`~frugalflow.validation.javascript` and
:mod:`~frugalflow.validation.safety.check`; the step is :mod:`frugalflow.tasks.validate`.

Python, in order:

1. ``syntax``: the code parses and defines something. Nothing else runs on code that fails.
2. ``ruff``: ``ruff check --fix`` with the target project's own configuration (its
   ``.ruff.toml``, ``ruff.toml`` or ``pyproject.toml`` with ``[tool.ruff]``, copied into the
   scratch directory beside the candidate, which is written at its target path so that
   per-file rules apply); without one, ruff's default rules. ``ruff(default rules: project
   config unusable)`` when the project's configuration does not load on its own (``extend``
   of a file outside it, say).
3. ``safety``: dangerous constructs and secrets (:mod:`frugalflow.validation.safety.check`).
4. ``types``: mypy, only when the project configures it (``mypy.ini``, ``.mypy.ini``,
   ``[tool.mypy]`` in ``pyproject.toml``, ``[mypy]`` in ``setup.cfg``), with that
   configuration, on the candidate alone: errors about modules it cannot find (the project's
   own, or packages not installed beside frugalflow) are left out. ``types(skipped: ...)``
   when mypy cannot run with that configuration (a plugin that is not installed).
5. ``examples(bwrap)``: the request's examples, in the sandbox (:mod:`frugalflow.validation.sandbox`);
6. ``doctests(bwrap)``: the doctests in the candidate's docstrings, in the sandbox;
   ``doctests(skipped: doctest cannot parse ...)`` when a docstring is not valid doctest
   syntax (reported, not a failure: the code itself may be right).

Examples and doctests run only when the steps before found nothing blocking.

Nothing of the candidate runs or is imported in this process: ruff, mypy (which imports the
project's plugins, and a plugin may be the candidate) and node run on a copy in a scratch
directory inside the sandbox too, unable to see the user's repository, home or ledger. Without
a working sandbox: ruff and ``node --check``, which only parse, run outside it; mypy and
doctests are skipped and say so; examples are refused
(:class:`~frugalflow.core.errors.SandboxUnavailableError`), because running them unconfined is what
the sandbox exists to prevent.

JavaScript: ``syntax`` is ``node --check`` (as an ES module when the code has ``import`` or
``export`` statements); TypeScript: the types are stripped with node's own
``module.stripTypeScriptTypes`` (node 22.13+), then ``node --check``; this needs no package.
Without node, or with a node too old to strip types, the check is skipped and named so:
``syntax(skipped: node missing)``, ``syntax(skipped: node cannot strip TypeScript types)``.
Every language gets the secret scan of ``safety``.

Report names, kept stable: ``ValidationReport.checks`` lists the checks that ran, with the
variants above; ``ValidationIssue.check`` is the bare name (``syntax``, ``ruff``, ``safety``,
``types``, ``examples``, ``doctests``).

``passed`` is True when no issue blocks. Safety issues block unless the request sets
``allow_dangerous``: the code then passes *with* its safety issues in the report, and their
messages say they were kept because the request allows it.
"""

from __future__ import annotations

import re
from pathlib import Path

from frugalflow.conform.naming import demanded_names
from frugalflow.core.schemas import CodeRequest, ValidationIssue, ValidationReport
from frugalflow.core.settings import Settings
from frugalflow.validation import sandbox
from frugalflow.validation.execution import (
    has_doctests,
    run_doctests,
    run_examples,
    unparsable_doctest,
)
from frugalflow.validation.javascript import check_javascript
from frugalflow.validation.project import (
    ProjectConfig,
    candidate_path,
    hidden_paths,
    project_config,
    project_copy,
)
from frugalflow.validation.python import check_syntax, run_mypy, run_ruff
from frugalflow.validation.safety import check as safety


def _safety_issues(code: str, language: str, allowed: bool) -> list[ValidationIssue]:
    note = safety.ALLOWED_NOTE if allowed else safety.REFUSED_HINT
    return [
        issue.model_copy(update={"message": f"{issue.message} {note}"})
        for issue in safety.find_dangers(code, language)
    ]


# ruff's rules about what a name looks like: a finding against a name the request demands
# (a required parameter called ``l``) is the request's choice, not a defect of the code.
NAMING_RULES = ("E741", "E742", "E743", "N8")
_FLAGGED_NAME = re.compile(r"`([A-Za-z_]\w*)`")


def advisory_on_demanded_names(
    issues: list[ValidationIssue], demanded: set[str]
) -> list[ValidationIssue]:
    """The issues, with naming-rule findings about a demanded name made advisory."""
    marked = []
    for issue in issues:
        rule = issue.message.split(" ", 1)[0]
        flagged = set(_FLAGGED_NAME.findall(issue.message))
        if rule.startswith(NAMING_RULES) and flagged and flagged <= demanded:
            issue = issue.model_copy(update={"blocking": False})
        marked.append(issue)
    return marked


def _blocks(issue: ValidationIssue, request: CodeRequest) -> bool:
    """Whether an issue rejects the code (a safety finding does not with --allow-dangerous)."""
    return issue.blocking and (issue.check != "safety" or not request.allow_dangerous)


def validate_code(
    code: str,
    request: CodeRequest,
    settings: Settings,
    scratch: Path,
    *,
    repo: Path | None = None,
) -> ValidationReport:
    """Validate candidate code for a request.

    Args:
        code: the extracted candidate code.
        request: the request: its language, examples, target and ``allow_dangerous``.
        settings: sandbox limits.
        scratch: a private directory for this validation's files.
        repo: the user's repository, read (never written) for its ruff and mypy
            configuration; without it, ruff's default rules and no type check.

    Returns:
        The report; its ``code`` is the candidate after ruff's safe fixes.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    hidden = hidden_paths(settings, repo)
    language = request.language
    checks: list[str] = []
    issues: list[ValidationIssue] = []
    config = ProjectConfig()
    if language == "python":
        checks.append("syntax")
        issues = check_syntax(code)
        if issues:
            return ValidationReport(
                passed=False, checks=tuple(checks), issues=tuple(issues), code=code
            )
        config = project_config(repo)
        code, found, name = run_ruff(
            code, scratch / "ruff", config.ruff, relative=candidate_path(request), hidden=hidden
        )
        checks.append(name)
        issues += advisory_on_demanded_names(
            found, demanded_names(request.description, request.examples)
        )
    elif language in ("javascript", "typescript"):
        found, name = check_javascript(code, scratch / "node", language, hidden=hidden)
        checks.append(name)
        issues += found
    checks.append("safety")
    dangers = _safety_issues(code, language, request.allow_dangerous)
    issues += dangers
    if language == "python":
        if config.mypy is not None:
            found, name = run_mypy(code, scratch / "mypy", config.mypy, hidden=hidden)
            checks.append(name)
            issues += found
        blocking = [i for i in issues if _blocks(i, request)]
        if not blocking and request.examples:
            found, isolation = run_examples(
                code,
                request.examples,
                scratch / "examples",
                settings,
                project=project_copy(repo),
                hidden=hidden,
            )
            checks.append(f"examples({isolation})")
            issues += found
        unparsable = unparsable_doctest(code)
        if unparsable is not None:
            checks.append(f"doctests(skipped: doctest cannot parse a docstring: {unparsable})")
        elif not blocking and has_doctests(code):
            if sandbox.unavailable_reason() is not None:
                checks.append("doctests(skipped: no sandbox)")
            else:
                found, isolation = run_doctests(
                    code, scratch / "doctests", settings, project=project_copy(repo), hidden=hidden
                )
                checks.append(f"doctests({isolation})")
                issues += found
    passed = not [i for i in issues if _blocks(i, request)]
    return ValidationReport(passed=passed, checks=tuple(checks), issues=tuple(issues), code=code)

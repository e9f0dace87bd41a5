"""Step 5, validate: is the candidate correct, in the project's own terms, and safe to place?

The report is structured so that the router can hand it to the next model as feedback: every
issue has a ``check``, a message that says what to change, and the line when one is known.
Safe automatic fixes (``ruff check --fix``, for example an unused import) are applied and the
fixed code is what gets placed.

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

import ast
import configparser
import contextlib
import doctest
import functools
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ruff.__main__ import find_ruff_bin

from frugalflow.context.analysis import is_test_path, list_repository_files
from frugalflow.context.conventions import is_vendored_path
from frugalflow.core.errors import FrugalflowError
from frugalflow.core.schemas import CodeRequest, ValidationIssue, ValidationReport
from frugalflow.core.settings import Settings
from frugalflow.tasks import step
from frugalflow.validation import sandbox
from frugalflow.validation.safety import check as safety

# ruff's default rule set: syntax errors, undefined names, unused imports, bad comparisons.
RUFF_RULES = "E4,E7,E9,F"
RUFF_CONFIG_FILES = (".ruff.toml", "ruff.toml", "pyproject.toml")  # ruff's own precedence
MYPY_CONFIG_FILES = ("mypy.ini", ".mypy.ini", "pyproject.toml", "setup.cfg")  # mypy's
TOOL_TIMEOUT_SECONDS = 120
TOOL_MEMORY_MB = 4096  # mypy with a project's plugins; ruff needs far less
TOOL_MAX_PROCESSES = 256  # ruff and node run a thread per core
MAX_ISSUES_PER_CHECK = 20
MAX_MESSAGE_CHARS = 600
_MAX_CONFIG_BYTES = 1 << 20
MAX_PROJECT_FILES = 2_000  # a bigger project is not copied into the sandbox
_IGNORED_MYPY_CODES = frozenset({"import-not-found", "import-untyped", "import"})

# A read-only copy of the project's Python files sits in project/ so that generated code can
# import the project's own modules; the user's repository itself is never reachable.
_PROJECT_PATHS = """
import os, sys
for _path in ("project", "project/src"):
    if os.path.isdir(_path):
        sys.path.insert(0, os.path.abspath(_path))
"""

_EXAMPLE_RUNNER = (
    _PROJECT_PATHS
    + """
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
)

_DOCTEST_RUNNER = (
    _PROJECT_PATHS
    + """
import doctest, importlib.util, json, sys, traceback

results = []

def line_of(test, example):
    return None if test.lineno is None else test.lineno + example.lineno + 1

class Collect(doctest.DocTestRunner):
    def report_failure(self, out, test, example, got):
        results.append({
            "example": example.source.strip(),
            "error": f"expected {example.want.strip() or '(nothing)'}, got {got.strip() or '(nothing)'}",
            "line": line_of(test, example),
        })

    def report_unexpected_exception(self, out, test, example, exc_info):
        error = traceback.format_exception_only(exc_info[0], exc_info[1])[-1].strip()
        results.append({"example": example.source.strip(), "error": "raised " + error,
                        "line": line_of(test, example)})

try:
    spec = importlib.util.spec_from_file_location("candidate", "candidate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["candidate"] = module
    spec.loader.exec_module(module)
except BaseException as exc:
    results.append({"example": "(loading the code)", "error": f"{type(exc).__name__}: {exc}"})
else:
    runner = Collect(verbose=False)
    for test in doctest.DocTestFinder().find(module, "candidate"):
        runner.run(test, out=lambda text: None)
json.dump(results, open("results.json", "w"))
"""
)

_STRIP_TYPES = """
const fs = require("node:fs");
const { stripTypeScriptTypes } = require("node:module");
const [source, target] = process.argv.slice(2);
const code = fs.readFileSync(source, "utf8");
const fail = (error) => {
  console.log(JSON.stringify({ message: String((error && error.message) || error) }));
  process.exit(1);
};
let stripped;
try {
  stripped = stripTypeScriptTypes(code, { mode: "strip" }); // keeps every line where it was
} catch (error) {
  if (!error || error.code !== "ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX") fail(error);
  try {
    stripped = stripTypeScriptTypes(code, { mode: "transform" }); // enums, namespaces
  } catch (again) {
    fail(again);
  }
}
fs.writeFileSync(target, stripped);
"""
_CAN_STRIP_TYPES = (
    "process.exit(typeof require('node:module').stripTypeScriptTypes === 'function' ? 0 : 3)"
)
_ESM = re.compile(r"^\s*(?:import\b(?!\s*[(.])|export\b)", re.MULTILINE)


def _clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- the target project's configuration --------------------------------------------------------


@dataclass(frozen=True)
class ProjectConfig:
    """The target repository's tool configuration files, found at its root.

    Attributes:
        ruff: the files to copy so that ruff finds the project's settings; empty when the
            project does not configure ruff.
        mypy: the file holding the project's mypy settings, if it has one.
    """

    ruff: tuple[Path, ...] = ()
    mypy: Path | None = None


def _readable(path: Path) -> bool:
    """A regular file of reasonable size (a symlink could point anywhere)."""
    try:
        return path.is_file() and not path.is_symlink() and path.stat().st_size <= _MAX_CONFIG_BYTES
    except OSError:
        return False


def _toml_table(path: Path, *keys: str) -> bool:
    try:
        table: Any = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    for key in keys:
        if not isinstance(table, dict) or key not in table:
            return False
        table = table[key]
    return True


def _has_mypy_section(path: Path) -> bool:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text())
    except (OSError, UnicodeDecodeError, configparser.Error):
        return False
    return parser.has_section("mypy")


def project_config(repo: Path | None) -> ProjectConfig:
    """Find the ruff and mypy configuration of the repository at ``repo`` (read only)."""
    if repo is None or not repo.is_dir():
        return ProjectConfig()
    present = {
        name: repo / name
        for name in {*RUFF_CONFIG_FILES, *MYPY_CONFIG_FILES}
        if _readable(repo / name)
    }
    pyproject = present.get("pyproject.toml")
    configures_ruff = any(name in present for name in (".ruff.toml", "ruff.toml")) or (
        pyproject is not None and _toml_table(pyproject, "tool", "ruff")
    )
    ruff = tuple(present[name] for name in RUFF_CONFIG_FILES if name in present)
    mypy = next(
        (
            present[name]
            for name in MYPY_CONFIG_FILES
            if name in present
            and (
                _toml_table(present[name], "tool", "mypy")
                if name == "pyproject.toml"
                else _has_mypy_section(present[name])
            )
        ),
        None,
    )
    return ProjectConfig(ruff=ruff if configures_ruff else (), mypy=mypy)


def _copy_config(files: tuple[Path, ...], into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    for path in files:
        shutil.copyfile(path, into / path.name)


def candidate_path(request: CodeRequest) -> str:
    """Where the candidate sits inside a scratch copy: its target, when that is a safe
    relative ``.py`` path (so that the project's per-file rules apply), else ``candidate.py``.
    """
    target = (request.target or "").replace("\\", "/")
    path = PurePosixPath(target)
    if (
        not target
        or path.is_absolute()
        or ".." in path.parts
        or path.suffix != ".py"
        or not all(re.fullmatch(r"[\w.-]+", part) for part in path.parts)
    ):
        return "candidate.py"
    return path.as_posix()


# -- Python: syntax, ruff, types -----------------------------------------------------------------


def run_tool(
    args: Sequence[str], *, cwd: Path, hidden: Iterable[Path] = (), memory_mb: int | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a checker (ruff, mypy, node) on files in ``cwd``, inside the sandbox.

    A checker reads the candidate, and some can be made to run it (a project's mypy plugin
    may be the candidate itself), so each runs as untrusted code would: ``cwd`` is its only
    writable directory and ``hidden`` (the user's repository, the ledger) is out of its sight.

    Args:
        args: the command.
        cwd: a scratch directory holding the candidate and the configuration it needs.
        hidden: paths the checker must not see.
        memory_mb: address-space limit, or ``None`` (node reserves large virtual areas).

    Raises:
        subprocess.TimeoutExpired: it did not finish within ``TOOL_TIMEOUT_SECONDS``.
        SandboxUnavailableError: there is no working sandbox on this machine.
    """
    run = sandbox.run(
        args,
        cwd,
        timeout_seconds=TOOL_TIMEOUT_SECONDS,
        memory_mb=memory_mb,
        max_processes=TOOL_MAX_PROCESSES,
        hidden=hidden,
    )
    if run.timed_out:
        raise subprocess.TimeoutExpired(list(args), TOOL_TIMEOUT_SECONDS)
    return subprocess.CompletedProcess(list(args), run.returncode or 0, run.stdout, run.stderr)


def run_reader(args: Sequence[str], *, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a checker that only reads the code (ruff, ``node --check``) where there is no
    sandbox: no secrets in its environment, a time limit, the scratch copy as its directory."""
    return subprocess.run(
        list(args),
        cwd=cwd,
        env=sandbox.stripped_environment(),
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_SECONDS,
        check=False,
    )


def _reader(
    args: Sequence[str], *, cwd: Path, hidden: Iterable[Path], memory_mb: int | None
) -> subprocess.CompletedProcess[str]:
    if sandbox.unavailable_reason() is None:
        return run_tool(args, cwd=cwd, hidden=hidden, memory_mb=memory_mb)
    return run_reader(args, cwd=cwd)


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
    return _reader(
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
        config: the project's ruff configuration files (see :func:`project_config`); empty
            for ruff's default rules.
        relative: where the candidate goes inside ``scratch``.
        hidden: paths ruff must not see (it runs in the sandbox when there is one).
    """
    scratch.mkdir(parents=True, exist_ok=True)
    _copy_config(config, scratch)
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
        message = f"ruff failed: {_clip(done.stderr.strip())}"
        return code, [ValidationIssue(check="ruff", message=message)], name
    issues = [
        ValidationIssue(
            check="ruff",
            message=_clip(f"{item['code'] or 'syntax'} {item['message']}"),
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
    _copy_config((config,), scratch)
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
    missing = any(item.get("code") in _IGNORED_MYPY_CODES for item in items)
    issues = []
    for item in items:
        if (
            Path(str(item.get("file"))).name != "candidate.py"
            or item.get("code") in _IGNORED_MYPY_CODES
            or (missing and _about_any(item))
        ):
            continue
        hint = f" ({item['hint']})" if item.get("hint") else ""
        message = f"{item.get('message')} [{item.get('code')}]{hint}"
        issues.append(ValidationIssue(check="types", message=_clip(message), line=item.get("line")))
    return issues, "types"


# -- Python: examples and doctests in the sandbox -----------------------------------------------


def _sandbox_issues(
    run: sandbox.SandboxRun, check: str, what: str, settings: Settings
) -> list[ValidationIssue]:
    if run.timed_out:
        message = (
            f"the {what} did not finish within {settings.sandbox_timeout_seconds:g} s"
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
            f"the {what} crashed the interpreter (out of memory or CPU time?): {_clip(detail)}"
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
                message=_clip(f"{item.get('example')} -> {item.get('error')}"),
                line=line if isinstance(line, int) else None,
            )
        )
    if len(results) > MAX_ISSUES_PER_CHECK:
        more = len(results) - MAX_ISSUES_PER_CHECK
        issues.append(ValidationIssue(check=check, message=f"... and {more} more failures"))
    return issues


def project_copy(repo: Path | None) -> dict[str, str]:
    """The project's own Python files (not tests, not vendored), as sandbox files under
    ``project/``; empty without a repository or for one that is too big to copy."""
    if repo is None:
        return {}
    try:
        files = [
            path
            for path in list_repository_files(repo)
            if path.endswith(".py") and not is_test_path(path) and not is_vendored_path(path)
        ]
    except FrugalflowError:
        return {}
    if len(files) > MAX_PROJECT_FILES:
        return {}
    root = repo.resolve()
    copy = {}
    for path in files:
        source = repo / path
        # A committed symlink could point at a key file; only regular files inside the
        # repository are copied.
        if source.is_symlink() or not source.is_file() or root not in source.resolve().parents:
            continue
        copy[f"project/{path}"] = source.read_text(errors="replace")
    return copy


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
    (scratch / "results.json").unlink(missing_ok=True)
    run = sandbox.run_python(
        _EXAMPLE_RUNNER,
        scratch,
        files={
            **(project or {}),
            "candidate.py": code,
            "examples.json": json.dumps(list(examples)),
        },
        timeout_seconds=settings.sandbox_timeout_seconds,
        memory_mb=settings.sandbox_memory_mb,
        hidden=hidden,
    )
    return _sandbox_issues(run, "examples", "examples", settings), run.isolation


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
    (scratch / "results.json").unlink(missing_ok=True)
    run = sandbox.run_python(
        _DOCTEST_RUNNER,
        scratch,
        files={**(project or {}), "candidate.py": code},
        timeout_seconds=settings.sandbox_timeout_seconds,
        memory_mb=settings.sandbox_memory_mb,
        hidden=hidden,
    )
    return _sandbox_issues(run, "doctests", "doctests", settings), run.isolation


# -- JavaScript and TypeScript --------------------------------------------------------------------


@functools.cache
def _node_strips_types(node: str) -> bool:
    try:
        done = subprocess.run(
            [node, "-e", _CAN_STRIP_TYPES],
            env=sandbox.stripped_environment(),
            capture_output=True,
            timeout=TOOL_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _node_check(
    node: str, path: Path, shown_as: str, hidden: Iterable[Path]
) -> list[ValidationIssue]:
    done = _reader([node, "--check", path.name], cwd=path.parent, hidden=hidden, memory_mb=None)
    if done.returncode == 0:
        return []
    output = done.stderr.splitlines()
    where = next(
        (found for text in output if (found := re.search(rf"{re.escape(path.name)}:(\d+)", text))),
        None,
    )
    error = next(
        (text.strip() for text in output if re.match(r"^\w*Error\b", text.strip())),
        _clip(done.stderr.strip() or f"node --check failed on {shown_as}"),
    )
    return [
        ValidationIssue(
            check="syntax", message=_clip(error), line=int(where.group(1)) if where else None
        )
    ]


def check_javascript(
    code: str, scratch: Path, language: str, *, hidden: Iterable[Path] = ()
) -> tuple[list[ValidationIssue], str]:
    """Syntax check of JavaScript, or TypeScript once its types are stripped, with node (in
    the sandbox when there is one: ``node --check`` only parses, so it may run without).

    Returns:
        The syntax errors and the check's name (``syntax``, or ``syntax(skipped: ...)``).
    """
    node = shutil.which("node")
    if node is None:
        return [], "syntax(skipped: node missing)"
    scratch.mkdir(parents=True, exist_ok=True)
    suffix = ".mjs" if _ESM.search(code) else ".cjs"
    if language != "typescript":
        path = scratch / f"candidate{suffix}"
        path.write_text(code)
        return _node_check(node, path, "the code", hidden), "syntax"
    if not _node_strips_types(node):
        return [], "syntax(skipped: node cannot strip TypeScript types)"
    (scratch / "candidate.ts").write_text(code)
    (scratch / "strip.cjs").write_text(_STRIP_TYPES)
    stripped = scratch / f"candidate.stripped{suffix}"
    done = _reader(
        [node, "strip.cjs", "candidate.ts", stripped.name],
        cwd=scratch,
        hidden=hidden,
        memory_mb=None,
    )
    if done.returncode != 0:
        try:
            message = str(json.loads(done.stdout.strip().splitlines()[-1])["message"])
        except (ValueError, LookupError, TypeError):
            message = done.stderr.strip() or "node could not strip the TypeScript types"
        where = re.search(r"\[(?:[^\]\s]*:)?(\d+):\d+\]", message)
        first = next((text.strip() for text in message.splitlines() if text.strip()), message)
        issue = ValidationIssue(
            check="syntax",
            message=_clip(f"TypeScript: {first}"),
            line=int(where.group(1)) if where else None,
        )
        return [issue], "syntax"
    return _node_check(node, stripped, "the TypeScript", hidden), "syntax"


# -- the step ------------------------------------------------------------------------------------


def _safety_issues(code: str, language: str, allowed: bool) -> list[ValidationIssue]:
    note = safety.ALLOWED_NOTE if allowed else safety.REFUSED_HINT
    return [
        issue.model_copy(update={"message": f"{issue.message} {note}"})
        for issue in safety.find_dangers(code, language)
    ]


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
        issues += found
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
        blocking = [i for i in issues if i.check != "safety" or not request.allow_dangerous]
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
    passed = not [i for i in issues if i.check != "safety" or not request.allow_dangerous]
    return ValidationReport(passed=passed, checks=tuple(checks), issues=tuple(issues), code=code)


def hidden_paths(settings: Settings, repo: Path | None) -> tuple[Path, ...]:
    """What a sandboxed checker must not see besides home and the temporary directory: the
    user's repository, frugalflow's state (the ledger) and cache."""
    paths = [settings.home, settings.ledger_file.parent, settings.cache_dir]
    if repo is not None:
        paths.append(repo)
    return tuple(paths)


validate = step("validate")(validate_code)

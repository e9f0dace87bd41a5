"""What the semantic bridge's context changes in the embedded model's code: 20 requests on real
repositories, each asked with and without the context.

The repositories are installed packages' source trees (python-slugify, humanize, pathspec,
docstring_parser, python-dateutil, packaging, PyYAML, jsonpatch, Jinja2), each copied into a
fresh git repository, and a clone of this repository. Every request has a helper in its
repository that does the hard part (``slugify``, ``naturalsize``, ``PathSpec``...) and an
``assert`` the code must pass.

Each request runs three times on the embedded Qwen2.5-Coder 0.5B at temperature 0, with the
prompt the generation step sends (:func:`frugalflow.generation.prompts.build_messages`): with
the bridge's context (default budget, 2,528 tokens), with a small one (600 tokens: conventions
and reuse hints, little code), and with an empty context (the plain problem form); and
the reply goes through what the generation step does to it (code extracted, repository names
imported). It is scored on:

* validation: the product's validation passes (syntax, ruff, safety, the example run in the
  sandbox);
* naming: the names it defines follow the repository's measured conventions;
* reuse: it calls the repository's helper instead of rewriting it;
* imports: every import resolves (module and names) and ruff finds no undefined name.

    .venv/bin/python bench/context_effect.py [--limit N] [--run NAME] [--table]

One JSON line per request and condition goes to ``<out>/<run>.jsonl``; the table is printed
at the end (and with ``--table`` from the recorded lines alone).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODEL = "qwen2.5-coder-0.5b-instruct"
CONDITIONS = ("with context", "small context", "without context")
# The "small context" condition: conventions and reuse hints, hardly any code (run 1 showed the
# 0.5B copying the related module's code it was shown).
SMALL_BUDGET_TOKENS = 600


@dataclass(frozen=True)
class Task:
    """One request: the package tree it runs against, its words, its example, its helper."""

    tree: str  # an installed top-level package or module, or "frugalflow" for this repository
    description: str
    example: str
    helper: str


TASKS = [
    Task(
        "slugify",
        "Add a function make_title_slug(title) that turns a title into a URL slug",
        'assert make_title_slug("Hello World") == "hello-world"',
        "slugify",
    ),
    Task(
        "slugify",
        "Add a function slug_words(text) that returns the words of the URL slug of text",
        'assert slug_words("Hello, World!") == ["hello", "world"]',
        "slugify",
    ),
    Task(
        "humanize",
        "Add a function describe_size(byte_count) that describes a file size for people",
        'assert describe_size(1000) == "1.0 kB"',
        "naturalsize",
    ),
    Task(
        "humanize",
        "Add a function describe_count(n) that writes a large number in words",
        'assert describe_count(1000000) == "1.0 million"',
        "intword",
    ),
    Task(
        "pathspec",
        "Add a function ignored_files(patterns, paths) that returns the paths that "
        "gitignore-style patterns match",
        'assert ignored_files(["*.pyc"], ["a.py", "b.pyc"]) == ["b.pyc"]',
        "PathSpec",
    ),
    Task(
        "pathspec",
        "Add a function matches_any(lines, path) that tells whether gitignore-style pattern "
        "lines match a path",
        'assert matches_any(["build/"], "build/x.o")',
        "PathSpec",
    ),
    Task(
        "docstring_parser",
        "Add a function parameter_names(docstring) that returns the names of the parameters "
        "a docstring documents",
        'assert parameter_names("Do it.\\n\\nArgs:\\n    x: the x.\\n    y: the y.\\n") '
        '== ["x", "y"]',
        "parse",
    ),
    Task(
        "docstring_parser",
        "Add a function short_summary(docstring) that returns a docstring's short description",
        'assert short_summary("Do it.\\n\\nMore about it.") == "Do it."',
        "parse",
    ),
    Task(
        "dateutil",
        "Add a function year_of(text) that parses a date written in free text and returns its year",
        'assert year_of("May 1, 2024") == 2024',
        "parse",
    ),
    Task(
        "dateutil",
        "Add a function months_between(start, end) that returns the whole months between two "
        "dates, using a relative delta",
        "from datetime import date\nassert months_between(date(2024, 1, 15), date(2024, 4, 20)) "
        "== 3",
        "relativedelta",
    ),
    Task(
        "packaging",
        "Add a function is_newer(a, b) that tells whether version string a is newer than "
        "version string b",
        'assert is_newer("1.10", "1.9")',
        "Version",
    ),
    Task(
        "packaging",
        "Add a function satisfies(version, requirement) that tells whether a version matches "
        "a version specifier such as '>=1.0,<2'",
        'assert satisfies("1.5", ">=1.0,<2")',
        "SpecifierSet",
    ),
    Task(
        "yaml",
        "Add a function top_level_keys(text) that loads a YAML document and returns its "
        "top-level keys, sorted",
        'assert top_level_keys("b: 1\\na: 2\\n") == ["a", "b"]',
        "safe_load",
    ),
    Task(
        "yaml",
        "Add a function to_yaml(data) that dumps a dict as block-style YAML text",
        'assert to_yaml({"a": 1}) == "a: 1\\n"',
        "safe_dump",
    ),
    Task(
        "jsonpatch",
        "Add a function patched(document, operations) that applies JSON patch operations to "
        "a document and returns the result",
        'assert patched({"a": 1}, [{"op": "replace", "path": "/a", "value": 2}]) == {"a": 2}',
        "apply_patch",
    ),
    Task(
        "jsonpatch",
        "Add a function patch_between(old, new) that returns the JSON patch operations that "
        "turn old into new, as a list",
        'assert patch_between({"a": 1}, {"a": 2}) == [{"op": "replace", "path": "/a", "value": 2}]',
        "make_patch",
    ),
    Task(
        "jinja2",
        "Add a function render_greeting(name) that renders the template 'Hello {{ name }}!' "
        "with a Jinja template",
        'assert render_greeting("Ann") == "Hello Ann!"',
        "Template",
    ),
    Task(
        "frugalflow",
        "Add a function total_tokens(texts) that counts the tokens of all the texts of a list",
        'assert total_tokens(["hello world", "hello world"]) == 4',
        "count_tokens",
    ),
    Task(
        "frugalflow",
        "Add a function to_snake_names(names) that rewrites each name of a list in snake_case",
        'assert to_snake_names(["makeSlug", "HTTPServer"]) == ["make_slug", "http_server"]',
        "convert_name",
    ),
    Task(
        "frugalflow",
        "Add a function is_test_file(path) that tells whether a repository path is a test "
        "file or lies in a test directory",
        'assert is_test_file("tests/test_a.py") and not is_test_file("src/a.py")',
        "is_test_path",
    ),
]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def make_tree(name: str, into: Path) -> Path:
    """The package's installed source (or a clone of this repository) as a git repository."""
    repo = into / name
    if repo.exists():
        return repo
    if name == "frugalflow":
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(repo)], check=True)
        return repo
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None, f"{name} is not installed"
    origin = Path(spec.origin)
    repo.mkdir(parents=True)
    if origin.name == "__init__.py":
        shutil.copytree(origin.parent, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        shutil.copy(origin, repo / origin.name)
    _git(repo, "init", "--quiet", "--initial-branch", "main")
    _git(repo, "add", "--all")
    _git(repo, "commit", "--quiet", "-m", f"{name} as installed")
    return repo


def calls_helper(code: str, helper: str) -> bool:
    """Whether the code uses ``helper`` (a call or a reference) without defining it."""
    tree = ast.parse(code)
    defined = {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    used |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    return helper in used and helper not in defined


def imports_resolve(code: str) -> bool:
    """Whether every import of the code names a module that exists and names it has."""
    for node in ast.walk(ast.parse(code)):
        try:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if importlib.util.find_spec(alias.name) is None:
                        return False
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                module = importlib.import_module(node.module)
                for alias in node.names:
                    if alias.name != "*" and not hasattr(module, alias.name):
                        try:
                            importlib.import_module(f"{node.module}.{alias.name}")
                        except ImportError:
                            return False
        except (ImportError, ValueError):
            return False
    return True


def run_task(task: Task, condition: str, repo: Path, scratch: Path) -> dict[str, Any]:
    """Ask the model one request in one condition and score its code."""
    from frugalflow.conform.naming import demanded_names
    from frugalflow.context import ContextBridge, ContextRequest, check_naming
    from frugalflow.core.schemas import CodeRequest, GenerationContext
    from frugalflow.core.settings import load_settings
    from frugalflow.generation.imports import expand_star_imports
    from frugalflow.generation.prompts import build_messages, importable_names
    from frugalflow.generation.replies import (
        add_missing_imports,
        drop_known_definitions,
        extract_code,
    )
    from frugalflow.money.tokens import count_tokens
    from frugalflow.providers import get_provider
    from frugalflow.validation.report import validate_code

    settings = load_settings()
    bridge = ContextBridge()
    measured = bridge.context(ContextRequest(repo=repo, description=task.description))
    if condition == "with context":
        context = measured
    elif condition == "small context":
        small = ContextRequest(
            repo=repo, description=task.description, budget_tokens=SMALL_BUDGET_TOKENS
        )
        context = bridge.context(small)
    else:
        context = GenerationContext(
            language="python", file_layout=(), source_dir=".", naming=measured.naming
        )
    request = CodeRequest(description=task.description, repo=repo, examples=(task.example,))
    messages = build_messages(request, context)
    provider = get_provider("llamacpp", settings)
    started = time.perf_counter()
    reply = provider.complete(MODEL, messages, max_tokens=512, temperature=0.0)
    seconds = time.perf_counter() - started
    code = extract_code(reply.text, "python")
    known = importable_names(context)
    demanded = demanded_names(request.description, request.examples)
    code = add_missing_imports(
        drop_known_definitions(expand_star_imports(code), known, demanded), known
    )
    report = validate_code(code, request, settings, scratch, repo=repo)
    try:
        reuse, imports = calls_helper(code, task.helper), imports_resolve(code)
    except SyntaxError:
        reuse = imports = False
    undefined = any("F821" in issue.message for issue in report.issues)
    return {
        "tree": task.tree,
        "description": task.description,
        "condition": condition,
        "validation": report.passed,
        "naming": not check_naming(code, measured.naming).findings,
        "reuse": reuse,
        "imports": imports and not undefined,
        "prompt_tokens": sum(count_tokens(m.content) for m in messages),
        "seconds": round(seconds, 2),
        "code": code,
        "issues": [issue.message[:200] for issue in report.issues if issue.blocking],
    }


def table(rows: list[dict[str, Any]]) -> None:
    """Print the scores of both conditions side by side."""
    shown = [c for c in CONDITIONS if any(r["condition"] == c for r in rows)]
    print(f"\n{'':<24}" + "".join(f"{c:>18}" for c in shown))
    for measure in ("validation", "naming", "reuse", "imports"):
        cells = []
        for condition in shown:
            done = [r for r in rows if r["condition"] == condition]
            cells.append(f"{sum(r[measure] for r in done)}/{len(done)}")
        print(f"{measure:<24}" + "".join(f"{c:>18}" for c in cells))
    for figure in ("prompt_tokens", "seconds"):
        cells = []
        for condition in shown:
            values = [r[figure] for r in rows if r["condition"] == condition]
            cells.append(f"{statistics.median(values):g}" if values else "-")
        print(f"{'median ' + figure:<24}" + "".join(f"{c:>18}" for c in cells))


def main() -> None:
    """Run the requests (or only print the recorded table)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=len(TASKS))
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/context_effect")
    parser.add_argument("--run", default="results", help="the name of the results file")
    parser.add_argument(
        "--conditions",
        default=",".join(CONDITIONS),
        help="which conditions to run, comma-separated (default: all three)",
    )
    parser.add_argument("--table", action="store_true", help="only print the recorded table")
    args = parser.parse_args()
    unknown = set(args.conditions.split(",")) - set(CONDITIONS)
    if unknown:
        parser.error(f"unknown conditions {sorted(unknown)}; choose from {', '.join(CONDITIONS)}")
    results = args.out / f"{args.run}.jsonl"
    if not args.table:
        args.out.mkdir(parents=True, exist_ok=True)
        rows = []
        results.write_text("")  # each row is appended as it is scored: a stopped run keeps them
        with tempfile.TemporaryDirectory(prefix="frugalflow-bench-effect-") as tmp:
            trees = Path(tmp) / "trees"
            for index, task in enumerate(TASKS[: args.limit]):
                repo = make_tree(task.tree, trees)
                for condition in args.conditions.split(","):
                    row = run_task(
                        task, condition, repo, Path(tmp) / f"scratch-{index}-{condition.split()[0]}"
                    )
                    rows.append(row)
                    with results.open("a") as out:
                        out.write(json.dumps(row) + "\n")
                    marks = " ".join(
                        k for k in ("validation", "naming", "reuse", "imports") if row[k]
                    )
                    print(f"{index + 1:>2} {condition:<16} {task.tree:<16} {marks}", flush=True)
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    table(rows)
    sys.stdout.flush()


if __name__ == "__main__":
    main()

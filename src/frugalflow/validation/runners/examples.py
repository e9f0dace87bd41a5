"""Runs the request's examples against the candidate, in the sandbox.

Reads ``candidate.py`` and ``examples.json`` (a list of Python snippets), runs the candidate,
then each example in its namespace, and writes ``results.json``: one ``{"example", "error"}``
per example that failed, or the error of loading the code. Standard library only.
"""

import ast
import json
from typing import Any


def run(example: str, namespace: dict[str, Any]) -> str | None:
    """Run one example in ``namespace``; what an ``assert a == b`` got when it failed."""
    tree = ast.parse(example)
    first = tree.body[0] if len(tree.body) == 1 else None
    test = first.test if isinstance(first, ast.Assert) else None
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
        # Evaluate both sides so that the report says what the code returned: the most useful
        # feedback a model can get for its next attempt.
        got = eval(compile(ast.Expression(test.left), "<example>", "eval"), namespace)
        expected = eval(
            compile(ast.Expression(test.comparators[0]), "<example>", "eval"), namespace
        )
        if got != expected:
            return f"AssertionError: got {got!r}, expected {expected!r}"
        return None
    exec(compile(tree, "<example>", "exec"), namespace)
    return None


def main() -> None:
    """Load the candidate, run every example, write ``results.json``."""
    namespace: dict[str, Any] = {"__name__": "candidate"}
    with open("examples.json", encoding="utf-8") as handle:
        examples = json.load(handle)
    results = []
    try:
        with open("candidate.py", encoding="utf-8") as handle:
            source = handle.read()
        exec(compile(source, "candidate.py", "exec"), namespace)
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
    with open("results.json", "w", encoding="utf-8") as handle:
        json.dump(results, handle)


if __name__ == "__main__":
    main()

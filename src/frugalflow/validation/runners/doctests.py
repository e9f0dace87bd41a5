"""Runs the doctests of the candidate (as ``doctest.testmod`` would), in the sandbox.

Imports ``candidate.py`` as the module ``candidate``, runs the examples of its docstrings and
writes ``results.json``: one ``{"example", "error", "line"}`` per failing example (its line in
the candidate), or the error of loading the code. Standard library only.
"""

import doctest
import importlib.util
import json
import sys
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any


def line_of(test: doctest.DocTest, example: doctest.Example) -> int | None:
    """The example's line in the candidate, when doctest knows where its docstring starts."""
    return None if test.lineno is None else test.lineno + example.lineno + 1


class Collect(doctest.DocTestRunner):
    """A doctest runner that collects failures instead of printing them."""

    def __init__(self, found: list[dict[str, Any]]) -> None:
        super().__init__(verbose=False)
        self.found = found

    def report_failure(
        self,
        out: Callable[[str], object],
        test: doctest.DocTest,
        example: doctest.Example,
        got: str,
    ) -> None:
        """An example printed something other than what its docstring expects."""
        self.found.append(
            {
                "example": example.source.strip(),
                "error": (
                    f"expected {example.want.strip() or '(nothing)'},"
                    f" got {got.strip() or '(nothing)'}"
                ),
                "line": line_of(test, example),
            }
        )

    def report_unexpected_exception(
        self,
        out: Callable[[str], object],
        test: doctest.DocTest,
        example: doctest.Example,
        exc_info: tuple[type[BaseException], BaseException, TracebackType],
    ) -> None:
        """An example raised where its docstring expects none."""
        error = traceback.format_exception_only(exc_info[0], exc_info[1])[-1].strip()
        self.found.append(
            {
                "example": example.source.strip(),
                "error": "raised " + error,
                "line": line_of(test, example),
            }
        )


def main() -> None:
    """Import the candidate, run its doctests, write ``results.json``."""
    results: list[dict[str, Any]] = []
    try:
        spec = importlib.util.spec_from_file_location("candidate", "candidate.py")
        if spec is None or spec.loader is None:
            raise ImportError("cannot load candidate.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["candidate"] = module
        spec.loader.exec_module(module)
    except BaseException as exc:
        results.append({"example": "(loading the code)", "error": f"{type(exc).__name__}: {exc}"})
    else:
        runner = Collect(results)
        for test in doctest.DocTestFinder().find(module, "candidate"):
            runner.run(test, out=lambda text: None)
    with open("results.json", "w", encoding="utf-8") as handle:
        json.dump(results, handle)


if __name__ == "__main__":
    main()

"""The layout's rules that import-linter does not check (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parent.parent / "src" / "frugalflow"
TESTS = Path(__file__).parent


def imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) for every ``from module import name`` in a file, at any depth."""
    tree = ast.parse(path.read_text(), str(path))
    return [
        (node.module or "", alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    ]


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_imports_another_modules_private_names(path: Path) -> None:
    private = [
        f"{module}.{name}"
        for module, name in imports(path)
        if module.startswith("frugalflow") and name.startswith("_") and not name.startswith("__")
    ]
    assert not private, f"{path.name} imports private names: {private}"


@pytest.mark.parametrize("path", sorted(TESTS.glob("*.py")), ids=lambda p: p.name)
def test_no_test_module_imports_another_test_module(path: Path) -> None:
    wrong = [
        module
        for module, _ in imports(path)
        if module == "tests.conftest" or module.startswith("tests.test_") or module == "tests"
    ]
    assert not wrong, (
        f"{path.name} imports {wrong}: helpers go in tests/support, fixtures in conftest"
    )


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_a_module_over_400_lines_says_why_at_its_top(path: Path) -> None:
    text = path.read_text()
    if text.count("\n") <= 420:  # "about 400"
        return
    docstring = ast.get_docstring(ast.parse(text)) or ""
    assert "400 lines" in docstring, f"{path.name} has {text.count(chr(10))} lines and no reason"

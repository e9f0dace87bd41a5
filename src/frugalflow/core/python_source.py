"""Reading Python source with :mod:`ast`: parsing it, and what a module defines.

The one place conventions, renaming, docstrings and merging learn what a module defines;
nothing is imported or executed.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import NamedTuple

_DUNDER = re.compile(r"__\w+__")


def parse_python(source: str) -> ast.Module | None:
    """The syntax tree of ``source``; None when it is not valid Python (or holds NUL bytes)."""
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        # ValueError: source containing NUL bytes.
        return None


def is_dunder(name: str) -> bool:
    """Tell whether a name is a dunder (``__init__``, ``__all__``), which no convention binds."""
    return _DUNDER.fullmatch(name) is not None


class Definition(NamedTuple):
    """One thing a module defines at top level, or one method of its classes."""

    kind: str  # "function", "method", "class" or "constant"
    qualified: str  # "func", "Class.method"
    name: str  # the bare identifier
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | None  # None for constants


def definitions(tree: ast.Module) -> Iterator[Definition]:
    """Everything a module defines at top level, plus the methods of its classes.

    Functions and classes come in the order they are written (a class followed by its
    methods), then the module constants (see :func:`module_constants`). A name defined twice
    (a property's setter) comes twice.
    """
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield Definition("function", node.name, node.name, node)
        elif isinstance(node, ast.ClassDef):
            yield Definition("class", node.name, node.name, node)
            for member in node.body:
                if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef):
                    yield Definition("method", f"{node.name}.{member.name}", member.name, member)
    for name in module_constants(tree):
        yield Definition("constant", name, name, None)


def _is_constant_value(node: ast.expr) -> bool:
    # Immutable literals only: `cache = {}` or `logger = getLogger()` are module state.
    if isinstance(node, ast.Constant):
        return node.value is not None and node.value is not Ellipsis
    if isinstance(node, ast.UnaryOp):
        return _is_constant_value(node.operand)
    if isinstance(node, ast.BinOp):
        return _is_constant_value(node.left) and _is_constant_value(node.right)
    if isinstance(node, ast.Tuple):
        return all(_is_constant_value(element) for element in node.elts)
    return False


def _is_final(annotation: ast.expr) -> bool:
    if isinstance(annotation, ast.Subscript):
        annotation = annotation.value
    if isinstance(annotation, ast.Attribute):
        return annotation.attr == "Final"
    return isinstance(annotation, ast.Name) and annotation.id == "Final"


def module_constants(tree: ast.Module) -> list[str]:
    """Module-level names bound once to an immutable literal (or annotated ``Final``).

    A name rebound later, or declared ``global`` anywhere, is a variable; dunders are skipped.
    """
    bound: Counter[str] = Counter()
    candidates: list[str] = []
    for statement in tree.body:
        targets: list[ast.expr] = []
        looks_constant = False
        if isinstance(statement, ast.Assign):
            targets = statement.targets
            looks_constant = _is_constant_value(statement.value)
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            targets = [statement.target]
            looks_constant = _is_final(statement.annotation) or _is_constant_value(statement.value)
        elif isinstance(statement, ast.AugAssign):
            targets = [statement.target]
        for target in targets:
            if isinstance(target, ast.Name):
                bound[target.id] += 1
                if looks_constant:
                    candidates.append(target.id)
    rebound = {name for name, times in bound.items() if times > 1}
    rebound |= {n for node in ast.walk(tree) if isinstance(node, ast.Global) for n in node.names}
    return [n for n in dict.fromkeys(candidates) if n not in rebound and not is_dunder(n)]


def module_level(body: Iterable[ast.AST]) -> Iterator[ast.stmt]:
    """Every statement that runs in module scope, including those in if/try/with/loops.

    Function and class definitions are yielded, their bodies are not entered.
    """
    for node in body:
        if isinstance(node, ast.stmt):
            yield node
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
        if isinstance(node, ast.stmt | ast.excepthandler | ast.match_case):
            yield from module_level(ast.iter_child_nodes(node))


def _target_names(target: ast.expr) -> Iterator[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, ast.Tuple | ast.List):
        for element in target.elts:
            yield from _target_names(element)
    elif isinstance(target, ast.Starred):
        yield from _target_names(target.value)


def bound_names(body: Iterable[ast.stmt]) -> set[str]:
    """Names statements bind in module scope by definition or assignment.

    Functions, classes and assignment targets count, also inside module-level ``if``,
    ``try``, ``with`` and loop blocks (they still bind module globals). Names local to a
    function or class body do not count, and neither do imports.
    """
    names: set[str] = set()
    for node in module_level(body):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names.update(_target_names(target))
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            names.update(_target_names(node.target))
    return names


def defined_names(code: str) -> set[str]:
    """Every name the code defines anywhere: functions, classes and methods, every assigned
    name (locals included) and every import; empty when it does not parse."""
    tree = parse_python(code)
    if tree is None:
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
    return names

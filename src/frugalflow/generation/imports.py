"""Wildcard imports in a reply made explicit: the names the code uses, from where they come."""

from __future__ import annotations

import ast
import importlib
import sys


def expand_star_imports(code: str) -> str:
    """Replace ``from <standard module> import *`` with the names the code uses from it.

    The small models open replies with ``from typing import *`` and ``from collections import
    *``; ruff rejects a wildcard import (F403), and it would hide the module's names in the
    user's repository. The names come from the standard module itself (its ``__all__``, or
    its public names); a wildcard import of anything else is left for validation to report.

    Example:
        >>> print(expand_star_imports("from typing import *\\ndef f(x: List[int]): ...\\n"))
        from typing import List
        def f(x: List[int]): ...
        <BLANKLINE>
    """
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    used = {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    }
    lines = code.splitlines(keepends=True)
    claimed: set[str] = set()
    for node in reversed(tree.body):
        if not (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and [alias.name for alias in node.names] == ["*"]
            and node.module.split(".")[0] in sys.stdlib_module_names
        ):
            continue
        try:
            module = importlib.import_module(node.module)
        except ImportError:
            continue
        public = getattr(module, "__all__", None) or [n for n in dir(module) if n[:1] != "_"]
        names = sorted((used & set(public)) - claimed)  # a later wildcard wins, as at run time
        claimed.update(names)
        replacement = f"from {node.module} import {', '.join(names)}\n" if names else ""
        end = node.end_lineno or node.lineno
        lines[node.lineno - 1 : end] = [replacement]
    return "".join(lines)

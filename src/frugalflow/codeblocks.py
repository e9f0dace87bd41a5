"""Getting only the code out of a model's reply.

Small models wrap code in chatter, split it over several fenced blocks, and append example
calls, prints and self-tests. Only the definitions belong in the user's repository: examples
and tests that come with the request are run by validation, in a sandbox, not placed.
"""

from __future__ import annotations

import ast
import re

_FENCE = re.compile(r"^```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_LANGUAGE_TAGS = {
    "python": {"python", "py", "python3"},
    "javascript": {"javascript", "js", "jsx", "node"},
    "typescript": {"typescript", "ts", "tsx"},
}
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def fenced_blocks(reply: str) -> list[tuple[str, str]]:
    """Return ``(language tag, body)`` for each fenced block in ``reply``, in order."""
    return [(tag.lower(), body) for tag, body in _FENCE.findall(reply)]


def extract_code(reply: str, language: str = "python") -> str:
    """Return the code a reply proposes, without chatter, examples or self-tests.

    Blocks tagged with the language win over untagged ones; with no fence at all the whole
    reply is taken. For Python, several blocks are joined and then reduced to imports,
    definitions and module-level constants.

    Example:
        >>> extract_code("Sure!\\n```python\\ndef f():\\n    return 1\\n\\nprint(f())\\n```\\n")
        'def f():\\n    return 1\\n'
    """
    reply = reply.replace("\r\n", "\n")
    tags = _LANGUAGE_TAGS.get(language, {language})
    blocks = fenced_blocks(reply)
    chosen = [body for tag, body in blocks if tag in tags] or [
        body for tag, body in blocks if not tag
    ]
    code = "\n\n".join(chosen) if chosen else reply
    if language == "python":
        code = keep_python_definitions(code)
    return code.strip("\n") + "\n"


def _calls_local_name(node: ast.AST, local_names: set[str]) -> bool:
    return any(
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id in local_names
        for call in ast.walk(node)
    )


def keep_python_definitions(code: str) -> str:
    """Drop module-level statements that exercise the code rather than define it.

    Kept: imports (also inside ``try``, for optional dependencies), functions, classes, and
    assignments that do not call the module's own functions (constants). Dropped: module docstrings, prints and other bare expressions,
    asserts, ``if __name__ == "__main__":`` blocks, loops, and ``x = f(...)`` example calls.
    Code that does not parse is returned unchanged for validation to report.
    """
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    lines = code.splitlines()
    local_names = {node.name for node in tree.body if isinstance(node, _DEFINITIONS)}
    pieces: list[tuple[bool, str]] = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            keep, is_import = True, True
        elif isinstance(node, _DEFINITIONS):
            keep, is_import = True, False
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            keep, is_import = not _calls_local_name(node, local_names), False
        elif isinstance(node, ast.Try):
            # try: import x / except ImportError: x = None -- an optional dependency.
            keep = any(isinstance(inner, ast.Import | ast.ImportFrom) for inner in node.body)
            is_import = keep
        else:
            keep, is_import = False, False
        if not keep:
            continue
        decorators = getattr(node, "decorator_list", [])
        first = min([node.lineno, *(d.lineno for d in decorators)])
        end = node.end_lineno or node.lineno
        pieces.append((is_import, "\n".join(lines[first - 1 : end])))
    out: list[str] = []
    for index, (is_import, text) in enumerate(pieces):
        if index:
            previous_import = pieces[index - 1][0]
            out.append("\n" if is_import and previous_import else "\n\n\n")
        out.append(text)
    return "".join(out) + "\n" if out else ""

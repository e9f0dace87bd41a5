"""Getting only the code out of a model's reply.

Small models wrap code in chatter, split it over several fenced blocks, and append example
calls, prints and self-tests. Only the definitions belong in the user's repository: examples
and tests that come with the request are run by validation, in a sandbox, not placed.

Fences are found by ``markdown-it-py``, as CommonMark reads them: backtick or tilde fences,
fences in list items, and a last fence that the model never closed (it ran out of tokens).
A block may name its file, which tells its language when it has no tag (an untagged block
of ``src/x.js`` is not Python):

- in the fence's info string: ```` ```python title="src/x.py" ````, ```` ```python:src/x.py ````,
  ```` ```src/x.py ````;
- on its first line, as a comment holding only the path: ``# file: src/x.py``, ``# src/x.py``,
  ``// src/x.js`` (the line is removed from the code);
- on the last line of chatter before it, holding only the path: ``# file: src/x.py``,
  ``**src/x.py**``, ``### `src/x.py` ``, ``src/x.py:``, or ending with it: ``Create `src/x.py`:``.

Over 400 lines because each repair of a small model's answer (prose trimmed, copies of known
definitions dropped, shadowed imports dropped, missing imports added) reads the same parsed
reply, and they are applied in one order; apart, each would have to be read with the others.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import re
import sys
import typing
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from markdown_it import MarkdownIt

_LANGUAGE_TAGS = {
    "python": {"python", "py", "python3"},
    "javascript": {"javascript", "js", "jsx", "node", "mjs", "cjs"},
    "typescript": {"typescript", "ts", "tsx"},
}
_EXTENSION_LANGUAGES = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "typescript",
}
_ALL_TAGS = frozenset(tag for tags in _LANGUAGE_TAGS.values() for tag in tags)
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)

# Raw HTML is left as text: a model's "<details>" must not hide the fence after it.
_MARKDOWN = MarkdownIt("commonmark").disable("html_block")
_PATH = r"(?:\./)?(?:[\w.-]+/)*[\w-][\w.-]*\.[A-Za-z][A-Za-z0-9]*"
_PATH_ONLY = re.compile(_PATH)
_PATH_ATTRIBUTE = re.compile(r"""(?:title|file(?:name)?|path)\s*=\s*["']?([^"'\s]+)""")
_FILE_PREFIX = re.compile(r"(?i)^(?:file(?:name)?|path)\s*:")
_LINE_PREFIX = re.compile(r"^(?:#{1,6}\s+|//+\s*|<!--\s*|[-*+]\s+|\d+[.)]\s+)")
_ENDS_WITH_PATH = re.compile(rf"(?:`|\*\*)({_PATH})(?:`|\*\*)\s*:?\s*$")
_PATH_COMMENT = re.compile(
    rf"^\s*(?:#|//|/\*|<!--)\s*(?:(?:file(?:name)?|path)\s*:\s*)?({_PATH})\s*(?:\*/|-->)?\s*$",
    re.IGNORECASE,
)
_PYTHON_KEYWORDS = frozenset([*keyword.kwlist, *keyword.softkwlist])


@dataclass(frozen=True)
class Block:
    """One fenced block of a reply.

    Attributes:
        tag: the language tag, lower-cased (``""`` for none).
        body: the code, dedented by the fence's own indentation.
        path: the file the reply says the block belongs to, if it says so.
    """

    tag: str
    body: str
    path: str | None = None


def _normal_path(text: str) -> str | None:
    text = text.strip().replace("\\", "/")
    if not _PATH_ONLY.fullmatch(text):
        return None
    return PurePosixPath(text).as_posix()


def _path_in_heading(text: str) -> str | None:
    """The file a line of chatter announces, when the line is (or ends with) only a path."""
    line = text.strip()
    if not line:
        return None
    bare = _LINE_PREFIX.sub("", line).strip("*_` ")
    bare = _FILE_PREFIX.sub("", bare).strip("*_`: ")
    bare = re.sub(r"\s*-->$", "", bare).strip("*_`: ")
    path = _normal_path(bare)
    if path:
        return path
    ending = _ENDS_WITH_PATH.search(line)
    return _normal_path(ending.group(1)) if ending and len(line) <= 100 else None


def _parse_info(info: str) -> tuple[str, str | None]:
    """The language tag and the file path an info string gives."""
    info = info.strip()
    if not info:
        return "", None
    first = info.split()[0].strip("{}").lstrip(".")
    path: str | None = None
    attribute = _PATH_ATTRIBUTE.search(info)
    if attribute:
        path = _normal_path(attribute.group(1))
    tag = first
    if ":" in first:  # ```python:src/x.py
        tag, _, rest = first.partition(":")
        path = path or _normal_path(rest)
    elif first.lower() not in _ALL_TAGS and _normal_path(first):  # ```src/x.py
        path, tag = path or _normal_path(first), ""
    return tag.lower(), path


def parse_blocks(reply: str) -> list[Block]:
    """Every fenced block of ``reply``, in order, with the file each one names (if any)."""
    text = reply.replace("\r\n", "\n")
    lines = text.split("\n")
    blocks: list[Block] = []
    after = 0  # the first line after the previous block
    for token in _MARKDOWN.parse(text):
        if token.map is None or token.type not in ("fence", "code_block"):
            continue
        start, end = token.map
        if token.type == "code_block":
            # A fence indented four spaces or more is indented code to CommonMark.
            blocks += parse_blocks(token.content)
            after = end
            continue
        tag, path = _parse_info(token.info)
        # An unclosed fence at the very end has no newline after its last line.
        body = token.content.removesuffix("\n").split("\n") if token.content else []
        if body:
            comment = _PATH_COMMENT.match(body[0])
            named = _normal_path(comment.group(1)) if comment else None
            if named and PurePosixPath(named).suffix.lower() in _EXTENSION_LANGUAGES:
                path = path or named
                body = body[1:]
        if path is None:
            last = next((line for line in reversed(lines[after:start]) if line.strip()), "")
            path = _path_in_heading(last)
        code = "\n".join(body)
        blocks.append(Block(tag, code + "\n" if code else "", path))
        after = end
    return blocks


def fenced_blocks(reply: str) -> list[tuple[str, str]]:
    """Return ``(language tag, body)`` for each fenced block in ``reply``, in order."""
    return [(block.tag, block.body) for block in parse_blocks(reply)]


def _block_language(block: Block) -> str:
    for language, tags in _LANGUAGE_TAGS.items():
        if block.tag in tags:
            return language
    if block.path:
        by_extension = _EXTENSION_LANGUAGES.get(PurePosixPath(block.path).suffix.lower())
        if by_extension and not block.tag:
            return by_extension
    return block.tag


def extract_code(reply: str, language: str = "python") -> str:
    """Return the code a reply proposes, without chatter, examples or self-tests.

    Blocks tagged with the language win over untagged ones (blocks of other languages, by tag
    or by the file they name, are never taken); with no fence at all the whole reply is taken
    (for Python, without the lines of prose before and after the code). For
    Python, several blocks are joined and then reduced to imports, definitions and
    module-level constants.

    Example:
        >>> extract_code("Sure!\\n```python\\ndef f():\\n    return 1\\n\\nprint(f())\\n```\\n")
        'def f():\\n    return 1\\n'
    """
    reply = reply.replace("\r\n", "\n")
    tags = _LANGUAGE_TAGS.get(language, {language})
    blocks = parse_blocks(reply)
    chosen = [block.body for block in blocks if block.tag in tags] or [
        block.body
        for block in blocks
        if not block.tag and _block_language(block) in ("", language)  # not a.js for Python
    ]
    code = "\n\n".join(chosen)
    if not blocks:
        code = trim_prose(reply) if language == "python" else reply
    if language == "python":
        code = keep_python_definitions(code)
    return code.strip("\n") + "\n"


def _is_prose(line: str) -> bool:
    """A line of chatter: not Python on its own, not a keyword's start, and several words."""
    stripped = line.strip()
    if not stripped:
        return True
    if line[:1].isspace() or stripped.split()[0].rstrip(":") in _PYTHON_KEYWORDS:
        return False
    if len(stripped.split()) < 2 or stripped.startswith(("@", "#")):
        return False
    try:
        ast.parse(stripped)
    except SyntaxError:
        return True
    return False


def trim_prose(text: str) -> str:
    """Drop lines of chatter before and after unfenced Python code.

    Only when the whole text does not parse, and only whole lines of prose at either end;
    when the rest still does not parse the text is returned unchanged, so that validation
    reports the real syntax error instead of a silently shortened module.
    """
    try:
        ast.parse(text)
    except SyntaxError:
        pass
    else:
        return text
    lines = text.split("\n")
    start, end = 0, len(lines)
    while start < end and _is_prose(lines[start]):
        start += 1
    while end > start and _is_prose(lines[end - 1]):
        end -= 1
    trimmed = "\n".join(lines[start:end])
    try:
        ast.parse(trimmed)
    except SyntaxError:
        return text
    return trimmed


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
    assignments that do not call the module's own functions (constants). Dropped: module
    docstrings, prints and other bare expressions, asserts, ``if __name__ == "__main__":``
    blocks, loops, and ``x = f(...)`` example calls. Code that does not parse is returned
    unchanged for validation to report.
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


def add_missing_imports(code: str, available: Mapping[str, str]) -> str:
    """Import the names a small model used but forgot to import.

    A name that the code reads but never binds is imported when its origin is certain: a name
    that ``available`` maps to a module (the related module the model was shown, whose helpers
    it tends to call as if they were local), or a standard-library module (``re``, ``math``).
    Anything else is left for validation to report.

    Example:
        >>> print(add_missing_imports("def f(s):\\n    return re.sub('a', 'b', s)\\n", {}))
        import re
        <BLANKLINE>
        <BLANKLINE>
        def f(s):
            return re.sub('a', 'b', s)
        <BLANKLINE>
    """
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    bound = set(dir(builtins))
    used: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                used.append(node.id)
            else:
                bound.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    imports: list[str] = []
    for name in dict.fromkeys(used):
        if name in bound:
            continue
        if name in available:
            imports.append(f"from {available[name]} import {name}")
        elif name in sys.stdlib_module_names and not name.startswith("_"):
            imports.append(f"import {name}")
        elif name in typing.__all__:  # List, Optional...: used in annotations, never imported
            imports.append(f"from typing import {name}")
    if not imports:
        return code
    return "\n".join(sorted(imports)) + "\n\n\n" + code.lstrip("\n")


def drop_shadowed_imports(code: str) -> str:
    """Drop the imports of names that the code itself then defines.

    Asked for ``slugify``, the 0.5B sometimes writes ``from textkit.strings import slugify``
    and then the function. The import is dead, because the definition replaces it before any
    use, but ruff rejects the redefinition (F811) and with it the whole answer. Only a
    top-level import is dropped, of a name the code defines at the top level after it and does
    not read before that definition.

    Example:
        >>> code = "from pkg.text import slugify, clean\n\n\ndef slugify(s):\n    return clean(s)\n"
        >>> print(drop_shadowed_imports(code))
        from pkg.text import clean
        <BLANKLINE>
        <BLANKLINE>
        def slugify(s):
            return clean(s)
        <BLANKLINE>
    """
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
    defined: dict[str, int] = {}
    for node in tree.body:
        if isinstance(node, definition):
            defined.setdefault(node.name, node.lineno)
    first_read: dict[str, int] = {}
    for read in ast.walk(tree):
        if isinstance(read, ast.Name) and isinstance(read.ctx, ast.Load):
            first_read[read.id] = min(first_read.get(read.id, read.lineno), read.lineno)

    def shadowed(alias: ast.alias, line: int) -> bool:
        name = (alias.asname or alias.name).split(".")[0]
        at = defined.get(name)
        return at is not None and at > line and first_read.get(name, at) >= at

    lines = code.splitlines(keepends=True)
    changed = False
    for node in reversed(tree.body):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        kept = [alias for alias in node.names if not shadowed(alias, node.lineno)]
        if len(kept) == len(node.names):
            continue
        changed = True
        start, end = node.lineno - 1, node.end_lineno or node.lineno
        if kept:
            node.names = kept
            lines[start:end] = [ast.unparse(node) + "\n"]
        else:
            del lines[start:end]
    if not changed:
        return code
    return re.sub(r"\n{3,}", "\n\n\n", "".join(lines)).strip("\n") + "\n"


def drop_known_definitions(code: str, available: Mapping[str, str], keep: Collection[str]) -> str:
    """Drop the top-level definitions the repository already has, so that only new code is
    committed.

    Small models shown a related module copy its functions into their answer; committed, the
    copies would shadow the originals. A definition whose name ``available`` maps to a module
    (the related module the model was shown) is removed, unless the request demands that name
    (``keep``: it asked for that very definition); :func:`add_missing_imports` then imports it
    where the new code uses it.

    Example:
        >>> code = "def old(s):\n    return s\n\n\ndef new(s):\n    return old(s) * 2\n"
        >>> print(drop_known_definitions(code, {"old": "pkg.util"}, keep={"new"}))
        def new(s):
            return old(s) * 2
        <BLANKLINE>
    """
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
    copies = [
        node
        for node in tree.body
        if isinstance(node, definition) and node.name in available and node.name not in keep
    ]
    if not copies or len(copies) == sum(isinstance(node, definition) for node in tree.body):
        return code  # nothing copied, or nothing new: validation judges it as it is
    lines = code.splitlines(keepends=True)
    for node in reversed(copies):
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
        end = node.end_lineno or node.lineno
        del lines[start:end]
    return re.sub(r"\n{3,}", "\n\n\n", "".join(lines)).strip("\n") + "\n"

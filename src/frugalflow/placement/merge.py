"""Merge generated Python code into an existing module without touching what is already there.

The merge only ever inserts text: the imports the existing module lacks go after its import
block, the new top-level definitions go at the end. Nothing is reordered, reformatted or
replaced, so the user's diff of the result shows additions only. Analysis uses ``ast``; the
text is spliced by line numbers so that comments and formatting survive.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from frugalflow.core.errors import NameClashError, PlacementError
from frugalflow.core.python_source import bound_names, module_level

__all__ = ["merge_python_module", "top_level_names"]

_BOM = "\ufeff"
# Python's tokenizer ends a line at \r\n, \r or \n, and nowhere else (str.splitlines would also
# split at form feeds and other characters, which would shift the ast line numbers).
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_CODING = re.compile(r"^[ \t\f]*#.*?coding[:=]")
_Import = ast.Import | ast.ImportFrom


def top_level_names(source: str) -> set[str]:
    """Names a module binds at module level by definition or assignment (see ``bound_names``).

    Functions, classes and assignment targets count, also inside module-level ``if``,
    ``try``, ``with`` and loop blocks (they still bind module globals). Names local to a
    function or class body do not count, and neither do imports.

    Args:
        source: Python source text of a module.

    Returns:
        The bound names.

    Raises:
        PlacementError: if ``source`` is not valid Python.
    """
    return bound_names(_parse(source, "the module").body)


def merge_python_module(existing: str, new: str) -> str:
    """Add generated code to an existing module, leaving the existing code as it was.

    The new module's imports that ``existing`` lacks are inserted after the existing import
    block (``__future__`` imports after the docstring and existing ``__future__`` imports);
    the new module's other top-level statements are appended at the end, after two blank
    lines. The new module's docstring is dropped. Line endings follow ``existing``.

    A top-level statement of the new code whose lines equal those of a top-level statement
    of ``existing`` (line endings aside) is skipped with the comments directly above it: small
    models often repeat the module they were shown. A different body under an existing name
    is still a clash.

    Args:
        existing: the current text of the module.
        new: the generated module text.

    Returns:
        The merged module text; it always parses.

    Raises:
        NameClashError: if the new code defines or imports a name the existing module already
            binds to something else.
        PlacementError: if either text is not valid Python.
    """
    bom = _BOM if existing.startswith(_BOM) else ""
    existing = existing.removeprefix(bom)
    new = new.removeprefix(_BOM)
    old_tree = _parse(existing, "the existing module")
    new_tree = _parse(new, "the generated code")
    newline = "\r\n" if "\r\n" in existing else "\n"
    new_lines = _lines(new)

    lines = _lines(existing)
    header = _leading_header(new_tree.body)
    imports = [s for s in new_tree.body if isinstance(s, _Import)]
    repeated = _repeated_statements(old_tree, lines, new_tree, new_lines)
    body = [
        s
        for s in new_tree.body
        if not isinstance(s, _Import) and s not in header and id(s) not in repeated
    ]
    missing = _missing_imports(old_tree, imports, bound_names(body), new_lines)

    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += newline  # anything added after the last line needs that line ended
    for index, text in sorted(_import_insertions(old_tree, lines, missing), reverse=True):
        lines[index:index] = [line + newline for line in text]

    appended = _body_lines(new_lines, new_tree.body, body)
    if appended:
        # Blank lines after the last statement cannot be inside a string literal, so dropping
        # them before the two-blank-line separator changes no code.
        while lines and not lines[-1].strip():
            lines.pop()
        lines.extend([newline, newline] if lines else [])
        lines.extend(line + newline for line in appended)
    merged = "".join(lines)
    try:
        ast.parse(merged)
    except SyntaxError as exc:  # pragma: no cover - a bug here, not a problem of the input
        raise PlacementError(
            f"merging produced invalid Python ({exc.msg}); nothing written"
        ) from exc
    return bom + merged


@dataclass(frozen=True)
class _Binding:
    """One name an import binds: ``key`` identifies the clause, ``value`` the bound object."""

    name: str
    key: tuple[object, ...]
    value: tuple[object, ...]
    node: ast.alias

    @property
    def same_object(self) -> tuple[object, ...]:
        """What makes another import equivalent; ``import a.b`` also needs ``a.b`` loaded."""
        dotted_import = self.key[0] == "import" and "." in str(self.key[1]) and not self.key[2]
        return self.key if dotted_import else (self.name, self.value)


@dataclass(frozen=True)
class _NewImport:
    """An import to add: its source lines and whether it is a ``__future__`` import."""

    text: list[str]
    future: bool


def _parse(source: str, what: str) -> ast.Module:
    try:
        return ast.parse(source.removeprefix(_BOM))
    except SyntaxError as exc:
        raise PlacementError(
            f"{what} is not valid Python (line {exc.lineno}: {exc.msg}); fix it before merging"
        ) from exc


def _lines(text: str) -> list[str]:
    return _LINE.findall(text)


def _strip_newline(line: str) -> str:
    return line.rstrip("\r\n")


def _start(node: ast.stmt) -> int:
    """First line of a statement, counting its decorators."""
    decorators: list[ast.expr] = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _leading_header(body: Sequence[ast.stmt]) -> list[ast.stmt]:
    """The module docstring and the imports that directly follow it."""
    header: list[ast.stmt] = []
    for index, node in enumerate(body):
        if (index == 0 and _is_docstring(node)) or isinstance(node, _Import):
            header.append(node)
        else:
            break
    return header


def _bindings(statement: ast.Import | ast.ImportFrom) -> Iterator[_Binding]:
    for alias in statement.names:
        if isinstance(statement, ast.Import):
            top = alias.name.partition(".")[0]
            name = alias.asname or top
            value: tuple[object, ...] = ("module", alias.name if alias.asname else top)
            key: tuple[object, ...] = ("import", alias.name, alias.asname)
        else:
            name = alias.asname or alias.name
            value = ("from", statement.level, statement.module, alias.name)
            key = ("from", *value[1:], alias.asname)
        yield _Binding(name, key, value, alias)


def _missing_imports(
    old_tree: ast.Module,
    imports: Sequence[ast.Import | ast.ImportFrom],
    new_names: set[str],
    new_lines: Sequence[str],
) -> list[_NewImport]:
    """The imports to add, after checking that no new name clashes with an existing one."""
    every_old = [
        b for s in module_level(old_tree.body) if isinstance(s, _Import) for b in _bindings(s)
    ]
    # Only unconditional imports count as present: one under `if TYPE_CHECKING:` or in a
    # try/except fallback may not bind the name when the new code runs.
    unconditional = [b for s in old_tree.body if isinstance(s, _Import) for b in _bindings(s)]
    present = {b.key for b in unconditional} | {(b.name, b.value) for b in unconditional}
    old_values = {b.name: b.value for b in every_old if b.name != "*"}
    old_defined = bound_names(old_tree.body)

    clashes = new_names & (old_defined | set(old_values))
    wanted: dict[int, list[ast.alias]] = {}
    seen: set[tuple[object, ...]] = set()
    for statement in imports:
        wanted[id(statement)] = []
        for binding in _bindings(statement):
            if binding.key in present or binding.key in seen or binding.same_object in present:
                continue
            seen.add(binding.key)
            other = old_values.get(binding.name, binding.value)
            if binding.name in old_defined or other != binding.value:
                clashes.add(binding.name)
            wanted[id(statement)].append(binding.node)
    if clashes:
        names = ", ".join(f"`{name}`" for name in sorted(clashes))
        raise NameClashError(
            f"the target module already defines {names}; choose another name for the generated "
            "code, another --target, or --on-name-clash beside to put the code in a new module "
            "next to this one"
        )
    return [
        _NewImport(_import_text(s, wanted[id(s)], new_lines), _is_future(s))
        for s in imports
        if wanted[id(s)]
    ]


def _is_future(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.ImportFrom) and statement.module == "__future__"


def _import_text(
    statement: ast.Import | ast.ImportFrom, aliases: list[ast.alias], source: Sequence[str]
) -> list[str]:
    """Source lines of an import restricted to ``aliases``."""
    whole = len(aliases) == len(statement.names)
    end = statement.end_lineno or statement.lineno
    text = [_strip_newline(line) for line in source[statement.lineno - 1 : end]]
    if whole and statement.col_offset == 0 and len(text[-1]) == statement.end_col_offset:
        # The whole statement is missing and alone on its lines: keep its text (comments,
        # wrapping) as the model wrote it.
        return text
    if isinstance(statement, ast.Import):
        return [ast.unparse(ast.Import(names=aliases))]
    return [ast.unparse(ast.ImportFrom(statement.module, aliases, statement.level))]


def _import_insertions(
    old_tree: ast.Module, lines: Sequence[str], missing: Sequence[_NewImport]
) -> list[tuple[int, list[str]]]:
    """Where the new imports go: (0-based line index to insert before, lines to insert)."""
    header = _leading_header(old_tree.body)
    docstring = header[0] if header and _is_docstring(header[0]) else None
    futures = [s for s in header if _is_future(s)]
    blocks: list[tuple[int, str, list[str]]] = []
    for text, after in (
        ([line for m in missing if m.future for line in m.text], futures),
        ([line for m in missing if not m.future for line in m.text], header),
    ):
        if not text:
            continue
        anchor = after[-1] if after else docstring
        if anchor is None:
            index, kind = _top_index(lines, old_tree.body), "top"
        else:
            index, kind = _end_line(anchor), "docstring" if anchor is docstring else "imports"
        if blocks and blocks[0][0] == index:  # both groups at one place: one block
            text = [*blocks.pop()[2], "", *text]
        blocks.append((index, kind, text))
    insertions: list[tuple[int, list[str]]] = []
    for index, kind, text in blocks:
        following = [""] if index < len(lines) and lines[index].strip() else []
        if kind == "docstring":
            text = ["", *text, *following]
        elif kind == "top":
            text = [*text, *following]
        insertions.append((index, text))
    return insertions


def _end_line(node: ast.stmt) -> int:
    return node.end_lineno if node.end_lineno is not None else node.lineno


def _top_index(lines: Sequence[str], body: Sequence[ast.stmt]) -> int:
    """Where imports go in a module without docstring or imports.

    Above the first statement, but below a leading comment block (shebang, licence) when a
    blank line separates it from the code, so that comments stay with what they describe.
    """
    first = _start(body[0]) - 1 if body else len(lines)
    index = 0
    for number, line in enumerate(lines[:first]):
        magic = number < 2 and (line.startswith("#!") or _CODING.match(line) is not None)
        if magic or not line.strip():
            index = number + 1
    return index


def _statement_text(lines: Sequence[str], node: ast.stmt) -> tuple[str, ...]:
    """The whole source lines of a statement, decorators included, without line endings."""
    return tuple(_strip_newline(line) for line in lines[_start(node) - 1 : _end_line(node)])


def _repeated_statements(
    old_tree: ast.Module, old_lines: Sequence[str], new_tree: ast.Module, new_lines: Sequence[str]
) -> set[int]:
    """Ids of the new top-level statements whose lines repeat an existing top-level statement.

    Whole lines are compared, so a statement sharing a line (``a = 1; b = 2``) only counts as
    repeated when the other statement on that line is repeated too.
    """
    existing = {_statement_text(old_lines, node) for node in old_tree.body}
    return {id(node) for node in new_tree.body if _statement_text(new_lines, node) in existing}


def _comment_start(new_lines: Sequence[str], first: int, floor: int) -> int:
    """Where the block of comment lines directly above line index ``first`` begins."""
    while first > floor and new_lines[first - 1].lstrip().startswith("#"):
        first -= 1
    return first


def _body_lines(
    new_lines: Sequence[str], statements: Sequence[ast.stmt], body: Sequence[ast.stmt]
) -> list[str]:
    """The new module's text without its docstring, imports and repeats, comments included."""
    if not body:
        return []
    # Where each statement's comment block may begin: after the previous statement's end (a
    # line starting with "#" before that could lie inside a string literal).
    floors = {id(node): _end_line(before) for before, node in itertools.pairwise(statements)}
    # Keep the comments directly above the first definition; drop the header before them.
    start = _comment_start(new_lines, _start(body[0]) - 1, floors.get(id(body[0]), 0))
    keep = set(range(start, len(new_lines)))
    for node in statements:
        if node not in body:  # a dropped statement takes the comments directly above it along
            first = _comment_start(new_lines, _start(node) - 1, floors.get(id(node), 0))
            keep -= set(range(first, _end_line(node)))
    inside: set[int] = set()
    for node in body:  # a line shared through `;` with a kept statement stays
        inside |= set(range(_start(node) - 1, _end_line(node)))
    keep |= inside
    out: list[str] = []
    blank_run = 0
    for index in sorted(keep):
        line = _strip_newline(new_lines[index])
        # Outside statements a blank line is only layout: where a dropped statement was, at
        # most two stay.
        blank_run = blank_run + 1 if index not in inside and not line.strip() else 0
        if blank_run <= 2:
            out.append(line)
    while out and not out[-1].strip():
        out.pop()
    return out

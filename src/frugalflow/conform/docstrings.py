"""Docstrings for generated code: the project's style, written by a cheap model, then checked.

The model is asked about one definition at a time and answers with its docstring. The answer
is read leniently (any of the Google, NumPy and reST layouts, fenced, quoted or inside a
repeated definition), checked against the definition's signature
(:mod:`frugalflow.conform.docstring_check`), and written out in the project's style
(:mod:`frugalflow.conform.docstring_style`). A docstring that fails is never inserted: the
definition stays as it was and is reported.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import libcst as cst

from frugalflow.conform.docstring_check import (
    check_docstring,
    check_documentation,
    docstring_problems,
    is_public,
)
from frugalflow.conform.docstring_style import (
    DEFAULT_STYLE,
    DOCSTRING_STYLES,
    GOOGLE,
    NUMPY,
    PLAIN,
    ParsedDocstring,
    parse_docstring,
    render_docstring,
)
from frugalflow.conform.signatures import Signature, signature_of
from frugalflow.core.errors import BudgetExceededError, FrugalflowError
from frugalflow.core.python_source import definitions, parse_python
from frugalflow.core.schemas import DocumentationReport
from frugalflow.generation.replies import parse_blocks
from frugalflow.providers.base import ChatMessage

MAX_SOURCE_CHARS = 4000  # of a definition shown to the model
MAX_DOCSTRING_LINES = 60

Complete = Callable[[list[ChatMessage]], str]
"""Asks a model: takes the conversation, returns the reply's text."""

_LABEL = re.compile(r"^(?:summary|description|docstring)[ \t]*:[ \t]*", re.IGNORECASE)
_TRIPLE_QUOTED = re.compile(r"[rRuU]?(\"\"\"|''')(.*?)(?:\1|\Z)", re.DOTALL)
_TAG = re.compile(r"</?(?:summary|docstring|description)>", re.IGNORECASE)
_PREAMBLE = re.compile(r"^(?:here|sure|certainly|the docstring|docstring)\b[^\n]*:[ \t]*\n", re.I)


def _empty_report() -> DocumentationReport:
    return DocumentationReport(public_names=(), missing_docstrings=())


@dataclass(frozen=True)
class DocumentResult:
    """What :func:`document_code` did.

    Attributes:
        code: the code with the new docstrings (the input when nothing was added).
        added: qualified names (``"func"``, ``"Class.method"``) that got a checked docstring.
        rejected: qualified names left as they were: the model's docstring failed the check,
            could not be read, or the model could not be asked.
        reasons: why each rejected name was rejected.
        before: documentation completeness of the code given.
        after: documentation completeness of the code returned.
    """

    code: str
    added: list[str]
    rejected: list[str]
    reasons: dict[str, str] = field(default_factory=dict)
    before: DocumentationReport = field(default_factory=_empty_report)
    after: DocumentationReport = field(default_factory=_empty_report)


@dataclass(frozen=True)
class _Target:
    qualified: str
    signature: Signature
    source: str


def document_code(code: str, style: str, complete: Complete) -> DocumentResult:
    """Give every public function, class and method of generated code a checked docstring.

    Definitions without a docstring, or whose docstring fails :func:`check_docstring`, are
    documented: the model sees one definition and answers with its docstring, which is read,
    checked, written in the project's style and inserted (libcst) as the first statement.

    Args:
        code: the generated Python code (never the user's own code).
        style: the project's docstring style, from :func:`detect_docstring_style`.
        complete: asks the (cheapest adequate) model; takes the messages, returns the reply.

    Returns:
        The new code, what was added and rejected (with reasons), and the documentation
        completeness before and after. Every inserted docstring passes
        :func:`check_docstring` and the code still parses; code that does not parse is
        returned unchanged.
    """
    if style not in DOCSTRING_STYLES:
        style = DEFAULT_STYLE
    before = check_documentation(code)
    tree = parse_python(code)
    if tree is None:
        return DocumentResult(code, [], [], before=before, after=before)
    docstrings: dict[str, str] = {}
    rejected: dict[str, str] = {}
    stop: str | None = None
    for target in _targets(code, tree, style):
        if stop is not None:
            rejected[target.qualified] = stop
            continue
        try:
            reply = complete(_messages(target, style))
        except BudgetExceededError as exc:
            stop = f"not asked: the budget ran out ({exc})"
            rejected[target.qualified] = stop
            continue
        except FrugalflowError as exc:
            rejected[target.qualified] = f"the model could not be asked: {exc}"
            continue
        outcome = docstring_from_reply(reply, target.signature, style)
        if isinstance(outcome, list):
            rejected[target.qualified] = "; ".join(outcome)
        else:
            docstrings[target.qualified] = outcome
    new_code = _insert(code, docstrings) if docstrings else code
    if new_code is None or not _inserted_as_written(new_code, docstrings):
        # Never hand back code we could not verify; nothing is inserted then.
        rejected.update(dict.fromkeys(docstrings, "the docstring could not be inserted"))
        docstrings, new_code = {}, code
    return DocumentResult(
        code=new_code,
        added=list(docstrings),
        rejected=list(rejected),
        reasons=rejected,
        before=before,
        after=check_documentation(new_code),
    )


def docstring_from_reply(reply: str, signature: Signature, style: str) -> str | list[str]:
    """The docstring to insert, written in ``style``, or the problems that rule it out.

    A function's docstring in a structured style is checked whole, as the model wrote it;
    for a class, or in plain style, only the summary is kept, and checked.

    Args:
        reply: the model's answer.
        signature: the definition's, from :func:`signature_of`.
        style: the project's docstring style.
    """
    text = extract_docstring(reply)
    if text is None:
        return ["the reply held no readable docstring"]
    if '"""' in text:
        return ["it contains triple quotes"]
    parsed = parse_docstring(text)
    if signature.kind == "class" or style == PLAIN:
        # Only the summary (and a class's description) goes in, so only it is checked;
        # sections the model added anyway are dropped.
        parsed = ParsedDocstring(parsed.summary, parsed.description if style != PLAIN else "")
    problems = docstring_problems(parsed, signature, style)
    if problems:
        return problems
    rendered = render_docstring(parsed, signature, style)
    # The invariant, whatever the renderer did: what goes in passes the check.
    problems = check_docstring(rendered, signature, style)
    return problems or rendered


def _targets(code: str, tree: ast.Module, style: str) -> Iterator[_Target]:
    seen: set[str] = set()
    lines = code.splitlines()
    for definition in definitions(tree):
        node = definition.node
        if node is None or not is_public(definition.qualified) or definition.qualified in seen:
            continue
        seen.add(definition.qualified)  # a property's setter shares its getter's docstring
        signature = signature_of(node, method=definition.kind == "method")
        existing = ast.get_docstring(node)
        if existing is not None and not check_docstring(existing, signature, style):
            continue
        yield _Target(definition.qualified, signature, _source(lines, node))


def _typed(name: str, annotation: str) -> str:
    return f"{name} : {annotation}" if annotation else name


def _source(lines: list[str], node: ast.stmt) -> str:
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    text = inspect.cleandoc("\n".join(lines[first - 1 : node.end_lineno]))
    if len(text) > MAX_SOURCE_CHARS:
        text = text[:MAX_SOURCE_CHARS] + "\n    ..."
    return text


def _template(signature: Signature, style: str) -> str:
    """The docstring to fill in: the project's layout, with ``...`` for the model's words."""
    if signature.kind == "class" or style == PLAIN:
        return "..."
    names = signature.required
    annotations = dict(signature.types)
    parts = ["..."]
    if style == GOOGLE:
        if names:
            parts.append("Args:\n" + "\n".join(f"    {name}: ..." for name in names))
        if signature.returns_value:
            parts.append("Returns:\n    ...")
    elif style == NUMPY:
        if names:
            items = [f"{_typed(n, annotations.get(n, ''))}\n    ..." for n in names]
            parts.append("Parameters\n----------\n" + "\n".join(items))
        if signature.returns_value:
            parts.append(f"Returns\n-------\n{signature.return_type or '...'}\n    ...")
    else:
        fields = [f":param {name}: ..." for name in names]
        if signature.returns_value:
            fields.append(":returns: ...")
        if fields:
            parts.append("\n".join(fields))
    return "\n\n".join(parts)


def _messages(target: _Target, style: str) -> list[ChatMessage]:
    signature = target.signature
    notes = ["replace every ... with a short description and keep the layout"]
    if signature.kind == "class" or style == PLAIN:
        notes = ["replace ... with a one-line summary"]
    elif not signature.returns_value:
        notes.append("it returns nothing, so add no Returns section")
    request = (
        f"```python\n{target.source}\n```\n\n"
        f"Complete this docstring for the {signature.kind} above: {'; '.join(notes)}.\n\n"
        f"{_template(signature, style)}"
    )
    return [
        ChatMessage(
            role="system",
            content="You write Python docstrings. Reply with the completed docstring only.",
        ),
        ChatMessage(role="user", content=request),
    ]


def extract_docstring(reply: str) -> str | None:
    """The docstring text in a model's reply: fences, quotes, a preamble, tags and a repeated
    definition are removed. None when nothing usable is left."""
    text = reply.strip()
    fenced = parse_blocks(text)
    if fenced:
        text = fenced[0].body.strip()
    tree = parse_python(text)
    if tree is not None and tree.body:
        first = tree.body[0]
        if isinstance(first, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            text = ast.get_docstring(first, clean=False) or ""
        elif (
            len(tree.body) == 1
            and isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        ):
            text = first.value.value
    else:
        quoted = _TRIPLE_QUOTED.search(text)
        if quoted:
            text = quoted.group(2)
    text = _PREAMBLE.sub("", text.strip(), count=1)
    text = _TAG.sub("", text)  # <summary>...</summary>, which small models like to add
    text = _LABEL.sub("", inspect.cleandoc(text))
    text = "\n".join(line.rstrip() for line in text.splitlines()).strip()
    if not text or len(text.splitlines()) > MAX_DOCSTRING_LINES:
        return None
    return text


def _quoted(docstring: str, indent: str) -> str:
    """The docstring as a string literal whose continuation lines sit at ``indent``."""
    prefix = "r" if "\\" in docstring else ""
    lines = docstring.splitlines()
    if len(lines) == 1 and not docstring.endswith(('"', "\\")):
        return f'{prefix}"""{docstring}"""'
    body = "\n".join([lines[0], *(indent + line if line else "" for line in lines[1:])])
    return f'{prefix}"""{body}\n{indent}"""'


def _insert(code: str, docstrings: dict[str, str]) -> str | None:
    try:
        module = cst.parse_module(code)
    except cst.ParserSyntaxError:
        return None
    return module.visit(_DocstringInserter(docstrings, module.default_indent)).code


_Def = TypeVar("_Def", cst.FunctionDef, cst.ClassDef)


class _DocstringInserter(cst.CSTTransformer):
    """Puts each docstring first in its top-level function, class or method."""

    def __init__(self, docstrings: dict[str, str], default_indent: str) -> None:
        super().__init__()
        self.docstrings = docstrings
        self.default_indent = default_indent
        self.indents: list[str] = []  # of the enclosing indented blocks
        # Enclosing definitions: (qualified name, or None when not documented here; is a class).
        self.path: list[tuple[str | None, bool]] = []
        self.done: set[str] = set()

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        self.indents.append(self.default_indent if node.indent is None else node.indent)

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        self.indents.pop()
        return updated_node

    def _enter(self, name: str, is_class: bool) -> None:
        # Only top-level definitions and the methods of top-level classes are documented.
        qualified: str | None = None
        if not self.path:
            qualified = name
        elif len(self.path) == 1 and self.path[0][1] and self.path[0][0] is not None:
            qualified = f"{self.path[0][0]}.{name}"
        self.path.append((qualified, is_class))

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._enter(node.name.value, is_class=True)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._enter(node.name.value, is_class=False)

    def leave_ClassDef(
        self, original_node: cst.ClassDef, updated_node: cst.ClassDef
    ) -> cst.ClassDef:
        return self._document(updated_node)

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        return self._document(updated_node)

    def _document(self, node: _Def) -> _Def:
        qualified, _ = self.path.pop()
        if qualified is None or qualified in self.done or qualified not in self.docstrings:
            return node
        self.done.add(qualified)
        body = node.body
        if isinstance(body, cst.SimpleStatementSuite):  # def f(): return 1
            body = cst.IndentedBlock(body=[cst.SimpleStatementLine(body=list(body.body))])
        assert isinstance(body, cst.IndentedBlock)
        indent = "".join(self.indents) + (
            self.default_indent if body.indent is None else body.indent
        )
        literal = cst.SimpleString(_quoted(self.docstrings[qualified], indent))
        statement = cst.SimpleStatementLine(body=[cst.Expr(literal)])
        statements = list(body.body)
        first = statements[0] if statements else None
        if isinstance(first, cst.SimpleStatementLine) and _is_docstring(first):
            statements[0] = statement.with_changes(leading_lines=first.leading_lines)
        else:
            statements.insert(0, statement)
            # As formatters want it: a blank line between a class docstring and a definition.
            after = statements[1] if len(statements) > 1 else None
            if (
                isinstance(node, cst.ClassDef)
                and isinstance(after, cst.FunctionDef | cst.ClassDef)
                and not after.leading_lines
            ):
                statements[1] = after.with_changes(leading_lines=[cst.EmptyLine(indent=False)])
        return node.with_changes(body=body.with_changes(body=statements))


def _is_docstring(statement: cst.BaseStatement) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr)
        and isinstance(statement.body[0].value, cst.SimpleString | cst.ConcatenatedString)
    )


def _inserted_as_written(code: str, docstrings: dict[str, str]) -> bool:
    """The invariant: the code parses and each inserted docstring reads back unchanged."""
    tree = parse_python(code)
    if tree is None:
        return False
    found: dict[str, str | None] = {}
    for definition in definitions(tree):
        if definition.node is not None and definition.qualified not in found:
            found[definition.qualified] = ast.get_docstring(definition.node)
    return all(found.get(name) == text for name, text in docstrings.items())

"""What one file says about a project, read once per content and reused while it is unchanged.

A file's facts depend on its bytes and its language only (never on its path), so they are keyed
by the file's content hash (git's blob id) and shared by every repository state that holds the
same content: when one file of a large tree changes, only that file is read again. Python is
read with :mod:`ast` (nothing is imported or executed); JavaScript and TypeScript with regular
expressions (:mod:`frugalflow.context.script_facts`), enough for names, imports and words.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from frugalflow.context.words import split_identifier, words

# Bump when what a file's facts hold changes: older entries are then ignored.
# 3: JS/TS definitions end where their braces close.
FACTS_VERSION = 3

PYTHON = "python"
JAVASCRIPT = "javascript"
TYPESCRIPT = "typescript"
_LANGUAGE_OF_SUFFIX = {
    ".py": PYTHON,
    ".pyi": PYTHON,
    ".js": JAVASCRIPT,
    ".jsx": JAVASCRIPT,
    ".mjs": JAVASCRIPT,
    ".cjs": JAVASCRIPT,
    ".ts": TYPESCRIPT,
    ".tsx": TYPESCRIPT,
    ".mts": TYPESCRIPT,
    ".cts": TYPESCRIPT,
}

# A definition's own name says most about what it does, its docstring next, its body least.
_NAME_WEIGHT = 3
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# An example body longer than this many lines is shown by its signature and docstring only.
_MAX_SIGNATURE_LINES = 12

_GOOGLE_SECTION = re.compile(
    r"^\s*(Args|Arguments|Returns?|Raises|Yields?|Attributes|Examples?|Notes?):\s*$", re.M
)
_NUMPY_SECTION = re.compile(r"^\s*(Parameters|Returns|Raises|Yields|Attributes)\s*\n\s*-{3,}", re.M)
_REST_FIELD = re.compile(r"^\s*:(param|type|returns?|rtype|raises?)\b", re.M)


@dataclass(frozen=True, slots=True)
class DefinitionFacts:
    """One function, method, class or module constant a file defines.

    Attributes:
        kind: ``function``, ``method``, ``class`` or ``constant``.
        name: the qualified name (``Class.method``).
        line: the first line (its first decorator's, if any).
        end_line: the last line.
        signature: the decorators and the ``def``/``class`` line(s), dedented.
        summary: the docstring's first line, "" without one.
        documented: whether it has a docstring.
        annotated: for functions and methods, whether every parameter (``self``/``cls``
            aside) and the return are annotated; None for classes and constants.
        words: the words of its name (weighted), docstring and body, with their counts.
        size: the sum of those counts (the document length the ranking normalises by).
    """

    kind: str
    name: str
    line: int
    end_line: int
    signature: str = ""
    summary: str = ""
    documented: bool = False
    annotated: bool | None = None
    words: dict[str, int] = field(default_factory=dict)
    size: int = 0

    def __post_init__(self) -> None:
        if not self.size and self.words:
            object.__setattr__(self, "size", sum(self.words.values()))

    @property
    def bare_name(self) -> str:
        """The identifier itself (``method`` for ``Class.method``)."""
        return self.name.rpartition(".")[2]

    @property
    def public(self) -> bool:
        """Whether neither it nor its class starts with an underscore."""
        return not any(part.startswith("_") for part in self.name.split("."))


@dataclass(frozen=True, slots=True)
class FileFacts:
    """What a file holds, as far as the context needs to know.

    Attributes:
        language: ``python``, ``javascript``, ``typescript`` or "" (another kind of file).
        readable: False for a binary file or one too large to be useful; such a file is
            neither read further nor listed in the layout.
        parsed: whether its code could be read (False for a Python file with a syntax error).
        lines: its number of lines.
        definitions: what it defines, in source order.
        imports: the modules it imports, each once, in order.
        docstring_styles: how many of its docstrings are in each style.
        module_docstring: whether it starts with a docstring.
    """

    language: str
    parsed: bool
    lines: int
    readable: bool = True
    definitions: tuple[DefinitionFacts, ...] = ()
    imports: tuple[str, ...] = ()
    docstring_styles: dict[str, int] = field(default_factory=dict)
    module_docstring: bool = False

    def to_json(self) -> list[Any]:
        """A compact JSON-ready form (lists in field order), read back by :meth:`from_json`."""
        # By hand: dataclasses.asdict deep-copies every value and took 2 s on a large tree.
        definitions = [[getattr(d, f) for f in _DEFINITION_FIELDS] for d in self.definitions]
        return [
            self.language,
            self.parsed,
            self.lines,
            self.readable,
            definitions,
            list(self.imports),
            self.docstring_styles,
            self.module_docstring,
        ]

    @classmethod
    def from_json(cls, data: list[Any]) -> FileFacts:
        """The facts :meth:`to_json` wrote.

        Raises:
            ValueError: ``data`` is not in that form.
        """
        try:
            language, parsed, lines, readable, definitions, imports, styles, module_doc = data
            return cls(
                language=language,
                parsed=parsed,
                lines=lines,
                readable=readable,
                definitions=tuple(
                    DefinitionFacts(**dict(zip(_DEFINITION_FIELDS, d, strict=True)))
                    for d in definitions
                ),
                imports=tuple(imports),
                docstring_styles=dict(styles),
                module_docstring=module_doc,
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not a file's facts: {exc}") from None


_DEFINITION_FIELDS = tuple(f.name for f in fields(DefinitionFacts))


def language_of(path: str) -> str:
    """The language of a file by its name's suffix: ``python``, ``javascript``,
    ``typescript``, or "" for any other file."""
    dot = path.rfind(".")
    return _LANGUAGE_OF_SUFFIX.get(path[dot:].lower(), "") if dot >= 0 else ""


def docstring_style_of(docstring: str) -> str:
    """Classify a docstring by its section headers: ``google``, ``numpy``, ``rest``, ``plain``.

    A look at the headers only (``Args:``, ``Parameters`` over dashes, ``:param x:``), which
    is what tells the styles apart and is fast enough for every docstring of a large tree;
    :func:`frugalflow.conform.docstring_style.docstring_style_of` parses one in full.
    """
    if _NUMPY_SECTION.search(docstring):
        return "numpy"
    if _REST_FIELD.search(docstring):
        return "rest"
    if _GOOGLE_SECTION.search(docstring):
        return "google"
    return "plain"


def analyse_file(path: str, text: str) -> FileFacts:
    """Read one file's facts; the path only chooses the language.

    Args:
        path: the file's name (its suffix chooses how it is read).
        text: its content.

    Returns:
        Its definitions, imports and docstring styles; just its line count for a file of
        another language or Python that does not parse.
    """
    language = language_of(path)
    lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    if language == PYTHON:
        return _python_facts(text, lines)
    if language in (JAVASCRIPT, TYPESCRIPT):
        from frugalflow.context.script_facts import script_facts

        return script_facts(language, text, lines)
    return FileFacts(language="", parsed=False, lines=lines)


def _python_facts(text: str, lines: int) -> FileFacts:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):  # ValueError: NUL bytes
        return FileFacts(language=PYTHON, parsed=False, lines=lines)
    source_lines = text.splitlines()
    found: list[DefinitionFacts] = []
    styles: Counter[str] = Counter()
    module_doc = ast.get_docstring(tree, clean=False)
    if module_doc:
        styles[docstring_style_of(module_doc)] += 1
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.append(_function(node, source_lines, "function", node.name, styles))
        elif isinstance(node, ast.ClassDef):
            found.append(_class(node, source_lines, styles))
            for member in node.body:
                if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef):
                    qualified = f"{node.name}.{member.name}"
                    found.append(_function(member, source_lines, "method", qualified, styles))
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            found.extend(_constants(node))
    return FileFacts(
        language=PYTHON,
        parsed=True,
        lines=lines,
        definitions=tuple(found),
        imports=tuple(dict.fromkeys(_python_imports(tree))),
        docstring_styles=dict(styles),
        module_docstring=bool(module_doc),
    )


def _python_imports(tree: ast.Module) -> list[str]:
    modules: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.append(node.module)
    return modules


def _signature(
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, source_lines: list[str]
) -> tuple[int, str]:
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    first_body = node.body[0].lineno if node.body else node.lineno
    # The header ends on the line before the body starts, or is the whole line of `def f(): ...`.
    end = max(node.lineno, first_body - 1) if first_body > node.lineno else node.lineno
    end = min(end, start + _MAX_SIGNATURE_LINES - 1)
    header = source_lines[start - 1 : end]
    indent = len(header[0]) - len(header[0].lstrip()) if header else 0
    return start, "\n".join(line[indent:] for line in header).rstrip()


def _segment(source_lines: list[str], start: int, node: ast.stmt) -> str:
    return "\n".join(source_lines[start - 1 : node.end_lineno or node.lineno])


def _doc_words(docstring: str | None, styles: Counter[str]) -> tuple[str, list[str]]:
    if not docstring:
        return "", []
    styles[docstring_style_of(docstring)] += 1
    summary = docstring.strip().split("\n", 1)[0].strip()
    return summary, list(words(docstring))


def counted_words(name: str, docstring_words: Sequence[str], body: str) -> dict[str, int]:
    """The words a definition is found by: its name's (weighted), its docstring's, its body's."""
    counts: Counter[str] = Counter(docstring_words)
    for word in split_identifier(name):
        counts[word] += _NAME_WEIGHT
    # The body's identifiers as a regular expression finds them (strings and comments too):
    # a tenth of the time a walk of its syntax tree takes, which a large tree's cold build needs.
    for identifier, times in Counter(_IDENTIFIER.findall(body)).items():
        for word in split_identifier(identifier):
            counts[word] += times
    return dict(counts)


def _is_annotated(node: ast.FunctionDef | ast.AsyncFunctionDef, method: bool) -> bool:
    arguments = node.args
    positional = [*arguments.posonlyargs, *arguments.args]
    if method and positional and positional[0].arg in ("self", "cls"):
        positional = positional[1:]
    every = [*positional, *arguments.kwonlyargs]
    every += [a for a in (arguments.vararg, arguments.kwarg) if a is not None]
    needs_return = node.name != "__init__" or node.returns is not None
    return all(a.annotation is not None for a in every) and (
        node.returns is not None or not needs_return
    )


def _function(
    node: ast.FunctionDef | ast.AsyncFunctionDef,
    source_lines: list[str],
    kind: str,
    qualified: str,
    styles: Counter[str],
) -> DefinitionFacts:
    start, signature = _signature(node, source_lines)
    docstring = ast.get_docstring(node, clean=False)
    summary, doc_words = _doc_words(docstring, styles)
    return DefinitionFacts(
        kind=kind,
        name=qualified,
        line=start,
        end_line=node.end_lineno or node.lineno,
        signature=signature,
        summary=summary,
        documented=bool(docstring),
        annotated=_is_annotated(node, kind == "method"),
        words=counted_words(node.name, doc_words, _segment(source_lines, start, node)),
    )


def _class(node: ast.ClassDef, source_lines: list[str], styles: Counter[str]) -> DefinitionFacts:
    start, signature = _signature(node, source_lines)
    docstring = ast.get_docstring(node, clean=False)
    summary, doc_words = _doc_words(docstring, styles)
    # A class is found by its name, docstring, bases and what it has; its methods by their own.
    members = [
        m.name
        for m in node.body
        if isinstance(m, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]
    bases = [_dotted(b) for b in node.bases]
    return DefinitionFacts(
        kind="class",
        name=node.name,
        line=start,
        end_line=node.end_lineno or node.lineno,
        signature=signature,
        summary=summary,
        documented=bool(docstring),
        words=counted_words(node.name, doc_words, " ".join([*members, *bases])),
    )


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _constants(node: ast.Assign | ast.AnnAssign) -> list[DefinitionFacts]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    if node.value is None or not isinstance(node.value, ast.Constant | ast.Tuple | ast.UnaryOp):
        return []
    return [
        DefinitionFacts(
            kind="constant",
            name=target.id,
            line=node.lineno,
            end_line=node.end_lineno or node.lineno,
        )
        for target in targets
        if isinstance(target, ast.Name) and not target.id.startswith("__")
    ]

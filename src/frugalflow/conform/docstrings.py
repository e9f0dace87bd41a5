"""Docstrings for generated code: the project's style, written by a cheap model, then checked.

The model is asked about one definition at a time and answers with its docstring. The answer
is read leniently (any of the Google, NumPy and reST layouts, fenced, quoted or inside a
repeated definition), checked against the definition's signature, and written out in the
project's style. The check: every documented parameter exists; when the style documents
parameters, every parameter is documented; a function that returns nothing has no Returns
section; a documented exception is named in the definition. A docstring that fails is never
inserted: the definition stays as it was and is reported.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import libcst as cst

from frugalflow.context.conventions import check_documentation, python_sources
from frugalflow.core.errors import BudgetExceededError, FrugalflowError
from frugalflow.core.python_source import definitions, parse_python
from frugalflow.core.schemas import DocumentationReport
from frugalflow.providers.base import ChatMessage

GOOGLE = "google"
NUMPY = "numpy"
REST = "rest"
PLAIN = "plain"
STRUCTURED_STYLES = (GOOGLE, NUMPY, REST)
DOCSTRING_STYLES = (*STRUCTURED_STYLES, PLAIN)
# With no docstring to learn from, document parameters the most common way.
DEFAULT_STYLE = GOOGLE
# A structured style is the project's when at least this share of its docstrings use one;
# the rest are usually one-liners on small helpers.
STRUCTURED_SHARE = 0.1

MAX_SOURCE_CHARS = 4000  # of a definition shown to the model
MAX_DOCSTRING_LINES = 60

Complete = Callable[[list[ChatMessage]], str]
"""Asks a model: takes the conversation, returns the reply's text."""

# Section headers, by what they hold.
_PARAMETER_SECTIONS = frozenset(
    {"Args", "Arguments", "Parameters", "Params", "Keyword Args", "Keyword Arguments"}
    | {"Other Parameters"}
)
_RETURN_SECTIONS = frozenset({"Returns", "Return"})
_YIELD_SECTIONS = frozenset({"Yields", "Yield"})
_RAISE_SECTIONS = frozenset({"Raises", "Raise", "Exceptions"})
_OTHER_SECTIONS = frozenset(
    {"Attributes", "Example", "Examples", "Note", "Notes", "See Also", "Warning", "Warnings"}
    | {"Warns", "Todo", "References"}
)
_SECTIONS = _PARAMETER_SECTIONS | _RETURN_SECTIONS | _YIELD_SECTIONS | _RAISE_SECTIONS
_SECTIONS |= _OTHER_SECTIONS
_SECTION_NAMES = "|".join(sorted(map(re.escape, _SECTIONS), key=len, reverse=True))
_GOOGLE_HEADER = re.compile(rf"({_SECTION_NAMES})[ \t]*:[ \t]*(.*)")
_NUMPY_HEADER = re.compile(rf"({_SECTION_NAMES})[ \t]*:?[ \t]*")
_DASHES = re.compile(r"-{3,}")
_REST_FIELD = re.compile(r":([A-Za-z]+)(?:[ \t]+([^:]*?))?[ \t]*:(?:[ \t]+(.*)|$)")
_REST_PARAMETER_FIELDS = frozenset({"param", "parameter", "arg", "argument", "key", "keyword"})
_REST_RETURN_FIELDS = frozenset({"return", "returns", "rtype"})
_REST_YIELD_FIELDS = frozenset({"yield", "yields", "ytype"})
_REST_RAISE_FIELDS = frozenset({"raise", "raises", "except", "exception"})
_NAME = r"\*{0,2}[A-Za-z_]\w*"
_GOOGLE_ITEM = re.compile(rf"({_NAME})[ \t]*(?:\(([^)]*)\))?[ \t]*:[ \t]*(.*)")
_NUMPY_ITEM = re.compile(rf"({_NAME}(?:[ \t]*,[ \t]*{_NAME})*)[ \t]*(?::[ \t]*(.*))?")
_TYPE = r"[A-Za-z_][\w.]*(?:\[[^\]\n]*\])?"
_TYPE_PREFIX = re.compile(rf"({_TYPE}(?:[ \t]*\|[ \t]*{_TYPE})*)[ \t]*:[ \t]+(?=\S)")
_EXCEPTION_ITEM = re.compile(r"([A-Za-z_][\w.]*)[ \t]*(?::[ \t]*(.*))?")
_PLACEHOLDER = re.compile(r"^\.\.\.$|^\.\.\.\s|\s\.\.\.$|<[^<>\n]*>|\bTODO\b|^\?+$")
_LABEL = re.compile(r"^(?:summary|description|docstring)[ \t]*:[ \t]*", re.IGNORECASE)
_FENCE = re.compile(r"```[\w+-]*[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)
_TRIPLE_QUOTED = re.compile(r"[rRuU]?(\"\"\"|''')(.*?)(?:\1|\Z)", re.DOTALL)
_TAG = re.compile(r"</?(?:summary|docstring|description)>", re.IGNORECASE)
_PREAMBLE = re.compile(r"^(?:here|sure|certainly|the docstring|docstring)\b[^\n]*:[ \t]*\n", re.I)


@dataclass(frozen=True)
class Entry:
    """One documented parameter or exception."""

    name: str
    type: str
    description: str


@dataclass(frozen=True)
class ParsedDocstring:
    """A docstring taken apart, whatever its layout.

    Attributes:
        summary: the first paragraph.
        description: the paragraphs between the summary and the first section.
        parameters: the entries of parameter sections and ``:param:`` fields.
        returns: the Returns section (or ``:returns:``/``:rtype:``); None when there is none.
        yields: the Yields section; None when there is none.
        raises: the documented exceptions.
        typed: the names of reST ``:type x:`` fields.
        unreadable: lines of a parameter or exception section that are no entry.
        style: the layout of its sections: ``"google"``, ``"numpy"``, ``"rest"``, or
            ``"plain"`` when it has none.
    """

    summary: str
    description: str = ""
    parameters: tuple[Entry, ...] = ()
    returns: Entry | None = None
    yields: Entry | None = None
    raises: tuple[Entry, ...] = ()
    typed: tuple[str, ...] = ()
    unreadable: tuple[str, ...] = ()
    style: str = PLAIN


def parse_docstring(docstring: str) -> ParsedDocstring:
    """Take a docstring apart; Google, NumPy and reST sections are all understood."""
    lines = [line.rstrip() for line in inspect.cleandoc(docstring).splitlines()]
    # The opening paragraphs, up to the first section header or field.
    start = 0
    while start < len(lines) and not (start and _header_at(lines, start)):
        start += 1
    paragraphs = "\n".join(lines[:start]).strip().split("\n\n")
    summary = paragraphs[0].strip()
    description = "\n\n".join(p.strip() for p in paragraphs[1:] if p.strip())
    parameters: list[Entry] = []
    raises: list[Entry] = []
    typed: list[str] = []
    unreadable: list[str] = []
    returns: Entry | None = None
    yields: Entry | None = None
    styles: list[str] = []
    index = start
    while index < len(lines):
        header = _header_at(lines, index)
        if header is None:  # a stray line between sections
            if lines[index].strip():
                unreadable.append(lines[index].strip())
            index += 1
            continue
        name, style, inline, width = header
        styles.append(style)
        end = index + width
        while end < len(lines) and _header_at(lines, end) is None:
            end += 1
        body = _dedent(([inline] if inline else []) + lines[index + width : end])
        index = end
        if style == REST:
            target = _rest_target(inline)
            text = _join([_rest_value(inline), *body[1:]])
            if name in _REST_PARAMETER_FIELDS:
                parameters.append(Entry(target.lstrip("*"), "", text))
            elif name == "type":
                typed.append(target.lstrip("*"))
            elif name == "rtype":
                returns = Entry("", text, returns.description if returns else "")
            elif name in _REST_RETURN_FIELDS:
                result = _typed_text(text)
                returns = Entry(
                    "", result.type or (returns.type if returns else ""), result.description
                )
            elif name in _REST_YIELD_FIELDS:
                yields = Entry("", "", text)
            elif name in _REST_RAISE_FIELDS:
                raises.append(Entry(target, "", text))
            continue
        if name in _PARAMETER_SECTIONS:
            entries, bad = _entries(body, style, parameter=True)
            parameters += entries
            unreadable += bad
        elif name in _RAISE_SECTIONS:
            entries, bad = _entries(body, style, parameter=False)
            raises += entries
            unreadable += bad
        elif name in _RETURN_SECTIONS:
            returns = _result(body, style)
        elif name in _YIELD_SECTIONS:
            yields = _result(body, style)
    return ParsedDocstring(
        summary=summary,
        description=description,
        parameters=tuple(parameters),
        returns=returns,
        yields=yields,
        raises=tuple(raises),
        typed=tuple(typed),
        unreadable=tuple(unreadable),
        style=Counter(styles).most_common(1)[0][0] if styles else PLAIN,
    )


def _header_at(lines: list[str], index: int) -> tuple[str, str, str, int] | None:
    """(section or field name, style, text on the header line, header lines) at ``index``."""
    line = lines[index].strip()
    following = lines[index + 1].strip() if index + 1 < len(lines) else ""
    numpy = _NUMPY_HEADER.fullmatch(line)
    if numpy and _DASHES.fullmatch(following):
        return numpy.group(1), NUMPY, "", 2
    google = _GOOGLE_HEADER.fullmatch(line)
    # Only a Returns or Yields header may carry its text ("Returns: the slug."); "Note: x"
    # is a sentence.
    if google and (not google.group(2) or google.group(1) in _RETURN_SECTIONS | _YIELD_SECTIONS):
        return google.group(1), GOOGLE, google.group(2).strip(), 1
    rest = _REST_FIELD.fullmatch(line)
    if rest:
        return rest.group(1).lower(), REST, line, 1
    return None


def _dedent(lines: list[str]) -> list[str]:
    indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    cut = min(indents, default=0)
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return [line[cut:] for line in lines]


def _join(lines: Sequence[str]) -> str:
    return "\n".join(line.strip() for line in lines if line.strip())


def _rest_target(line: str) -> str:
    """The last word between a field's name and its colon: ``x`` in ``:param int x:``."""
    match = _REST_FIELD.fullmatch(line.strip())
    words = (match.group(2) or "").split() if match else []
    return words[-1] if words else ""


def _rest_value(line: str) -> str:
    match = _REST_FIELD.fullmatch(line.strip())
    return (match.group(3) or "") if match else ""


def _entries(body: list[str], style: str, *, parameter: bool) -> tuple[list[Entry], list[str]]:
    """The entries of a parameter or exception section: an entry line, then indented lines."""
    entries: list[Entry] = []
    unreadable: list[str] = []
    lines: list[str] = []
    heads: list[tuple[str, list[str]]] = []
    for line in body:
        if line.strip() and not line[:1].isspace():
            lines = []
            heads.append((line.strip(), lines))
        elif heads:
            lines.append(line)
    for head, more in heads:
        google = _GOOGLE_ITEM.fullmatch(head) if parameter else None
        numpy = _NUMPY_ITEM.fullmatch(head) if parameter else None
        if not parameter:
            exception = _EXCEPTION_ITEM.fullmatch(head)
            if exception is None:
                unreadable.append(head)
                continue
            text = _join([exception.group(2) or "", *more])
            entries.append(Entry(exception.group(1), "", text))
        elif style == NUMPY and numpy:
            for name in numpy.group(1).split(","):
                entries.append(Entry(name.strip().lstrip("*"), numpy.group(2) or "", _join(more)))
        elif google:
            text = _join([google.group(3), *more])
            entries.append(Entry(google.group(1).lstrip("*"), google.group(2) or "", text))
        elif numpy:
            for name in numpy.group(1).split(","):
                entries.append(Entry(name.strip().lstrip("*"), numpy.group(2) or "", _join(more)))
        else:
            unreadable.append(head)
    return entries, unreadable


def _result(body: list[str], style: str) -> Entry:
    """A Returns or Yields section: NumPy puts the type first, then an indented description;
    Google may start with the type and a colon."""
    lines = [line for line in body if line.strip()]
    if style == NUMPY and lines and len(lines) > 1 and lines[1][:1].isspace():
        return Entry("", lines[0].strip(), _join(lines[1:]))
    return _typed_text(_join(lines))


def _typed_text(text: str) -> Entry:
    """``"int: the count"`` as type ``int`` and description ``the count``."""
    match = _TYPE_PREFIX.match(text)
    if match:
        return Entry("", match.group(1), text[match.end() :])
    return Entry("", "", text)


def docstring_style_of(docstring: str) -> str:
    """Classify one docstring: ``"google"``, ``"numpy"``, ``"rest"`` or ``"plain"``."""
    return parse_docstring(docstring).style


def detect_docstring_style(repo: Path, files: Sequence[str]) -> str:
    """Find the docstring style a repository's Python code uses.

    Args:
        repo: the repository's working tree.
        files: repo-relative POSIX paths; ``.py`` files outside hidden and vendored
            directories are read (the first 500), unparsable ones skipped.

    Returns:
        ``"google"`` (``Args:``), ``"numpy"`` (``Parameters`` over dashes), ``"rest"``
        (``:param x:``) or ``"plain"`` (summaries only). The most used structured style wins
        when at least a tenth of the docstrings use one; plain otherwise; Google when the
        repository has no docstring at all.
    """
    votes: Counter[str] = Counter()
    for _, tree in python_sources(repo, files):
        if tree is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                docstring = ast.get_docstring(node)
                if docstring:
                    votes[docstring_style_of(docstring)] += 1
    total = sum(votes.values())
    if not total:
        return DEFAULT_STYLE
    structured = sum(votes[style] for style in STRUCTURED_STYLES)
    if structured < STRUCTURED_SHARE * total:
        return PLAIN
    return max(STRUCTURED_STYLES, key=lambda style: (votes[style], -STRUCTURED_STYLES.index(style)))


@dataclass(frozen=True)
class Signature:
    """What a docstring must agree with.

    Attributes:
        kind: ``"function"``, ``"method"`` or ``"class"``.
        parameters: the names a docstring may document (``*args`` as ``args``); for a
            class, its ``__init__`` parameters and annotated class attributes.
        required: the names a parameter-documenting style must document (all parameters
            but ``self``/``cls``, ``*args`` and ``**kwargs``); empty for a class.
        returns_value: False when the function can only return None.
        types: the parameters' annotations, as written.
        return_type: the return annotation, as written.
        names: every identifier the definition uses; a documented exception must be one.
    """

    kind: str
    parameters: tuple[str, ...]
    required: tuple[str, ...]
    returns_value: bool
    types: tuple[tuple[str, str], ...] = ()
    return_type: str = ""
    names: frozenset[str] = frozenset()


def signature_of(
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, *, method: bool = False
) -> Signature:
    """The parameters and return behaviour of a definition, as a docstring must describe them."""
    names = frozenset(
        n.id if isinstance(n, ast.Name) else n.attr
        for n in ast.walk(node)
        if isinstance(n, ast.Name | ast.Attribute)
    )
    if isinstance(node, ast.ClassDef):
        init = next(
            (
                n
                for n in node.body
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == "__init__"
            ),
            None,
        )
        parameters = list(signature_of(init, method=True).parameters) if init else []
        parameters += [
            n.target.id
            for n in node.body
            if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
        ]
        return Signature("class", tuple(dict.fromkeys(parameters)), (), False, names=names)
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    decorators = {_decorator_name(d) for d in node.decorator_list}
    if method and positional and "staticmethod" not in decorators:
        positional = positional[1:]
    required = [*positional, *args.kwonlyargs]
    extra = [a for a in (args.vararg, args.kwarg) if a is not None]
    return Signature(
        "method" if method else "function",
        tuple(a.arg for a in required + extra),
        tuple(a.arg for a in required),
        _returns_value(node),
        types=tuple((a.arg, ast.unparse(a.annotation)) for a in required + extra if a.annotation),
        return_type=ast.unparse(node.returns) if node.returns else "",
        names=names,
    )


def _decorator_name(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _own_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a function's body, not descending into nested functions or classes."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        yield child
        yield from _own_nodes(child)


def _returns_value(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    annotation = node.returns
    if annotation is not None:
        nothing = (isinstance(annotation, ast.Constant) and annotation.value is None) or (
            isinstance(annotation, ast.Name | ast.Attribute)
            and _decorator_name(annotation) in ("None", "NoReturn", "Never")
        )
        return not nothing
    for child in _own_nodes(node):
        if isinstance(child, ast.Yield | ast.YieldFrom):
            return True
        if isinstance(child, ast.Return) and not (
            child.value is None
            or (isinstance(child.value, ast.Constant) and child.value.value is None)
        ):
            return True
    return False


def check_docstring(docstring: str, signature: Signature, style: str) -> list[str]:
    """What is wrong with a docstring for a definition, in a project using ``style``.

    Args:
        docstring: the docstring's text (without quotes).
        signature: the definition's, from :func:`signature_of`.
        style: the project's docstring style.

    Returns:
        The problems; empty when the docstring may be used. Sections are read in every
        layout, so a parameter that does not exist is found whatever the style; sections in
        another structured style than the project's are a problem too.
    """
    parsed = parse_docstring(docstring)
    problems = _problems(parsed, signature, style)
    if '"""' in docstring:
        problems.append("it contains triple quotes")
    if parsed.style != PLAIN and style in STRUCTURED_STYLES and parsed.style != style:
        problems.append(f"it is written in {parsed.style} style; the project uses {style}")
    return problems


def _placeholder(text: str) -> bool:
    return any(_PLACEHOLDER.search(line.strip()) for line in text.splitlines())


def _problems(parsed: ParsedDocstring, signature: Signature, style: str) -> list[str]:
    """The signature check, on a docstring taken apart."""
    problems: list[str] = []
    summary = parsed.summary
    if not summary or summary.startswith(("def ", "class ", "async def ", "@", "```")):
        problems.append("it has no summary line")
    texts = [summary, parsed.description, *(e.description for e in parsed.parameters)]
    texts += [e.description for e in (parsed.returns, parsed.yields, *parsed.raises) if e]
    if any(_placeholder(text) for text in texts):
        problems.append("it still contains template placeholders")
    problems += [f"unreadable entry {line!r}" for line in parsed.unreadable]
    allowed = set(signature.parameters)
    documented = [entry.name for entry in parsed.parameters]
    problems += [
        f"documents {name!r}, which is not a parameter"
        for name in dict.fromkeys(documented + list(parsed.typed))
        if name not in allowed
    ]
    if style in STRUCTURED_STYLES and signature.kind != "class":
        problems += [
            f"does not document parameter {name!r}"
            for name in signature.required
            if name not in documented
        ]
    problems += [
        f"parameter {entry.name!r} has no description"
        for entry in parsed.parameters
        if entry.name in allowed and not entry.description
    ]
    if parsed.returns is not None and not signature.returns_value:
        problems.append(
            "it has a Returns section, but a class has no return value"
            if signature.kind == "class"
            else "it has a Returns section, but the function returns nothing"
        )
    problems += [
        f"documents raising {entry.name}, which the code never names"
        for entry in parsed.raises
        if entry.name.rpartition(".")[2] not in signature.names
    ]
    return problems


def render_docstring(parsed: ParsedDocstring, signature: Signature, style: str) -> str:
    """Write a docstring in ``style``: the summary (plain style: only it; classes: with the
    description), then the parameters in signature order, returns, yields and raises."""
    if style == PLAIN:
        return parsed.summary
    parts = [parsed.summary]
    if parsed.description:
        parts.append(parsed.description)
    if signature.kind == "class":
        return "\n\n".join(parts)
    by_name = {entry.name: entry for entry in parsed.parameters}
    parameters = [by_name[name] for name in signature.parameters if name in by_name]
    annotations = dict(signature.types)
    returns = parsed.returns
    if style == GOOGLE:
        if parameters:
            parts.append(_google("Args", [(p.name, p.description) for p in parameters]))
        for title, result in (("Returns", returns), ("Yields", parsed.yields)):
            if result is not None:
                parts.append(_google(title, [("", result.description or result.type)]))
        if parsed.raises:
            parts.append(_google("Raises", [(e.name, e.description) for e in parsed.raises]))
    elif style == NUMPY:
        if parameters:
            items = [
                (_typed(p.name, p.type or annotations.get(p.name, "")), p.description)
                for p in parameters
            ]
            parts.append(_numpy("Parameters", items))
        for title, result in (("Returns", returns), ("Yields", parsed.yields)):
            if result is not None:
                kind = result.type or (signature.return_type if title == "Returns" else "")
                items = [(kind, result.description)] if kind else [(result.description, "")]
                parts.append(_numpy(title, items))
        if parsed.raises:
            parts.append(_numpy("Raises", [(e.name, e.description) for e in parsed.raises]))
    else:
        fields = [_field(f"param {p.name}", p.description) for p in parameters]
        if returns is not None:
            fields.append(_field("returns", returns.description or returns.type))
        if parsed.yields is not None:
            fields.append(_field("yields", parsed.yields.description or parsed.yields.type))
        fields += [_field(f"raises {e.name}", e.description) for e in parsed.raises]
        if fields:
            parts.append("\n".join(fields))
    return "\n\n".join(parts)


def _continued(text: str, indent: str) -> str:
    lines = text.splitlines() or [""]
    return "\n".join([lines[0], *(indent + line for line in lines[1:])])


def _google(title: str, items: list[tuple[str, str]]) -> str:
    rows = [
        "    " + (f"{name}: " if name else "") + _continued(text, "        ")
        for name, text in items
    ]
    return f"{title}:\n" + "\n".join(row.rstrip() for row in rows)


def _numpy(title: str, items: list[tuple[str, str]]) -> str:
    rows = []
    for head, text in items:
        rows.append(head)
        rows += [f"    {line}" for line in text.splitlines()]
    return f"{title}\n{'-' * len(title)}\n" + "\n".join(rows)


def _typed(name: str, annotation: str) -> str:
    return f"{name} : {annotation}" if annotation else name


def _field(name: str, text: str) -> str:
    return f":{name}: " + _continued(text, "    ")


def measure_documentation(code: str) -> DocumentationReport:
    """The public names of the code and those of them without a docstring (see
    ``check_documentation``); ``completeness`` is the documented share."""
    return check_documentation(code)


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
    before = measure_documentation(code)
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
        after=measure_documentation(new_code),
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
    problems = _problems(parsed, signature, style)
    if problems:
        return problems
    rendered = render_docstring(parsed, signature, style)
    # The invariant, whatever the renderer did: what goes in passes the check.
    problems = check_docstring(rendered, signature, style)
    return problems or rendered


def _is_public(qualified: str) -> bool:
    return "._" not in f".{qualified}"


def _targets(code: str, tree: ast.Module, style: str) -> Iterator[_Target]:
    seen: set[str] = set()
    lines = code.splitlines()
    for definition in definitions(tree):
        node = definition.node
        if node is None or not _is_public(definition.qualified) or definition.qualified in seen:
            continue
        seen.add(definition.qualified)  # a property's setter shares its getter's docstring
        signature = signature_of(node, method=definition.kind == "method")
        existing = ast.get_docstring(node)
        if existing is not None and not check_docstring(existing, signature, style):
            continue
        yield _Target(definition.qualified, signature, _source(lines, node))


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
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1).strip()
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

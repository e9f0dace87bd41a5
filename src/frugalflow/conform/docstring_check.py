"""Checking docstrings: one against its definition's signature, and a module's coverage.

The check: every documented parameter exists; when the style documents parameters, every
parameter is documented; a function that returns nothing has no Returns section; a
documented exception is named in the definition. The coverage report lists the public names
of new code and those of them without a docstring.
"""

from __future__ import annotations

import ast
import re

from frugalflow.conform.docstring_style import (
    PLAIN,
    STRUCTURED_STYLES,
    ParsedDocstring,
    parse_docstring,
)
from frugalflow.conform.signatures import Signature
from frugalflow.core.python_source import definitions, parse_python
from frugalflow.core.schemas import DocumentationReport

_PLACEHOLDER = re.compile(r"^\.\.\.$|^\.\.\.\s|\s\.\.\.$|<[^<>\n]*>|\bTODO\b|^\?+$")


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
    problems = docstring_problems(parsed, signature, style)
    if '"""' in docstring:
        problems.append("it contains triple quotes")
    if parsed.style != PLAIN and style in STRUCTURED_STYLES and parsed.style != style:
        problems.append(f"it is written in {parsed.style} style; the project uses {style}")
    return problems


def _placeholder(text: str) -> bool:
    return any(_PLACEHOLDER.search(line.strip()) for line in text.splitlines())


def docstring_problems(parsed: ParsedDocstring, signature: Signature, style: str) -> list[str]:
    """The signature check, on a docstring taken apart (:func:`check_docstring` without
    the layout and quoting checks)."""
    problems: list[str] = []
    summary = parsed.summary
    if not summary or summary.startswith(("def ", "class ", "async def ", "@", "```")):
        problems.append("it has no summary line")
    texts = [summary, parsed.description, *(e.description for e in parsed.parameters)]
    texts += [e.description for e in (parsed.returns, parsed.yields, *parsed.raises) if e]
    if any(_placeholder(text) for text in texts):
        problems.append("it still contains template placeholders")
    problems += [f"unreadable section: {reason}" for reason in parsed.unreadable]
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


def is_public(qualified: str) -> bool:
    """Tell whether ``"func"`` or ``"Class.method"`` is public: no part starts with ``_``.

    ``"_Private.method"`` and ``"Public._helper"`` are both private, and so are dunders.
    """
    return "._" not in f".{qualified}"


def check_documentation(code: str) -> DocumentationReport:
    """List the public names of new code and those of them that lack a docstring.

    Public means no leading underscore: top-level functions and classes, and the methods of
    public classes (so dunder methods are not counted). A name defined more than once (a
    property's setter) is listed once, documented when any of its definitions is.

    Args:
        code: the new Python code.

    Returns:
        Names as ``"func"`` or ``"Class.method"``; empty when the code does not parse.
    """
    tree = parse_python(code)
    if tree is None:
        return DocumentationReport(public_names=(), missing_docstrings=())
    documented: dict[str, bool] = {}
    for definition in definitions(tree):
        if definition.node is None or not is_public(definition.qualified):
            continue
        has_docstring = ast.get_docstring(definition.node) is not None
        documented[definition.qualified] = (
            documented.get(definition.qualified, False) or has_docstring
        )
    return DocumentationReport(
        public_names=tuple(documented),
        missing_docstrings=tuple(name for name, done in documented.items() if not done),
    )

"""Docstring layouts: which one a project uses, a docstring taken apart, one written out.

Google, NumPy and reST docstrings are parsed and composed by ``docstring_parser``. What stays
here is what a model's answer needs on top: the answer is made regular first (entries not
indented under their Google header, text on a ``Returns:`` header line), every layout is
tried and the one that reads the most sections wins, and a Google docstring is written with
untyped Returns, Yields and Raises entries, as the project's own docstrings have them.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import docstring_parser
from docstring_parser import (
    Docstring,
    DocstringMeta,
    DocstringParam,
    DocstringRaises,
    DocstringReturns,
    DocstringStyle,
    ParseError,
    RenderingStyle,
)
from docstring_parser.google import DEFAULT_SECTIONS, GoogleParser, Section, SectionType

from frugalflow.conform.signatures import Signature
from frugalflow.context.conventions import python_sources

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

_LIBRARY_STYLES = {
    GOOGLE: DocstringStyle.GOOGLE,
    NUMPY: DocstringStyle.NUMPYDOC,
    REST: DocstringStyle.REST,
}
# The library's Google sections, and those it does not know: their entries would be lost.
_GOOGLE_SECTIONS = [
    *DEFAULT_SECTIONS,
    *(
        Section(title, "param", SectionType.MULTIPLE)
        for title in ("Keyword Args", "Keyword Arguments", "Other Parameters")
    ),
    Section("Return", "returns", SectionType.SINGULAR_OR_MULTIPLE),
    Section("Yield", "yields", SectionType.SINGULAR_OR_MULTIPLE),
    Section("Raise", "raises", SectionType.MULTIPLE),
    *(
        Section(title, title.lower().replace(" ", "_"), SectionType.SINGULAR)
        for title in ("Note", "Notes", "See Also", "Warning", "Warnings", "Warns", "Todo")
    ),
    Section("References", "references", SectionType.SINGULAR),
]
_GOOGLE_PARSER = GoogleParser(_GOOGLE_SECTIONS)
_GOOGLE_TITLES = "|".join(sorted((re.escape(s.title) for s in _GOOGLE_SECTIONS), key=len)[::-1])
_GOOGLE_HEADER = re.compile(rf"([ \t]*)({_GOOGLE_TITLES})[ \t]*:[ \t]*(.*)")
_INLINE_TITLES = frozenset({"Returns", "Return", "Yields", "Yield"})
_REST_FIELD = re.compile(r"[ \t]*:[A-Za-z]+(?:[ \t]+[^:\n]*?)?[ \t]*:(?:[ \t]|$)")
_REST_TYPE = re.compile(r"[ \t]*:type[ \t]+([^:\n]*?)[ \t]*:")
_NUMPY_DASHES = re.compile(r"[ \t]*-{3,}[ \t]*")


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
        unreadable: why sections could not be read, when no layout could read them.
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
    """Take a docstring apart; Google, NumPy and reST sections are all understood.

    Every layout is tried; the one reading the most sections is the docstring's. When none
    reads any and a layout failed on the text, the docstring is ``unreadable`` in that layout.
    """
    text = _regular("\n".join(line.rstrip() for line in inspect.cleandoc(docstring).splitlines()))
    parsed: dict[str, Docstring] = {}
    errors: dict[str, str] = {}
    for style, library_style in _LIBRARY_STYLES.items():
        try:
            if style == GOOGLE:
                parsed[style] = _GOOGLE_PARSER.parse(text)
            else:
                parsed[style] = docstring_parser.parse(text, library_style)
        except ParseError as exc:
            errors[style] = str(exc)
    typed = tuple(
        _last_word(m.group(1)).lstrip("*") for m in map(_REST_TYPE.match, text.split("\n")) if m
    )
    if not any(map(_REST_FIELD.match, text.split("\n"))):
        # The library reads any line starting with a colon as a field; ":meth:`x` does"
        # is prose.
        parsed.pop(REST, None)
    sectioned = [style for style in STRUCTURED_STYLES if style in parsed and parsed[style].meta]
    if not sectioned:
        summary, description = _paragraphs(text.split("\n\n", 1)[0] if errors else text)
        unreadable = tuple(errors.values())[:1]
        style = next(iter(errors), PLAIN)
        return ParsedDocstring(
            summary, description, typed=typed, unreadable=unreadable, style=style
        )
    style = max(sectioned, key=lambda s: (len(parsed[s].meta), -STRUCTURED_STYLES.index(s)))
    return _taken_apart(parsed[style], style, typed)


def _regular(text: str) -> str:
    """Google sections as the library reads them: text on a ``Returns:`` line moved below
    it, and the entries of a section that are not indented under its header indented."""
    lines: list[str] = []
    flat = False  # in a section whose entries sit at its header's indentation
    source = text.split("\n")
    for index, line in enumerate(source):
        header = _GOOGLE_HEADER.fullmatch(line)
        if header and (not header.group(3) or header.group(2) in _INLINE_TITLES):
            margin, title, inline = header.groups()
            lines.append(f"{margin}{title}:")
            if inline:
                lines.append(f"{margin}    {inline}")
            body = [s for s in source[index + 1 :] if s.strip()][:1]
            flat = bool(inline) or (bool(body) and _margin(body[0]) <= len(margin))
            continue
        following = source[index + 1] if index + 1 < len(source) else ""
        if _NUMPY_DASHES.fullmatch(following) or _REST_FIELD.match(line):
            flat = False  # another layout's section starts
        lines.append("    " + line if flat and line.strip() else line)
    return "\n".join(lines)


def _margin(line: str) -> int:
    return len(line) - len(line.lstrip())


def _last_word(text: str) -> str:
    words = text.split()
    return words[-1] if words else ""


def _paragraphs(text: str) -> tuple[str, str]:
    """The summary (first paragraph) and the description (the other paragraphs)."""
    paragraphs = text.strip().split("\n\n")
    description = "\n\n".join(p.strip() for p in paragraphs[1:] if p.strip())
    return paragraphs[0].strip(), description


def _lines(text: str | None) -> str:
    """A description's lines, stripped, blank ones dropped."""
    return "\n".join(line.strip() for line in (text or "").splitlines() if line.strip())


def _taken_apart(parsed: Docstring, style: str, typed: tuple[str, ...]) -> ParsedDocstring:
    short = parsed.short_description or ""
    separator = "\n\n" if parsed.blank_after_short_description else "\n"
    summary, description = _paragraphs(short + separator + (parsed.long_description or ""))
    parameters = tuple(
        Entry(name.strip().lstrip("*"), param.type_name or "", _lines(param.description))
        for param in parsed.params
        if param.args[0] != "attribute"
        for name in param.arg_name.split(",")
    )
    results: dict[bool, Entry] = {}
    for result in parsed.many_returns:
        if style == NUMPY and not result.description:
            # A NumPy result of one line is its description, not its type.
            results[result.is_generator] = Entry("", "", _lines(result.type_name))
        else:
            entry = Entry("", result.type_name or "", _lines(result.description))
            results[result.is_generator] = entry
    raises = tuple(
        Entry(name.strip(), "", _lines(e.description))
        for e in parsed.raises
        for name in (e.type_name or "").split(",")
    )
    return ParsedDocstring(
        summary=summary,
        description=description,
        parameters=parameters,
        returns=results.get(False),
        yields=results.get(True),
        raises=raises,
        typed=typed,
        style=style,
    )


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
    return style_from_votes(votes)


def style_from_votes(votes: Mapping[str, int]) -> str:
    """The style a project's docstrings use, from how many are in each style.

    The most used structured style wins when at least a tenth of the docstrings use one;
    plain otherwise; Google when there is no docstring at all.
    """
    total = sum(votes.values())
    if not total:
        return DEFAULT_STYLE
    structured = sum(votes.get(style, 0) for style in STRUCTURED_STYLES)
    if structured < STRUCTURED_SHARE * total:
        return PLAIN
    return max(
        STRUCTURED_STYLES, key=lambda style: (votes.get(style, 0), -STRUCTURED_STYLES.index(style))
    )


def render_docstring(parsed: ParsedDocstring, signature: Signature, style: str) -> str:
    """Write a docstring in ``style``: the summary (plain style: only it; classes: with the
    description), then the parameters in signature order, returns, yields and raises."""
    if style == PLAIN:
        return parsed.summary
    if signature.kind == "class":
        return "\n\n".join(part for part in (parsed.summary, parsed.description) if part)
    by_name = {entry.name: entry for entry in parsed.parameters}
    parameters = [by_name[name] for name in signature.parameters if name in by_name]
    annotations = dict(signature.types)
    meta: list[DocstringMeta] = []
    for p in parameters:
        kind = (p.type or annotations.get(p.name, "")) if style == NUMPY else ""
        meta.append(
            DocstringParam(["param", p.name], p.description, p.name, kind or None, None, None)
        )
    results = [(False, parsed.returns), (True, parsed.yields)]
    if style == GOOGLE:
        # The library writes an untyped Google result as ": text"; a plain section reads right.
        for title, result in zip(
            ("returns", "yields"), (parsed.returns, parsed.yields), strict=True
        ):
            if result is not None:
                meta.append(DocstringMeta([title], _continued(result.description or result.type)))
        if parsed.raises:
            rows = [f"{e.name}: {_continued(e.description)}" for e in parsed.raises]
            meta.append(DocstringMeta(["raises"], "\n".join(rows)))
    elif style == NUMPY:
        for generator, result in results:
            if result is None:
                continue
            kind = result.type or ("" if generator else signature.return_type)
            if kind:
                meta.append(DocstringReturns(["returns"], result.description, kind, generator))
            else:  # the description stands alone, where the type would be
                meta.append(DocstringReturns(["returns"], None, result.description, generator))
        meta += [DocstringRaises(["raises", e.name], e.description, e.name) for e in parsed.raises]
    else:
        for generator, result in results:
            if result is not None:
                text = result.description or result.type
                meta.append(DocstringReturns(["returns"], text, None, generator))
        # As a plain field: the library writes a raises field as ":raises KeyError :".
        meta += [DocstringMeta(["raises", e.name], e.description) for e in parsed.raises]
    docstring = Docstring(_LIBRARY_STYLES[style])
    docstring.short_description = parsed.summary
    docstring.long_description = parsed.description or None
    # NumPy puts a blank line before each section itself.
    follows = bool(parsed.description) or (bool(meta) and style != NUMPY)
    docstring.blank_after_short_description = follows
    docstring.blank_after_long_description = bool(parsed.description and meta) and style != NUMPY
    docstring.meta = meta
    return docstring_parser.compose(
        docstring, _LIBRARY_STYLES[style], rendering_style=RenderingStyle.CLEAN
    ).rstrip()


def _continued(text: str) -> str:
    """Continuation lines one level further in than the first, as in a Google entry."""
    lines = text.splitlines() or [""]
    return "\n".join([lines[0], *("    " + line for line in lines[1:])])

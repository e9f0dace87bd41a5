"""Naming conventions: what a repository uses, and whether new code follows it.

Python only: names are read with :mod:`ast`, so nothing is imported or executed.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

from frugalflow.context.files import inside
from frugalflow.core.python_source import definitions, is_dunder, parse_python
from frugalflow.core.schemas import NamingConventions, NamingFinding, NamingReport

SNAKE_CASE = "snake_case"
PASCAL_CASE = "PascalCase"
CAMEL_CASE = "camelCase"
UPPER_SNAKE_CASE = "UPPER_SNAKE_CASE"
OTHER = "other"
NAMING_STYLES = (SNAKE_CASE, PASCAL_CASE, UPPER_SNAKE_CASE, CAMEL_CASE)
"""The styles a convention can be; a name in none of them is ``"other"``."""

# Parsing every file of a very large repository would be slow and tell us nothing new.
MAX_FILES_PARSED = 500

_STYLE_PATTERNS = (
    (SNAKE_CASE, re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")),
    (UPPER_SNAKE_CASE, re.compile(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)*")),
    (PASCAL_CASE, re.compile(r"[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*")),
    (CAMEL_CASE, re.compile(r"[a-z][a-z0-9]*[A-Z][A-Za-z0-9]*")),
)
_WORD_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z0-9]+|[A-Z]+|[0-9]+")
_ONE_LOWER_WORD = re.compile(r"[a-z][a-z0-9]*")
_ONE_UPPER_WORD = re.compile(r"[A-Z][A-Z0-9]*")

# Trees of other people's code that end up in a working tree (virtualenvs, installed
# dependencies, build output); they say nothing about the project's own choices.
_VENDORED_DIRS = frozenset(
    {"node_modules", "vendor", "third_party", "build", "dist", "__pycache__", "site-packages"}
)


def is_vendored_path(path: str) -> bool:
    """Tell whether a repo-relative path lies in a hidden, vendored or build directory."""
    # String splitting, not PurePosixPath: this runs for every file of a large tree.
    directories = path.split("/")[:-1]
    return any(part in _VENDORED_DIRS or part.startswith(".") for part in directories if part)


def style_of(name: str) -> str:
    """Classify a name's style; leading (and trailing) underscores are ignored.

    Args:
        name: an identifier such as ``make_slug`` or ``_HttpClient``.

    Returns:
        ``"snake_case"``, ``"PascalCase"``, ``"camelCase"``, ``"UPPER_SNAKE_CASE"`` or
        ``"other"``. A single lowercase word counts as snake_case, a single all-caps word
        as UPPER_SNAKE_CASE.
    """
    core = name.strip("_")
    for style, pattern in _STYLE_PATTERNS:
        if pattern.fullmatch(core):
            return style
    return OTHER


def fits_style(name: str, style: str) -> bool:
    """Tell whether a name can be read as written in ``style`` (single words fit two)."""
    # A single word cannot show which of two styles it follows, so it fits both:
    # "render" is fine in a camelCase repository, "URL" is fine as a PascalCase class.
    core = name.strip("_")
    if _ONE_LOWER_WORD.fullmatch(core):
        return style in (SNAKE_CASE, CAMEL_CASE)
    if _ONE_UPPER_WORD.fullmatch(core):
        return style in (UPPER_SNAKE_CASE, PASCAL_CASE)
    return style_of(name) == style


def convert_name(name: str, style: str) -> str:
    """Rewrite a name in another style, keeping its leading and trailing underscores.

    Args:
        name: the identifier to rewrite, e.g. ``"makeSlug"``.
        style: one of the styles :func:`style_of` returns.

    Returns:
        The rewritten name, e.g. ``"make_slug"`` for snake_case; the name unchanged when the
        style is unknown or the name has no letters or digits.
    """
    core = name.strip("_")
    if not core:
        return name
    leading = name[: len(name) - len(name.lstrip("_"))]
    trailing = name[len(leading) + len(core) :]
    words = [part for chunk in core.split("_") for part in _WORD_PART.findall(chunk)]
    if not words:
        return name
    if style == SNAKE_CASE:
        converted = "_".join(w.lower() for w in words)
    elif style == UPPER_SNAKE_CASE:
        converted = "_".join(w.upper() for w in words)
    elif style == PASCAL_CASE:
        converted = "".join(w.capitalize() for w in words)
    elif style == CAMEL_CASE:
        converted = words[0].lower() + "".join(w.capitalize() for w in words[1:])
    else:
        return name
    return leading + converted + trailing


def _vote(votes: Counter[str], name: str) -> None:
    # A name votes for every style it fits: "render" backs snake_case and camelCase alike,
    # so single words never tip the balance. Names fitting no style say nothing.
    for style in NAMING_STYLES:
        if fits_style(name, style):
            votes[style] += 1


def _dominant(votes: Counter[str], default: str) -> str:
    if not votes:
        return default
    # On a tie the default wins, so a small sample does not overturn PEP 8 by accident.
    return max(
        NAMING_STYLES,
        key=lambda style: (votes[style], style == default, -NAMING_STYLES.index(style)),
    )


def python_sources(repo: Path, files: Sequence[str]) -> Iterator[tuple[str, ast.Module | None]]:
    """The repository's own Python files (the first 500 outside hidden and vendored
    directories), each with its syntax tree, or None when it cannot be read or parsed."""
    python_files = [p for p in files if p.endswith(".py") and not is_vendored_path(p)]
    for path in python_files[:MAX_FILES_PARSED]:
        real = inside(Path(repo), path)  # never a file through a symlink out of the repository
        try:
            yield path, parse_python(real.read_text(encoding="utf-8")) if real else None
        except (OSError, UnicodeDecodeError):
            yield path, None


def detect_naming_conventions(repo: Path, files: Sequence[str]) -> NamingConventions:
    """Find the naming styles a repository's Python code mostly uses.

    Args:
        repo: the repository's working tree.
        files: repo-relative POSIX paths; only ``.py`` files outside hidden and vendored
            directories are read (the first 500), unparsable ones skipped.

    Returns:
        The dominant style of functions and methods, classes, module-level constants and
        module file names; PEP 8 defaults for kinds with no sample. Single-word names are
        counted in ``samples`` but cast no vote, as they fit more than one style.
    """
    defaults = NamingConventions()
    votes: dict[str, Counter[str]] = {
        kind: Counter() for kind in ("function", "class", "constant", "module")
    }
    samples = 0
    for path, tree in python_sources(repo, files):
        stem = PurePosixPath(path).stem
        if not is_dunder(stem):
            samples += 1
            _vote(votes["module"], stem)
        if tree is None:
            continue
        for definition in definitions(tree):
            if is_dunder(definition.name):
                continue
            samples += 1
            kind = "function" if definition.kind == "method" else definition.kind
            _vote(votes[kind], definition.name)
    return NamingConventions(
        function_style=_dominant(votes["function"], defaults.function_style),
        class_style=_dominant(votes["class"], defaults.class_style),
        constant_style=_dominant(votes["constant"], defaults.constant_style),
        module_style=_dominant(votes["module"], defaults.module_style),
        samples=samples,
    )


def check_naming(code: str, conventions: NamingConventions) -> NamingReport:
    """Check that the names new code defines follow the repository's conventions.

    Functions, methods, classes and module-level constants (names bound once to an immutable
    literal, or annotated ``Final``) are checked; dunder names are exempt.

    Args:
        code: the new Python code.
        conventions: the repository's conventions, from :func:`detect_naming_conventions`.

    Returns:
        The checked names (methods as ``Class.method``) and one finding per misfit, whose
        suggestion is the bare identifier rewritten in the expected style. Code that does not
        parse yields an empty report; syntax is the validator's job.
    """
    tree = parse_python(code)
    if tree is None:
        return NamingReport(conventions=conventions, checked=())
    expected = {
        "function": conventions.function_style,
        "method": conventions.function_style,
        "class": conventions.class_style,
        "constant": conventions.constant_style,
    }
    checked: list[str] = []
    findings: list[NamingFinding] = []
    for definition in definitions(tree):
        if is_dunder(definition.name):
            continue
        checked.append(definition.qualified)
        style = expected[definition.kind]
        # A convention we cannot name ("other") cannot be enforced either.
        if style in NAMING_STYLES and not fits_style(definition.name, style):
            findings.append(
                NamingFinding(
                    name=definition.qualified,
                    kind=definition.kind,
                    expected_style=style,
                    suggestion=convert_name(definition.name, style),
                )
            )
    return NamingReport(conventions=conventions, checked=tuple(checked), findings=tuple(findings))

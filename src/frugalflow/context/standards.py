"""The project's standards: what its configuration sets, and what its code actually does.

Configuration is read from ``pyproject.toml`` (``[tool.ruff]``, ``[tool.black]``,
``[tool.mypy]``, ``[tool.pyright]``, ``requires-python``), ``ruff.toml``, ``setup.cfg``,
``tox.ini``, ``.flake8``, ``mypy.ini`` and ``.editorconfig``, at the repository's top only; a
file that does not parse is skipped (the analysis never fails on someone's broken config). The
docstring style and the type-hint coverage are measured on the code.
"""

from __future__ import annotations

import configparser
import logging
import re
import tomllib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from frugalflow.context.facts import FileFacts
from frugalflow.context.files import read_text
from frugalflow.core.schemas import ProjectStandards

logger = logging.getLogger(__name__)

CONFIG_FILES = (
    "pyproject.toml",
    "ruff.toml",
    ".ruff.toml",
    "setup.cfg",
    "tox.ini",
    ".flake8",
    "mypy.ini",
    ".mypy.ini",
    ".editorconfig",
)
"""The files read, in this order; a later file fills only what the earlier ones left unset."""

_REQUIRES_PYTHON = re.compile(r">=\s*3\.(\d+)")


def _toml(text: str) -> dict[str, Any]:
    return tomllib.loads(text)


def _ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    # .editorconfig may start with keys before any section ("root = true").
    parser.read_string("[__top__]\n" + text)
    return parser


def _put(found: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key`` unless an earlier file (or an earlier table) already did."""
    if value is not None and key not in found:
        found[key] = value


def _ruff(table: Mapping[str, Any], found: dict[str, Any]) -> None:
    _put(found, "line_length", table.get("line-length"))
    _put(found, "target_version", table.get("target-version"))
    lint = table.get("lint", {})
    rules = lint.get("select") or table.get("select")
    if rules:
        _put(found, "lint_rules", tuple(str(r) for r in rules))


def _from_pyproject(data: Mapping[str, Any], found: dict[str, Any]) -> None:
    tool = data.get("tool", {})
    if "ruff" in tool:
        _ruff(tool["ruff"], found)
    black = tool.get("black", {})
    _put(found, "line_length", black.get("line-length"))
    versions = black.get("target-version")
    if versions:
        _put(found, "target_version", sorted(versions)[0])
    if "mypy" in tool:
        _put(found, "type_checking", "mypy strict" if tool["mypy"].get("strict") else "mypy")
    if "pyright" in tool:
        mode = tool["pyright"].get("typeCheckingMode", "standard")
        _put(found, "type_checking", f"pyright {mode}")
    requires = data.get("project", {}).get("requires-python", "")
    match = _REQUIRES_PYTHON.search(str(requires))
    if match:
        _put(found, "target_version", f"py3{match.group(1)}")


def _from_ini(parser: configparser.ConfigParser, found: dict[str, Any]) -> None:
    if parser.has_section("flake8"):
        flake8 = parser["flake8"]
        if "max-line-length" in flake8:
            _put(found, "line_length", int(flake8["max-line-length"]))
        if "select" in flake8:
            rules = tuple(r.strip() for r in re.split(r"[,\s]+", flake8["select"]) if r.strip())
            _put(found, "lint_rules", rules)
    if parser.has_section("mypy"):
        strict = parser["mypy"].get("strict", "false").strip().lower() in ("true", "1", "yes")
        _put(found, "type_checking", "mypy strict" if strict else "mypy")


def _from_editorconfig(parser: configparser.ConfigParser, found: dict[str, Any]) -> None:
    for section in ("*.py", "*.{py}", "*"):
        if not parser.has_section(section):
            continue
        values = parser[section]
        style = values.get("indent_style")
        size = values.get("indent_size")
        if style == "tab":
            _put(found, "indent", "tabs")
        elif size and size.isdigit():
            _put(found, "indent", f"{size} spaces")
        length = values.get("max_line_length", "")
        if length.isdigit():
            _put(found, "line_length", int(length))


def read_configuration(read: Callable[[str], str | None]) -> dict[str, Any]:
    """What the project's configuration files set.

    Args:
        read: gives a top-level file's text by name, None when the file does not exist.

    Returns:
        The settings found (``line_length``, ``target_version``, ``lint_rules``,
        ``type_checking``, ``indent``) and ``sources``, the files they came from.
    """
    found: dict[str, Any] = {}
    sources: list[str] = []
    for name in CONFIG_FILES:
        text = read(name)
        if text is None:
            continue
        before = dict(found)
        try:
            if name == "pyproject.toml":
                _from_pyproject(_toml(text), found)
            elif name.endswith("ruff.toml"):
                _ruff(_toml(text), found)
            elif name == ".editorconfig":
                _from_editorconfig(_ini(text), found)
            else:
                _from_ini(_ini(text), found)
        except (tomllib.TOMLDecodeError, configparser.Error, ValueError, AttributeError) as exc:
            logger.info("left out of the project's standards (does not parse): %s: %s", name, exc)
            continue
        if found != before:
            sources.append(name)
    found["sources"] = tuple(sources)
    return found


def measure_standards(
    files: Sequence[tuple[str, FileFacts]],
    tests: frozenset[str],
    configuration: Mapping[str, Any],
) -> ProjectStandards:
    """The project's standards: its configuration, plus what its Python code shows.

    Args:
        files: (repo-relative path, facts) of the repository's own files.
        tests: the paths among ``files`` that are tests (left out of the coverage figures).
        configuration: what :func:`read_configuration` found.

    Returns:
        The standards; the docstring style is voted by every docstring (tests included), the
        docstring share counts public functions and classes outside tests, the type-hint share
        counts functions and methods outside tests.
    """
    votes: Counter[str] = Counter()
    public = documented = functions = annotated = 0
    for path, facts in files:
        if facts.language != "python":
            continue
        votes.update(facts.docstring_styles)
        if path in tests:
            continue
        for definition in facts.definitions:
            if definition.kind == "constant":
                continue
            if definition.public and not definition.bare_name.startswith("__"):
                public += 1
                documented += definition.documented
            if definition.annotated is not None:
                functions += 1
                annotated += definition.annotated
    return ProjectStandards(
        line_length=configuration.get("line_length"),
        target_version=configuration.get("target_version"),
        lint_rules=tuple(configuration.get("lint_rules", ())),
        type_checking=configuration.get("type_checking"),
        indent=configuration.get("indent"),
        docstring_style=_style_from_votes(votes),
        docstring_share=round(documented / public, 3) if public else 0.0,
        type_hint_share=round(annotated / functions, 3) if functions else 0.0,
        sources=tuple(configuration.get("sources", ())),
    )


def config_reader(root: Path) -> Callable[[str], str | None]:
    """A ``read`` for :func:`read_configuration` over files at a working tree's top."""

    def read(name: str) -> str | None:
        if (root / name).is_symlink():
            return None
        return read_text(root, name)

    return read


def _style_from_votes(votes: Counter[str]) -> str:
    # Imported here: frugalflow.conform.docstring_style imports this package (its Python
    # sources listing), so a module-level import is a cycle when the flows are imported first.
    from frugalflow.conform.docstring_style import style_from_votes

    return style_from_votes(votes)

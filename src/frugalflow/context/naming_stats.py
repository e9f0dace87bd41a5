"""Naming as measured: the share of each style per kind of name, verbs first, the vocabulary.

Read from the facts of each file (:mod:`frugalflow.context.facts`), so a large tree is summed,
not parsed again. A single word (``render``, ``URL``) fits two styles and shows neither, so it
is left out of the shares; it still counts for the dominant style the name step enforces
(:func:`frugalflow.context.conventions.detect_naming_conventions` votes the same way).
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Sequence

from frugalflow.context.conventions import (
    CAMEL_CASE,
    NAMING_STYLES,
    PASCAL_CASE,
    SNAKE_CASE,
    UPPER_SNAKE_CASE,
    fits_style,
    style_of,
)
from frugalflow.context.facts import FileFacts
from frugalflow.context.words import STOP_WORDS, identifier_parts, stem
from frugalflow.core.python_source import is_dunder
from frugalflow.core.schemas import NamingConventions, NamingPatterns, StyleShare

KEBAB_CASE = "kebab-case"
_KEBAB = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)+")
_ONE_WORD = re.compile(r"[a-z][a-z0-9]*|[A-Z][A-Z0-9]*")

# The verbs function names start with in most code bases; a name starting with one "says what
# it does" (load_settings, render_report). Predicates (is_, has_) count: they are verbs too.
_VERBS_TEXT = """
    accept add allow append apply ask assert attach authenticate await book build calculate
    call cancel check clean clear close collect combine commit compare compile compose compute
    configure connect convert copy count create decode default define delete describe detect
    disable dispatch do download drop dump emit enable encode end ensure enter escape estimate
    evaluate execute exit expand expect export extract fetch fill filter find finish fit flush
    format forward generate get group handle has hash have import init initialize insert
    install is iterate join keep kill launch list load lock log make map mark match merge
    migrate move normalize notify open order pack parse patch pick place poll pop populate post
    prepare print process produce publish pull push put query queue raise read rebuild receive
    record reduce refresh register reject release reload remove rename render repair replace
    report request require reserve reset resolve restore resume retry return review run save
    scan schedule search select send serialize set settle setup show skip sort split start
    stop store strip submit subscribe sum summarize sync take test track transform translate
    trigger trim truncate try unpack unregister update upload use validate verify visit wait
    walk warn watch wrap write yield
"""
VERBS = frozenset(_VERBS_TEXT.split())

_VOCABULARY_SIZE = 20
_COMMON_VERBS = 8


@functools.lru_cache(maxsize=1 << 16)
def _definite_style(name: str) -> str | None:
    """The one style a name shows, or None for a single word (it fits two) or no style."""
    core = name.strip("_")
    if _ONE_WORD.fullmatch(core):
        return None
    if _KEBAB.fullmatch(core):
        return KEBAB_CASE
    style = style_of(name)
    return style if style in NAMING_STYLES else None


def _share(kind: str, names: Iterable[str], dominant: str) -> StyleShare | None:
    definite = [style for style in map(_definite_style, names) if style is not None]
    if not definite:
        return None
    counts = Counter(definite)
    style = dominant if counts[dominant] else counts.most_common(1)[0][0]
    return StyleShare(
        kind=kind, style=style, share=round(counts[style] / len(definite), 3), samples=len(definite)
    )


@functools.lru_cache(maxsize=1 << 16)
def _fitting_styles(name: str) -> tuple[str, ...]:
    # Names repeat across a tree and across its re-analyses: each is classified once.
    fitting = [style for style in NAMING_STYLES if fits_style(name, style)]
    if _KEBAB.fullmatch(name.strip("_")):
        fitting.append(KEBAB_CASE)
    return tuple(fitting)


@functools.lru_cache(maxsize=1 << 16)
def _name_words(name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A name's lowercase parts, and its stemmed domain words (no stop words, no verbs)."""
    parts = tuple(identifier_parts(name))
    domain = tuple(
        word
        for word in map(stem, parts)
        if len(word) > 2 and word not in STOP_WORDS and word not in VERBS
    )
    return parts, domain


def _dominant(names: Sequence[str], default: str) -> str:
    votes: Counter[str] = Counter()
    for name in names:
        votes.update(_fitting_styles(name))
    if not votes:
        return default
    # On a tie the default wins, so that a small sample does not overturn PEP 8 by accident.
    return max(votes, key=lambda style: (votes[style], style == default))


def measure_naming(
    files: Sequence[tuple[str, FileFacts]], language: str, is_test: frozenset[str]
) -> tuple[NamingConventions, NamingPatterns]:
    """Measure a repository's naming in one language.

    Args:
        files: (repo-relative path, facts) of the repository's own files of every language.
        language: the language whose names are measured (``python``, ``javascript``...).
        is_test: the paths among ``files`` that are tests.

    Returns:
        The dominant style per kind (what the name step enforces) and the measured patterns:
        each kind's style with its share, the share of verb-first function names, the most
        used leading verbs and the domain vocabulary.
    """
    names: dict[str, list[str]] = {"function": [], "class": [], "constant": [], "module": []}
    test_files: list[str] = []
    leading: Counter[str] = Counter()
    multiword = 0
    vocabulary: Counter[str] = Counter()
    for path, facts in files:
        if facts.language != language:
            continue
        file_name = path.rpartition("/")[2]
        stem_name = file_name.split(".", 1)[0]
        if path in is_test:
            test_files.append(file_name)
            continue
        if not is_dunder(stem_name) and stem_name != "index":
            names["module"].append(stem_name)
        for definition in facts.definitions:
            bare = definition.bare_name
            if is_dunder(bare):
                continue
            kind = "function" if definition.kind == "method" else definition.kind
            names[kind].append(bare)
            parts, domain = _name_words(bare)
            if kind == "function" and len(parts) > 1:
                multiword += 1
                if parts[0] in VERBS:
                    leading[parts[0]] += 1
            if kind != "constant":
                vocabulary.update(domain)
    defaults = _language_defaults(language)
    conventions = NamingConventions(
        function_style=_dominant(names["function"], defaults.function_style),
        class_style=_dominant(names["class"], defaults.class_style),
        constant_style=_dominant(names["constant"], defaults.constant_style),
        module_style=_dominant(names["module"], defaults.module_style),
        samples=sum(len(v) for v in names.values()),
    )
    dominant = {
        "function": conventions.function_style,
        "class": conventions.class_style,
        "constant": conventions.constant_style,
        "module": conventions.module_style,
    }
    shares = [_share(kind, names[kind], dominant[kind]) for kind in names]
    test_share = _test_file_share(test_files)
    patterns = NamingPatterns(
        shares=tuple(s for s in [*shares, test_share] if s is not None),
        verb_first_share=round(sum(leading.values()) / multiword, 3) if multiword else None,
        common_verbs=tuple(verb for verb, _ in leading.most_common(_COMMON_VERBS)),
        vocabulary=tuple(word for word, _ in vocabulary.most_common(_VOCABULARY_SIZE)),
    )
    return conventions, patterns


def _language_defaults(language: str) -> NamingConventions:
    if language in ("javascript", "typescript"):
        return NamingConventions(
            function_style=CAMEL_CASE,
            class_style=PASCAL_CASE,
            constant_style=UPPER_SNAKE_CASE,
            module_style=CAMEL_CASE,
        )
    return NamingConventions(
        function_style=SNAKE_CASE,
        class_style=PASCAL_CASE,
        constant_style=UPPER_SNAKE_CASE,
        module_style=SNAKE_CASE,
    )


_TEST_PATTERNS = (
    ("test_*", re.compile(r"test_.+")),
    ("*_test", re.compile(r".+_test")),
    ("*.test", re.compile(r".+\.test")),
    ("*.spec", re.compile(r".+\.spec")),
)


def dominant_test_pattern(names: Sequence[str]) -> tuple[str, int] | None:
    """The most used test file naming (``test_*.py``, ``*.test.ts``) and how many follow it."""
    counts: Counter[str] = Counter()
    for name in names:
        base, dot, suffix = name.rpartition(".")
        for pattern, regex in _TEST_PATTERNS:
            if regex.fullmatch(base):
                counts[f"{pattern}{dot}{suffix}"] += 1
                break
    if not counts:
        return None
    return counts.most_common(1)[0]


def _test_file_share(names: Sequence[str]) -> StyleShare | None:
    found = dominant_test_pattern(names)
    if found is None:
        return None
    pattern, count = found
    return StyleShare(
        kind="test_file", style=pattern, share=round(count / len(names), 3), samples=len(names)
    )

"""The words of code and requests, as the lexical ranking compares them.

Identifiers are split at ``snake_case`` and ``camelCase`` boundaries and lightly stemmed, so that
``slugify_title`` in a request finds ``Titles`` and ``slug`` in a module.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORD_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")

# Words every request or source file uses; matching on them would rank files by noise.
_STOP_WORDS_TEXT = """
    about add after all also and any are but can class code could create def does each every
    false file for from function get given has have how implement import into its let make
    method module new none not one only pass return self should something such take than that
    the their them then there these this those true use used using value was way what when
    where which while will with would write
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())


def stem(word: str) -> str:
    """Fold a lowercase word just enough that "titles" finds "title", "utilities" "utility"."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def identifier_parts(identifier: str) -> list[str]:
    """The lowercase words of one identifier: ``parseHTTPHeader`` -> parse, http, header."""
    return [part.lower() for part in _WORD_PART.findall(identifier)]


def words(text: str) -> Iterator[str]:
    """The meaningful stemmed words of text or code: no stop words, digits or short words."""
    for identifier in _IDENTIFIER.findall(text):
        yield from split_identifier(identifier)


@functools.lru_cache(maxsize=1 << 16)
def split_identifier(identifier: str) -> tuple[str, ...]:
    """The meaningful stemmed words of one identifier (see :func:`words`)."""
    # Code repeats its identifiers: splitting each once makes a large tree's analysis cheap.
    return tuple(_meaningful(_WORD_PART.findall(identifier)))


def _meaningful(parts: Iterable[str]) -> Iterator[str]:
    for part in parts:
        word = part.lower()
        if len(word) < 3 or word in STOP_WORDS or word.isdigit():
            continue
        stemmed = stem(word)
        if stemmed not in STOP_WORDS:
            yield stemmed


def description_words(description: str) -> set[str]:
    """The distinct meaningful words of a request, split from snake_case and camelCase."""
    return set(words(description))

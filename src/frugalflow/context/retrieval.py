"""Which existing definitions a request is about: lexical ranking over what each one says.

Each function, method and class is a document of its name's words (weighted), its docstring's
and its body's identifiers (:mod:`frugalflow.context.facts`), scored with BM25 against the
request's words, plus a bonus for a word in its file's path. No model ships offline that would
embed code better than this on this machine's budget, so there are no embeddings: the ranking
works the same for every language and needs no index beyond the per-file facts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from frugalflow.context.facts import DefinitionFacts, FileFacts
from frugalflow.context.words import words

# BM25's usual parameters, which keep long definitions from winning on size alone.
_BM25_K1 = 1.2
_BM25_B = 0.75
# A request word in the definition's file path says more than one buried in its body.
_PATH_WEIGHT = 1.5
# Tests show how code is called, but new code is modelled on (and reuses) the source.
_TEST_FACTOR = 0.3
_RANKED_KINDS = frozenset({"function", "method", "class"})


@dataclass(frozen=True, slots=True)
class Match:
    """A definition and how well it matches a request."""

    path: str
    definition: DefinitionFacts
    score: float
    is_test: bool


def rank_definitions(
    files: Sequence[tuple[str, FileFacts]],
    query: set[str],
    language: str,
    tests: frozenset[str],
    *,
    limit: int = 40,
) -> list[Match]:
    """Rank a repository's definitions by how well they match a request's words.

    Args:
        files: (repo-relative path, facts) of the repository's own files.
        query: the request's words (:func:`frugalflow.context.words.description_words`).
        language: only definitions in files of this language are ranked.
        tests: the paths among ``files`` that are tests; their definitions count less.
        limit: the most matches returned.

    Returns:
        The matches with a positive score, best first (ties in path order).
    """
    documents: list[tuple[str, DefinitionFacts]] = [
        (path, definition)
        for path, facts in files
        if facts.language == language
        for definition in facts.definitions
        if definition.kind in _RANKED_KINDS
    ]
    if not query or not documents:
        return []
    average = sum(d.size for _, d in documents) / len(documents) or 1.0
    frequency = dict.fromkeys(query, 0)
    hits: list[set[str]] = []
    for _, definition in documents:
        found = query.intersection(definition.words)  # in C: the query is a few words
        hits.append(found)
        for word in found:
            frequency[word] += 1
    total = len(documents)
    idf = {w: math.log(1 + (total - n + 0.5) / (n + 0.5)) for w, n in frequency.items()}
    path_words: dict[str, set[str]] = {}
    matches: list[Match] = []
    for (path, definition), found in zip(documents, hits, strict=True):
        if path not in path_words:
            path_words[path] = query.intersection(words(path.replace("/", " ").replace(".", " ")))
        in_path = path_words[path]
        if not found and not in_path:
            continue
        norm = 1 - _BM25_B + _BM25_B * definition.size / average
        score = 0.0
        for word in found:
            count = definition.words[word]
            score += idf[word] * count * (_BM25_K1 + 1) / (count + _BM25_K1 * norm)
        for word in in_path:
            score += _PATH_WEIGHT * idf[word]
        is_test = path in tests
        matches.append(Match(path, definition, score * (_TEST_FACTOR if is_test else 1), is_test))
    matches.sort(key=lambda m: -m.score)
    return matches[:limit]

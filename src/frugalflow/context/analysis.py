"""The repository's files: which ones count, where new code goes, which module is closest.

Everything here reads the working tree only; nothing is written and nothing leaves the machine.
The related-module search is plain text scoring (BM25 over identifiers) so it works the same
for every language and needs no index; the bridge (:mod:`frugalflow.context.bridge`) uses it
for languages whose definitions it does not read.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from frugalflow.context.conventions import is_vendored_path
from frugalflow.context.files import read_text
from frugalflow.context.words import description_words, words
from frugalflow.core.errors import NotAGitRepositoryError
from frugalflow.placement.git import list_files

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 512 * 1024
MAX_LAYOUT_ENTRIES = 200

# Bytes read to decide whether a file is binary; git uses the same NUL-byte heuristic.
_BINARY_SNIFF_BYTES = 8192

_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "python": (".py", ".pyi"),
    "javascript": (".js", ".jsx", ".mjs", ".cjs"),
    "typescript": (".ts", ".tsx", ".mts", ".cts"),
    "go": (".go",),
    "rust": (".rs",),
    "java": (".java",),
    "kotlin": (".kt", ".kts"),
    "c": (".c", ".h"),
    "cpp": (".cpp", ".cc", ".cxx", ".hpp", ".hh", ".h"),
    "c++": (".cpp", ".cc", ".cxx", ".hpp", ".hh", ".h"),
    "csharp": (".cs",),
    "c#": (".cs",),
    "ruby": (".rb",),
    "php": (".php",),
    "swift": (".swift",),
    "scala": (".scala",),
    "shell": (".sh", ".bash"),
    "bash": (".sh", ".bash"),
}

# New code never belongs in these, even when they hold the most files.
_NON_SOURCE_DIRS = frozenset(
    {"tests", "test", "__tests__", "spec", "docs", "doc", "examples", "example", "benchmarks"}
)
_TEST_DIRS = frozenset({"tests", "test", "__tests__", "spec", "specs", "testing"})
_TEST_FILE = re.compile(r"^(test_.*|.*_test\.[^.]+|.*\.(test|spec)\.[^.]+|conftest\.py)$")

# BM25 parameters: the usual defaults, which keep long files from winning on size alone.
_BM25_K1 = 1.2
_BM25_B = 0.75
# A description word in a file's path says more than one buried in its body.
_PATH_WEIGHT = 2.0


def list_repository_files(repo: Path) -> list[str]:
    """List the files git would show for a repository: tracked plus untracked, never ignored.

    Args:
        repo: the repository's working tree (or a directory inside it).

    Returns:
        Sorted repo-relative POSIX paths, without binary files, files over 512 KiB,
        symlinks (they may point outside the repository), files deleted from disk and
        names that are not UTF-8.

    Raises:
        NotAGitRepositoryError: ``repo`` is not inside a git working tree.
    """
    repo = Path(repo)
    if not repo.is_dir():
        raise NotAGitRepositoryError(
            f"{repo} is not a directory; give the path of the repository's top directory"
        )
    # A path appears once per stage while a merge is unresolved, hence the set. A name that is
    # not UTF-8 (Linux names are bytes) cannot go into a prompt, a JSON result or a Prefect
    # parameter: it is left out of the listing, and the file itself is never touched.
    paths = set()
    for raw in list_files(repo):
        try:
            paths.add(raw.decode("utf-8"))
        except UnicodeDecodeError:
            logger.info("left out of the repository listing (name not UTF-8): %r", raw)
    return sorted(p for p in paths if p and not p.startswith(".git/") and _is_small_text(repo / p))


def _is_small_text(path: Path) -> bool:
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
            return False
        with path.open("rb") as handle:
            return b"\0" not in handle.read(_BINARY_SNIFF_BYTES)
    except OSError:
        return False


def source_extensions(language: str) -> tuple[str, ...]:
    """The file extensions of a language; an unknown name is taken as its own extension."""
    language = language.strip().lower()
    return _EXTENSIONS.get(language, (f".{language.lstrip('.')}",))


def _parent(path: str) -> str:
    # String operations, not PurePosixPath: these run for every file of a large tree.
    return path.rpartition("/")[0] or "."


def is_test_path(path: str) -> bool:
    """Tell whether a repo-relative path is a test file or lives in a test directory."""
    *directories, name = path.split("/")
    return bool(_TEST_FILE.match(name)) or any(p in _TEST_DIRS for p in directories)


def find_source_dir(files: Sequence[str], language: str) -> str:
    """Pick the directory where new modules of a language belong.

    Args:
        files: repo-relative POSIX paths, as from :func:`list_repository_files`.
        language: the language of the code to place, e.g. ``"python"``.

    Returns:
        The directory holding most source files of the language, preferring a Python package
        (a directory with ``__init__.py``) at the top level or under ``src/``; never a tests,
        docs or examples directory. ``"."`` when there is no such file.
    """
    extensions = source_extensions(language)
    counts: Counter[str] = Counter()
    packages: set[str] = set()
    for path in files:
        if not path.endswith(extensions) or is_vendored_path(path):
            continue
        *directories, name = path.split("/")
        if any(part in _NON_SOURCE_DIRS for part in directories):
            continue
        directory = _parent(path)
        counts[directory] += 1
        if name == "__init__.py":
            packages.add(directory)
    if not counts:
        return "."

    def preferred(directory: str) -> bool:
        if directory not in packages:
            return False
        top = directory.split("/", 1)[0]
        return top == "src" or top in packages

    # Most files wins; on a tie the shallower directory, as it is the more general home.
    return max(counts, key=lambda d: (preferred(d), counts[d], -d.count("/")))


def find_related_module(
    repo: Path, files: Sequence[str], description: str, language: str
) -> str | None:
    """Find the existing source file most related to a request.

    Args:
        repo: the repository's working tree.
        files: repo-relative POSIX paths to consider.
        description: the request in the user's words.
        language: only files of this language are candidates.

    Returns:
        The repo-relative path of the best match, or None when no candidate shares a word
        with the description. Test files only win when no other file matches at all.
    """
    query = description_words(description)
    extensions = source_extensions(language)
    candidates = [p for p in files if p.endswith(extensions) and not is_vendored_path(p)]
    if not query or not candidates:
        return None

    bodies = {p: Counter(words(read_text(Path(repo), p) or "")) for p in candidates}
    path_words = {p: set(words(p.replace("/", " "))) for p in candidates}
    average_length = sum(b.total() for b in bodies.values()) / len(bodies) or 1.0
    document_frequency = Counter(w for p in candidates for w in query & (bodies[p].keys()))

    def idf(word: str) -> float:
        seen = document_frequency[word]
        return math.log(1 + (len(candidates) - seen + 0.5) / (seen + 0.5))

    def score(path: str) -> float:
        body = bodies[path]
        length_factor = 1 - _BM25_B + _BM25_B * body.total() / average_length
        total = 0.0
        for word in query:
            frequency = body[word]
            if frequency:
                saturation = frequency * (_BM25_K1 + 1) / (frequency + _BM25_K1 * length_factor)
                total += idf(word) * saturation
            if word in path_words[path]:
                total += _PATH_WEIGHT * idf(word)
        return total

    scores = {p: score(p) for p in candidates}
    best = max(candidates, key=lambda p: (scores[p] > 0, not is_test_path(p), scores[p]))
    return best if scores[best] > 0 else None


def _tree_distance(directory: str, source_dir: str) -> int:
    here = [] if directory == "." else directory.split("/")
    there = [] if source_dir == "." else source_dir.split("/")
    shared = 0
    for a, b in zip(here, there, strict=False):
        if a != b:
            break
        shared += 1
    return len(here) + len(there) - 2 * shared


def nearest_first(files: Sequence[str], source_dir: str) -> list[str]:
    """The project's own files (vendored and hidden directories left out), nearest the
    source directory first, then by path."""
    # Virtualenvs and build output say nothing about where code belongs and would crowd a
    # small model's context window; a prompt shows only the project's own files.
    own = [path for path in files if not is_vendored_path(path)]
    return sorted(own, key=lambda p: (_tree_distance(_parent(p), source_dir), p))

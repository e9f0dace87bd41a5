"""What the cheap model is shown about a repository: its layout, source dir and closest module.

Everything here reads the working tree only; nothing is written and nothing leaves the machine.
The related-module search is plain text scoring (BM25 over identifiers) so it works the same
for every language and needs no index.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from frugalflow.context.conventions import detect_naming_conventions, is_vendored_path
from frugalflow.core.errors import NotAGitRepositoryError
from frugalflow.core.schemas import GenerationContext
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
_STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())

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
    parent = str(PurePosixPath(path).parent)
    return parent if parent else "."


def is_test_path(path: str) -> bool:
    """Tell whether a repo-relative path is a test file or lives in a test directory."""
    pure = PurePosixPath(path)
    return bool(_TEST_FILE.match(pure.name)) or any(p in _TEST_DIRS for p in pure.parts[:-1])


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
        pure = PurePosixPath(path)
        if not path.endswith(extensions) or is_vendored_path(path):
            continue
        if any(part in _NON_SOURCE_DIRS for part in pure.parts[:-1]):
            continue
        directory = _parent(path)
        counts[directory] += 1
        if pure.name == "__init__.py":
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


def _words(text: str) -> Iterable[str]:
    for identifier in _IDENTIFIER.findall(text):
        for part in _WORD_PART.findall(identifier):
            word = part.lower()
            if len(word) < 3 or word in _STOP_WORDS or word.isdigit():
                continue
            stem = _stem(word)
            if stem not in _STOP_WORDS:
                yield stem


def _stem(word: str) -> str:
    # Just enough folding that "titles" finds "title" and "utilities" finds "utility".
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def description_words(description: str) -> set[str]:
    """The distinct meaningful words of a request, split from snake_case and camelCase."""
    return set(_words(description))


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


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

    bodies = {p: Counter(_words(_read_text(Path(repo) / p))) for p in candidates}
    path_words = {p: set(_words(p.replace("/", " "))) for p in candidates}
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


def _cap_layout(files: Sequence[str], source_dir: str, limit: int) -> tuple[str, ...]:
    # Virtualenvs and build output say nothing about where code belongs and would crowd a
    # small model's context window; a prompt shows only the project's own files.
    own = [path for path in files if not is_vendored_path(path)]
    if len(own) <= limit:
        return tuple(own)
    nearest = sorted(own, key=lambda p: (_tree_distance(_parent(p), source_dir), p))[:limit]
    return tuple(sorted(nearest))


def truncate_to_tokens(source: str, max_tokens: int) -> str:
    """Cut source text at a line boundary so that it fits about ``max_tokens`` tokens."""
    from frugalflow.money.tokens import count_tokens

    if count_tokens(source) <= max_tokens:
        return source
    kept: list[str] = []
    used = 0
    for line in source.splitlines(keepends=True):
        # Summing per-line counts slightly overestimates; staying under budget is the point.
        cost = count_tokens(line)
        if used + cost > max_tokens:
            break
        kept.append(line)
        used += cost
    return "".join(kept)


def build_context(
    repo: Path, description: str, language: str = "python", *, max_related_tokens: int = 1500
) -> GenerationContext:
    """Gather what a model needs to write code that fits a repository.

    Args:
        repo: the target repository's working tree.
        description: the request in the user's words.
        language: the language of the code to write.
        max_related_tokens: the most tokens of the related module's source to include.

    Returns:
        The layout (at most 200 files, those nearest the source dir kept), the source dir,
        the related module and its (possibly truncated) source, the naming conventions and the
        token count of the layout plus related source.

    Raises:
        NotAGitRepositoryError: ``repo`` is not inside a git working tree.
    """
    from frugalflow.money.tokens import count_tokens

    language = language.strip().lower()
    files = list_repository_files(repo)
    source_dir = find_source_dir(files, language)
    layout = _cap_layout(files, source_dir, MAX_LAYOUT_ENTRIES)
    related_path = find_related_module(repo, files, description, language)
    related_source = None
    if related_path is not None:
        related_source = truncate_to_tokens(
            _read_text(Path(repo) / related_path), max(max_related_tokens, 0)
        )
    prompt_part = "\n".join(layout) + "\n" + (related_source or "")
    return GenerationContext(
        language=language,
        file_layout=layout,
        source_dir=source_dir,
        related_path=related_path,
        related_source=related_source,
        naming=detect_naming_conventions(repo, files),
        token_count=count_tokens(prompt_part),
    )


@functools.lru_cache(maxsize=32)
def context_for_state(repo: Path, description: str, language: str, state: str) -> GenerationContext:
    """:func:`build_context`, computed once per repository state in this process.

    The estimate step builds the prompt that will really be sent, context included, and the
    context fetch step needs the same answer a moment later: ``state`` (a digest of the
    repository's content, :func:`frugalflow.placement.git.content_digest`) makes the second
    call free and any change to the tree a new entry.
    """
    return build_context(repo, description, language)

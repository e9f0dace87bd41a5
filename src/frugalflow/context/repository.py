"""A repository's analysis for one language: what its files say, whatever the request."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from frugalflow.context.analysis import (
    MAX_FILE_BYTES,
    find_source_dir,
    is_test_path,
    nearest_first,
)
from frugalflow.context.facts import FileFacts, analyse_file
from frugalflow.context.files import inside
from frugalflow.context.naming_stats import measure_naming
from frugalflow.context.standards import config_reader, measure_standards, read_configuration
from frugalflow.context.structure import describe_structure
from frugalflow.core.schemas import (
    NamingConventions,
    NamingPatterns,
    ProjectStandards,
    StructureConventions,
)

# Bytes read to decide whether a file is binary; git uses the same NUL-byte heuristic.
_BINARY_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class RepositoryAnalysis:
    """What a repository's content says for one language, whatever the request."""

    files: list[tuple[str, FileFacts]]
    tests: frozenset[str]
    source_dir: str
    layout: list[str]  # the readable own files, nearest the source dir first
    naming: NamingConventions
    patterns: NamingPatterns
    structure: StructureConventions
    standards: ProjectStandards


def read_facts(repo: Path, path: str, *, deep: bool = True) -> FileFacts:
    """A file's facts, read from disk; unreadable, binary or too large: not ``readable``.

    Args:
        repo: the working tree.
        path: the file, relative to it.
        deep: read its code (definitions, imports, docstrings); False: only whether it is a
            readable text file, for a file of another language than the request's.
    """
    unreadable = FileFacts(language="", parsed=False, lines=0, readable=False)
    real = inside(repo, path)  # never a file reached through a symlink out of the repository
    if real is None:
        return unreadable
    try:
        with real.open("rb") as handle:
            if not deep:
                size = os.fstat(handle.fileno()).st_size
                text = size <= MAX_FILE_BYTES and b"\0" not in handle.read(_BINARY_SNIFF_BYTES)
                return FileFacts(language="", parsed=False, lines=0) if text else unreadable
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError:
        return unreadable
    if len(data) > MAX_FILE_BYTES or b"\0" in data[:_BINARY_SNIFF_BYTES]:
        return unreadable
    return analyse_file(path, data.decode("utf-8", errors="replace"))


def analyse_repository(
    repo: Path, files: list[tuple[str, FileFacts]], language: str
) -> RepositoryAnalysis:
    """What a repository's files (path, facts) say for one language, whatever the request."""
    paths = [path for path, _ in files]
    tests = frozenset(path for path in paths if is_test_path(path))
    source_dir = find_source_dir(paths, language)
    naming, patterns = measure_naming(files, language, tests)
    return RepositoryAnalysis(
        files=files,
        tests=tests,
        source_dir=source_dir,
        layout=nearest_first(paths, source_dir),
        naming=naming,
        patterns=patterns,
        structure=describe_structure(files, language, tests, source_dir),
        standards=measure_standards(files, tests, read_configuration(config_reader(repo))),
    )

"""The semantic bridge: one repository context per request, built once per repository content.

:class:`ContextBridge` is what the flow calls in process and what ``frugalflow bridge serve``
serves over HTTP (:mod:`frugalflow.context.http`); both build the same
:class:`~frugalflow.core.schemas.GenerationContext`. A build takes four steps:

1. a snapshot of the repository (:mod:`frugalflow.context.snapshot`): every file and its content
   hash, uncommitted work included. Its fingerprint and the request make the context's key;
2. each file's facts (:mod:`frugalflow.context.facts`), reused by content hash from memory or
   from the disk cache, so that only new or changed files are read;
3. the repository's analysis for the language: naming with shares, structure, standards
   (kept in memory per fingerprint);
4. the request's part: the definitions the request is about (:mod:`frugalflow.context.retrieval`)
   as examples and reuse hints, fitted with the rest into the token budget
   (:mod:`frugalflow.context.optimizer`).

Built contexts are kept in memory and on disk by key; a hit costs the snapshot (two git
commands). Not booked in the ledger: its records are model calls (a provider, a model, a
tier), and a context is built without one, so a hit saves time, not tokens.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from frugalflow.context.analysis import (
    MAX_LAYOUT_ENTRIES,
    find_related_module,
)
from frugalflow.context.conventions import is_vendored_path
from frugalflow.context.facts import FileFacts, language_of
from frugalflow.context.files import read_text
from frugalflow.context.optimizer import SEPARATOR, Candidates, fit_to_budget
from frugalflow.context.render import render_context, render_conventions
from frugalflow.context.repository import RepositoryAnalysis, analyse_repository, read_facts
from frugalflow.context.retrieval import rank_definitions
from frugalflow.context.selection import related_examples, reuse_hints, selected_module
from frugalflow.context.snapshot import RepositorySnapshot, take_snapshot
from frugalflow.context.store import ContextStore
from frugalflow.context.structure import source_root
from frugalflow.context.words import description_words
from frugalflow.core.errors import NotAGitRepositoryError, RequestError
from frugalflow.core.models import parse_address
from frugalflow.core.schemas import (
    GenerationContext,
    Tier,
)
from frugalflow.core.settings import Settings

KEY_VERSION = "context-v4"  # bump when what a context holds for the same inputs changes

# What the embedded model's default window (4,096 tokens) leaves for the context: less the
# reply (max_output_tokens, 768) and the rest of the prompt (instructions, task, examples).
PROMPT_RESERVE_TOKENS = 800
DEFAULT_BUDGET_TOKENS = 4096 - 768 - PROMPT_RESERVE_TOKENS
# The window assumed for a cascade of remote models only: enough for the whole context at a
# price a cheap API model makes negligible.
REMOTE_CONTEXT_TOKENS = 8192
_LANGUAGES_WITH_FACTS = frozenset({"python", "javascript", "typescript"})
_MEMORY_CONTEXTS = 64
_MEMORY_ANALYSES = 8


class ContextRequest(BaseModel):
    """What a context is built for: a repository, a request's words, a budget.

    Attributes:
        repo: the repository's working tree (absolute; ``~`` is expanded).
        description: the request in the user's words.
        language: the language of the code to write.
        target: the file the code will go to, relative to the repository, if known.
        budget_tokens: the most tokens the context may take in the prompt; by default what
            the embedded model's window leaves (:data:`DEFAULT_BUDGET_TOKENS`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    repo: Path
    description: str = Field(min_length=1, max_length=20_000)
    language: str = Field(default="python", min_length=1, max_length=40)
    target: str | None = None
    budget_tokens: int | None = Field(default=None, ge=0, le=1_000_000)

    @field_validator("repo")
    @classmethod
    def _absolute(cls, repo: Path) -> Path:
        repo = repo.expanduser()
        if not repo.is_absolute():
            raise ValueError(f"repo must be an absolute path, not {str(repo)!r}")
        return repo

    @field_validator("language")
    @classmethod
    def _lowercase(cls, language: str) -> str:
        return language.strip().lower()


class CachedContext(BaseModel):
    """A context the bridge holds, as ``GET /context/cached`` lists it."""

    model_config = ConfigDict(frozen=True)

    key: str
    repo: str
    description: str
    language: str
    budget_tokens: int
    repository_state: str
    token_count: int
    built_at: datetime
    build_ms: float = Field(ge=0)
    hits: int = Field(ge=0)


@dataclass
class BridgeStats:
    """What the bridge did since it started."""

    builds: int = 0
    memory_hits: int = 0
    disk_hits: int = 0
    files_read: int = 0


def context_budget(window_tokens: int, max_output_tokens: int) -> int:
    """The tokens a context may take in a prompt on a model with this window and reply size."""
    return max(window_tokens - max_output_tokens - PROMPT_RESERVE_TOKENS, 0)


def budget_for(settings: Settings) -> int:
    """The context budget of a cascade: one context serves every attempt, so it must fit the
    smallest window, the local models' (``local_context_tokens``) when the cascade has one;
    otherwise :data:`REMOTE_CONTEXT_TOKENS` (what it costs on a paid model, not its window,
    is the limit there)."""
    local = any(parse_address(model).tier is Tier.LOCAL for model in settings.models)
    window = settings.local_context_tokens if local else REMOTE_CONTEXT_TOKENS
    return context_budget(window, settings.max_output_tokens)


class ContextBridge:
    """Builds and caches repository contexts.

    Args:
        cache_dir: the directory of the disk cache (``<cache_dir>/context``); None keeps the
            caches in memory only.
        roots: the repositories it may read; empty means any.
    """

    def __init__(self, cache_dir: Path | None = None, roots: Iterable[Path] = ()) -> None:
        self.store = ContextStore(cache_dir / "context") if cache_dir is not None else None
        self.roots = tuple(Path(r).expanduser().resolve() for r in roots)
        self.stats = BridgeStats()
        self._lock = threading.RLock()
        self._facts: dict[str, FileFacts] = {}
        self._disk_loaded: set[Path] = set()
        self._analyses: OrderedDict[tuple[str, str, str], RepositoryAnalysis] = OrderedDict()
        self._contexts: OrderedDict[str, tuple[CachedContext, GenerationContext]] = OrderedDict()

    def allowed(self, repo: Path) -> Path:
        """The repository's resolved path, if this bridge may read it.

        Raises:
            RequestError: the path is outside the repositories the bridge was started for.
            NotAGitRepositoryError: it is not a directory.
        """
        resolved = Path(repo).expanduser().resolve()
        if self.roots and not any(resolved.is_relative_to(root) for root in self.roots):
            served = ", ".join(str(r) for r in self.roots)
            raise RequestError(
                f"{resolved} is outside the repositories this bridge serves ({served}); "
                "start it with --repo for that repository too"
            )
        if not resolved.is_dir():
            raise NotAGitRepositoryError(
                f"{resolved} is not a directory; give the path of the repository's top directory"
            )
        return resolved

    def context(self, request: ContextRequest) -> GenerationContext:
        """The context for a request: from the cache when the repository's content and the
        request are unchanged, built otherwise (only changed files are read again).

        Raises:
            RequestError: the repository is outside the bridge's roots.
            NotAGitRepositoryError: it is not a git working tree.
        """
        repo = self.allowed(request.repo)
        snapshot = take_snapshot(repo)
        budget = DEFAULT_BUDGET_TOKENS if request.budget_tokens is None else request.budget_tokens
        key = _context_key(repo, snapshot.fingerprint, request, budget)
        with self._lock:
            cached = self._remembered(key)
            if cached is not None:
                return cached
        started = time.perf_counter()
        context = self._build(repo, snapshot, request, budget)
        entry = CachedContext(
            key=key,
            repo=str(repo),
            description=request.description,
            language=request.language,
            budget_tokens=budget,
            repository_state=snapshot.fingerprint,
            token_count=context.token_count,
            built_at=datetime.now(UTC),
            build_ms=round((time.perf_counter() - started) * 1000, 2),
            hits=0,
        )
        with self._lock:
            self.stats.builds += 1
            self._remember(key, entry, context)
        if self.store is not None:
            self.store.save_context(
                key,
                {
                    "entry": entry.model_dump(mode="json"),
                    "context": context.model_dump(mode="json"),
                },
            )
        return context

    def cached(self) -> list[CachedContext]:
        """The contexts held in memory, most recently used first."""
        with self._lock:
            return [entry for entry, _ in reversed(self._contexts.values())]

    def _remembered(self, key: str) -> GenerationContext | None:
        held = self._contexts.get(key)
        if held is not None:
            self.stats.memory_hits += 1
            entry, context = held
            self._contexts[key] = (entry.model_copy(update={"hits": entry.hits + 1}), context)
            self._contexts.move_to_end(key)
            return context
        stored = self.store.load_context(key) if self.store is not None else None
        if stored is None:
            return None
        try:
            entry = CachedContext.model_validate(stored["entry"])
            context = GenerationContext.model_validate(stored["context"])
        except (KeyError, TypeError, ValidationError):
            return None
        self.stats.disk_hits += 1
        self._remember(key, entry.model_copy(update={"hits": entry.hits + 1}), context)
        return context

    def _remember(self, key: str, entry: CachedContext, context: GenerationContext) -> None:
        self._contexts[key] = (entry, context)
        self._contexts.move_to_end(key)
        while len(self._contexts) > _MEMORY_CONTEXTS:
            self._contexts.popitem(last=False)

    def analyse(
        self, repo: Path, snapshot: RepositorySnapshot, language: str
    ) -> RepositoryAnalysis:
        """The repository's analysis for a language, kept in memory per content fingerprint."""
        key = (str(repo), snapshot.fingerprint, language)
        with self._lock:
            held = self._analyses.get(key)
            if held is not None:
                self._analyses.move_to_end(key)
                return held
        files = self._file_facts(repo, snapshot, language)
        analysis = analyse_repository(repo, files, language)
        with self._lock:
            self._analyses[key] = analysis
            while len(self._analyses) > _MEMORY_ANALYSES:
                self._analyses.popitem(last=False)
        return analysis

    def _file_facts(
        self, repo: Path, snapshot: RepositorySnapshot, language: str
    ) -> list[tuple[str, FileFacts]]:
        """Every own file's facts: its code read for files of ``language``, only whether it
        is readable text for the others (its layout entry needs no more)."""
        with self._lock:
            if self.store is not None and repo not in self._disk_loaded:
                self._disk_loaded.add(repo)
                for key, facts in self.store.load_facts(repo).items():
                    self._facts.setdefault(key, facts)
        found: list[tuple[str, FileFacts]] = []
        current: dict[str, FileFacts] = {}
        read: list[str] = []
        for path in sorted(snapshot.hashes):
            if is_vendored_path(path):
                continue
            deep = language_of(path) == language
            key = f"{language if deep else ''}:{snapshot.hashes[path]}"
            held = self._facts.get(key)
            if held is None:
                facts = self._facts[key] = read_facts(repo, path, deep=deep)
                read.append(key)
            else:
                facts = held
            current[key] = facts
            if facts.readable:
                found.append((path, facts))
        self.stats.files_read += len(read)
        if read and self.store is not None:
            self.store.save_facts(repo, current, read)
        return found

    def _build(
        self, repo: Path, snapshot: RepositorySnapshot, request: ContextRequest, budget: int
    ) -> GenerationContext:
        from frugalflow.money.tokens import count_tokens

        language = request.language
        analysis = self.analyse(repo, snapshot, language)
        query = description_words(f"{request_words(request.description)} {request.target or ''}")
        matches = rank_definitions(analysis.files, query, language, analysis.tests)
        related_path = selected_module(matches)
        if related_path is None and language not in _LANGUAGES_WITH_FACTS:
            paths = [path for path, _ in analysis.files]
            related_path = find_related_module(repo, paths, request.description, language)
        related_source = read_text(repo, related_path) if related_path else None
        candidates = Candidates(
            conventions=render_conventions(
                analysis.patterns, analysis.structure, analysis.standards, language
            ),
            hints=reuse_hints(matches, language, source_root(analysis.structure)),
            examples=related_examples(repo, matches),
            layout=analysis.layout,
            related_path=related_path,
            related_source=related_source,
            tag=language,
        )
        fitted = fit_to_budget(candidates, budget, count_tokens)
        context = GenerationContext(
            language=language,
            file_layout=tuple(sorted(analysis.layout[:MAX_LAYOUT_ENTRIES])),
            source_dir=analysis.source_dir,
            related_path=related_path if fitted.related_source else None,
            related_source=fitted.related_source,
            naming=analysis.naming,
            naming_patterns=analysis.patterns,
            structure=analysis.structure,
            standards=analysis.standards,
            examples=tuple(fitted.examples),
            hints=tuple(fitted.hints),
            shown_layout=tuple(fitted.layout),
            budget_tokens=budget,
            parts=tuple(fitted.parts),
            repository_state=snapshot.fingerprint,
        )
        # The exact count of the text the prompt shows, as it joins the parts.
        shown = SEPARATOR.join(render_context(context))
        return context.model_copy(update={"token_count": count_tokens(shown) if shown else 0})


_WRITTEN_CALL = re.compile(r"\b([A-Za-z_]\w*)\(([^()]*)\)")


def request_words(description: str) -> str:
    """A request's words without the parameters of the signatures it writes out: in
    ``sum_digits(text)`` the function's name says what the code is about, ``text`` (which
    every text helper takes) would rank unrelated helpers first."""
    return _WRITTEN_CALL.sub(lambda match: match.group(1), description)


def _context_key(repo: Path, fingerprint: str, request: ContextRequest, budget: int) -> str:
    parts = [KEY_VERSION, str(repo), fingerprint, request.description, request.language]
    parts += [request.target or "", str(budget)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()

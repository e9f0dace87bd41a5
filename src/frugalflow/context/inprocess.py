"""The bridge the flow uses in this process, and the plain entry points to it."""

from __future__ import annotations

import threading
from pathlib import Path

from frugalflow.context.bridge import ContextBridge, ContextRequest, budget_for
from frugalflow.core.errors import ConfigurationError
from frugalflow.core.schemas import GenerationContext
from frugalflow.core.settings import load_settings

_default_bridge: ContextBridge | None = None
_default_lock = threading.Lock()


def default_bridge() -> ContextBridge:
    """The process's bridge, the flow's: any repository, disk cache under the settings'
    ``cache_dir`` (``$XDG_CACHE_HOME/frugalflow``)."""
    global _default_bridge
    with _default_lock:
        if _default_bridge is None:
            _default_bridge = ContextBridge(cache_dir=load_settings().cache_dir)
        return _default_bridge


def build_context(
    repo: Path,
    description: str,
    language: str = "python",
    *,
    budget_tokens: int | None = None,
    target: str | None = None,
) -> GenerationContext:
    """Gather what a model needs to write code that fits a repository, without any cache.

    Args:
        repo: the target repository's working tree.
        description: the request in the user's words.
        language: the language of the code to write.
        budget_tokens: the most tokens the context may take in the prompt; by default
            :data:`frugalflow.context.bridge.DEFAULT_BUDGET_TOKENS`.
        target: the file the code will go to, if known.

    Returns:
        The context: layout (at most 200 files, those nearest the source dir kept), source
        dir, naming, structure, standards, related examples and reuse hints, the related
        module (possibly cut), each part fitted into the budget with its tokens.

    Raises:
        NotAGitRepositoryError: ``repo`` is not inside a git working tree.
    """
    request = _request(repo, description, language, budget_tokens, target)
    return ContextBridge().context(request)


def context_for_state(
    repo: Path,
    description: str,
    language: str,
    state: str = "",
    *,
    budget_tokens: int | None = None,
    target: str | None = None,
) -> GenerationContext:
    """The context of :func:`build_context` from the process's bridge: built once per
    repository content and request, then answered from its caches.

    The budget, unless given, is what the repository's settings leave in the cascade's
    smallest window (:func:`frugalflow.context.bridge.budget_for`): the embedded model's
    4,096-token window by default.

    The estimate step builds the prompt that will really be sent, context included, and the
    context fetch step needs the same answer a moment later: the second call is a cache hit.
    ``state`` (a digest of the repository's content the caller has) is accepted for the
    callers that key on it; the bridge keys on its own snapshot of the content.
    """
    del state  # the bridge's own fingerprint is the key
    if budget_tokens is None:
        budget_tokens = settings_budget(repo)
    return default_bridge().context(_request(repo, description, language, budget_tokens, target))


def settings_budget(repo: Path) -> int | None:
    """The context budget the repository's settings give (None: they do not load, and the
    bridge's default serves; the flow reports bad settings itself)."""
    try:
        return budget_for(load_settings(repo))
    except ConfigurationError:
        return None


def _request(
    repo: Path,
    description: str,
    language: str,
    budget_tokens: int | None,
    target: str | None = None,
) -> ContextRequest:
    # A relative path is taken from the current directory here, as a caller in process means.
    return ContextRequest(
        repo=Path(repo).expanduser().resolve(),
        description=description,
        language=language,
        budget_tokens=budget_tokens,
        target=target,
    )

"""Step 3, context fetch: what the model must know about the repository to write code that fits.

The semantic bridge (:mod:`frugalflow.context`) builds it: naming with its measured shares,
structure, standards, related examples and reuse hints, fitted into the token budget the
embedded model's window leaves. The bridge caches it by the repository's content (every file's
hash, uncommitted work included) and the request, in this process and on disk; the estimate
step asked for the same context a moment before, so here it is a cache hit. Prefect's own cache
keeps the step's result under the same kind of key, for runs in other processes.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from frugalflow.context.inprocess import context_for_state, settings_budget
from frugalflow.context.snapshot import take_snapshot
from frugalflow.core.schemas import CodeRequest, GenerationContext
from frugalflow.tasks import step

if TYPE_CHECKING:
    from prefect.context import TaskRunContext

CACHE_VERSION = "context-v4"  # bump when the context's output or its module path changes


def context_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Prefect cache key: the repository's content fingerprint + the request's words +
    language + target + the context budget its settings give (settings outside the
    repository, the user's file or the environment, can change it)."""
    request: CodeRequest = parameters["request"]
    repo = Path(request.repo).resolve()
    key = "\0".join(
        [
            CACHE_VERSION,
            str(repo),
            take_snapshot(repo).fingerprint,
            request.description,
            request.language,
            request.target or "",
            str(settings_budget(repo)),
        ]
    )
    return hashlib.sha256(key.encode()).hexdigest()


def fetch_context(request: CodeRequest) -> GenerationContext:
    """The bridge's context for this request (see :class:`frugalflow.context.ContextBridge`);
    a cache hit when the estimate step just built it for the same repository content."""
    return context_for_state(
        Path(request.repo), request.description, request.language, target=request.target
    )


fetch_context_task = step(
    "context fetch",
    cache_key_fn=context_cache_key,
    cache_expiration=timedelta(days=7),
    persist_result=True,
)(fetch_context)

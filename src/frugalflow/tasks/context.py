"""Step 3, context fetch: what the model must know about the repository to write code that fits.

Reading and scoring a repository is the slowest pure step on a large tree, and its answer only
changes when the tree does, so it is cached under a key made of the repository's state (HEAD
commit plus the status of uncommitted files) and the request's words.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

from prefect.context import TaskRunContext

from frugalflow.context import context_for_state
from frugalflow.core.schemas import CodeRequest, GenerationContext
from frugalflow.placement.git import content_digest
from frugalflow.tasks import step

CACHE_VERSION = "context-v2"  # bump when build_context's output or its module path changes


def context_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Prefect cache key: repository state + the request's words + language."""
    request: CodeRequest = parameters["request"]
    key = "\0".join(
        [
            CACHE_VERSION,
            str(Path(request.repo).resolve()),
            content_digest(Path(request.repo)),
            request.description,
            request.language,
            request.target or "",
        ]
    )
    return hashlib.sha256(key.encode()).hexdigest()


def fetch_context(request: CodeRequest) -> GenerationContext:
    """Analyse the target repository for this request (see :func:`build_context`); free when
    the estimate step just did it for the same repository state."""
    repo = Path(request.repo)
    return context_for_state(repo, request.description, request.language, content_digest(repo))


fetch_context_task = step(
    "context fetch",
    cache_key_fn=context_cache_key,
    cache_expiration=timedelta(days=7),
    persist_result=True,
)(fetch_context)

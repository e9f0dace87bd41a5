"""The semantic bridge over HTTP, for other tools: ``POST /context``, ``GET /context/cached``,
``GET /health``, and the OpenAPI schema at ``/openapi.json`` (``/docs`` shows it).

The app answers with the same :class:`~frugalflow.core.schemas.GenerationContext` the flow
builds in process (one :class:`~frugalflow.context.bridge.ContextBridge` behind both). It reads
only the repositories it was started for: any other path is refused with 403, before anything
is read. ``frugalflow bridge serve`` runs it on 127.0.0.1.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict

from frugalflow.context.bridge import CachedContext, ContextBridge, ContextRequest
from frugalflow.core.errors import NotAGitRepositoryError, RequestError
from frugalflow.core.schemas import GenerationContext


class Health(BaseModel):
    """What ``GET /health`` answers."""

    model_config = ConfigDict(frozen=True)

    status: str
    repositories: list[str]
    cached_contexts: int
    builds: int
    memory_hits: int
    disk_hits: int
    files_read: int


def create_app(bridge: ContextBridge) -> FastAPI:
    """The HTTP app serving one bridge.

    Args:
        bridge: builds and caches the contexts; its ``roots`` are the repositories served.
    """
    app = FastAPI(
        title="frugalflow semantic bridge",
        summary="Repository context that makes cheap models write code that fits.",
        version="1",
    )
    errors: dict[int | str, dict[str, Any]] = {
        403: {"description": "The repository is outside those the bridge serves."},
        404: {"description": "The path is not a git repository."},
    }

    @app.post("/context", response_model=GenerationContext, responses=errors)
    def post_context(request: ContextRequest) -> GenerationContext:
        """Build (or take from the cache) the context for a request on a served repository."""
        try:
            return bridge.context(request)
        except RequestError as exc:
            raise HTTPException(status_code=403, detail=str(exc)) from None
        except NotAGitRepositoryError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None

    @app.get("/context/cached", response_model=list[CachedContext])
    def cached_contexts() -> list[CachedContext]:
        """The contexts held in memory, most recently used first, with their hits."""
        return bridge.cached()

    @app.get("/health", response_model=Health)
    def health() -> Health:
        """Whether the bridge runs, what it serves and what its caches did."""
        stats = bridge.stats
        return Health(
            status="ok",
            repositories=[str(root) for root in bridge.roots],
            cached_contexts=len(bridge.cached()),
            builds=stats.builds,
            memory_hits=stats.memory_hits,
            disk_hits=stats.disk_hits,
            files_read=stats.files_read,
        )

    return app

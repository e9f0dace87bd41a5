"""frugalflow: LLM code generation as Prefect flows that spend as little money as the result allows.

The public API is what this module exports; everything else is internal and may change::

    import asyncio
    from pathlib import Path
    import frugalflow

    request = frugalflow.CodeRequest(
        description="Add a function slugify(text)", repo=Path(".").resolve()
    )
    state = asyncio.run(frugalflow.codegen(request, return_state=True))
    result = state.result(raise_on_failure=False)  # a CodeResult, whatever the outcome

``codegen`` is loaded on first use, so that ``import frugalflow`` does not import Prefect.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from frugalflow.core.errors import (
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    ConfigurationError,
    ContextTooLongError,
    FrugalflowError,
    LedgerError,
    MalformedReplyError,
    ModelNotInstalledError,
    NameClashError,
    NotAGitRepositoryError,
    PermanentProviderError,
    PlacementError,
    PricingError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
    RequestError,
    RetryableProviderError,
    SandboxUnavailableError,
    UnsafePathError,
)
from frugalflow.core.schemas import CodeRequest, CodeResult, QualityMode, RunStatus, Tier
from frugalflow.core.settings import Settings, load_settings

if TYPE_CHECKING:
    from frugalflow.flows.codegen import codegen

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "CodeRequest",
    "CodeResult",
    "ConfigurationError",
    "ContextTooLongError",
    "FrugalflowError",
    "LedgerError",
    "MalformedReplyError",
    "ModelNotInstalledError",
    "NameClashError",
    "NotAGitRepositoryError",
    "PermanentProviderError",
    "PlacementError",
    "PricingError",
    "ProviderError",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
    "QualityMode",
    "RateLimitedError",
    "RequestError",
    "RetryableProviderError",
    "RunStatus",
    "SandboxUnavailableError",
    "Settings",
    "Tier",
    "UnsafePathError",
    "codegen",
    "load_settings",
]

try:
    __version__ = version("frugalflow")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "codegen":
        from frugalflow.flows.codegen import codegen

        return codegen
    raise AttributeError(f"module 'frugalflow' has no attribute {name!r}")

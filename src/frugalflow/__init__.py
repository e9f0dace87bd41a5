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

Every name is loaded on first use: ``import frugalflow`` imports nothing heavy (no Prefect, no
pydantic), so that the ``frugalflow`` command can hand a request to the preloaded runner before
it has spent anything on imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from frugalflow.core.schemas import (
        CodeRequest,
        CodeResult,
        QualityMode,
        RunStatus,
        Tier,
    )
    from frugalflow.core.settings import Settings, load_settings
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

# Where each public name lives; imported by ``__getattr__`` the first time it is read.
_EXPORTS: dict[str, str] = {
    "AuthenticationError": "frugalflow.core.errors",
    "BadRequestError": "frugalflow.core.errors",
    "BudgetExceededError": "frugalflow.core.errors",
    "ConfigurationError": "frugalflow.core.errors",
    "ContextTooLongError": "frugalflow.core.errors",
    "FrugalflowError": "frugalflow.core.errors",
    "LedgerError": "frugalflow.core.errors",
    "MalformedReplyError": "frugalflow.core.errors",
    "ModelNotInstalledError": "frugalflow.core.errors",
    "NameClashError": "frugalflow.core.errors",
    "NotAGitRepositoryError": "frugalflow.core.errors",
    "PermanentProviderError": "frugalflow.core.errors",
    "PlacementError": "frugalflow.core.errors",
    "PricingError": "frugalflow.core.errors",
    "ProviderError": "frugalflow.core.errors",
    "ProviderTimeoutError": "frugalflow.core.errors",
    "ProviderUnavailableError": "frugalflow.core.errors",
    "RateLimitedError": "frugalflow.core.errors",
    "RequestError": "frugalflow.core.errors",
    "RetryableProviderError": "frugalflow.core.errors",
    "SandboxUnavailableError": "frugalflow.core.errors",
    "UnsafePathError": "frugalflow.core.errors",
    "CodeRequest": "frugalflow.core.schemas",
    "CodeResult": "frugalflow.core.schemas",
    "QualityMode": "frugalflow.core.schemas",
    "RunStatus": "frugalflow.core.schemas",
    "Tier": "frugalflow.core.schemas",
    "Settings": "frugalflow.core.settings",
    "load_settings": "frugalflow.core.settings",
    "codegen": "frugalflow.flows.codegen",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value: Any = version("frugalflow")
        except PackageNotFoundError:  # run from a source tree that was never installed
            value = "0+unknown"
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    else:
        raise AttributeError(f"module 'frugalflow' has no attribute {name!r}")
    globals()[name] = value  # read once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, "__version__"})

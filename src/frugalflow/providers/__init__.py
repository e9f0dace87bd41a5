"""Model providers, one module per vendor, behind the :class:`Provider` protocol.

Vendor SDKs are imported lazily, inside the provider module, so that a missing or
misconfigured SDK only affects the provider that needs it.
"""

from __future__ import annotations

from frugalflow.errors import ConfigurationError
from frugalflow.providers.base import ChatMessage, Completion, Provider
from frugalflow.settings import Settings

__all__ = ["ChatMessage", "Completion", "Provider", "get_provider"]


def get_provider(name: str, settings: Settings) -> Provider:
    """Build the provider called ``name``.

    Raises:
        ConfigurationError: no provider of that name is available in this version.
    """
    if name == "llamacpp":
        from frugalflow.providers.llamacpp import LlamaCppProvider

        return LlamaCppProvider(settings)
    raise ConfigurationError(
        f"provider {name!r} is not available in this version of frugalflow; "
        "use 'llamacpp:qwen2.5-coder-0.5b-instruct' in the 'models' setting"
    )

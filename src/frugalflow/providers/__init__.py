"""Model providers, one module per vendor, behind the :class:`Provider` protocol.

Addressed as ``provider:model`` (``openai:gpt-4o-mini``). Vendor SDKs are imported lazily,
inside each provider module, so that a missing or misconfigured SDK only affects the provider
that needs it.

| provider | tier | talks to |
| --- | --- | --- |
| ``llamacpp`` | local | the embedded GGUF model, in-process |
| ``ollama`` | local | an Ollama server (``ollama_host``) |
| ``openai-compatible`` | local | a llama.cpp / vLLM / LM Studio server (``openai_compatible_base_url``) |
| ``claude-code`` | subscription | the Claude Code CLI, headless, in the target repository |
| ``openai`` | api | OpenAI (or ``openai_base_url``) |
| ``anthropic`` | api | Anthropic's Messages API |
| ``gemini`` | api | Google's Gemini API through ``google-genai`` |
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from frugalflow.core.errors import ConfigurationError
from frugalflow.core.models import PROVIDER_TIERS
from frugalflow.core.schemas import Tier
from frugalflow.core.settings import Settings
from frugalflow.providers.base import Availability, ChatMessage, Completion, Provider

__all__ = [
    "Availability",
    "ChatMessage",
    "Completion",
    "Provider",
    "ProviderFactory",
    "get_provider",
    "register_provider",
    "unregister_provider",
]

ProviderFactory = Callable[[Settings, Path | None], Provider]
"""Builds a provider from the settings and the target repository (None when there is none)."""


def _llamacpp(settings: Settings, repo: Path | None) -> Provider:
    from frugalflow.providers.llamacpp import LlamaCppProvider

    return LlamaCppProvider(settings)


def _ollama(settings: Settings, repo: Path | None) -> Provider:
    from frugalflow.providers.ollama import OllamaProvider

    return OllamaProvider(settings)


def _openai(settings: Settings, repo: Path | None) -> Provider:
    from frugalflow.providers.openai import OpenAIProvider

    return OpenAIProvider(settings)


def _openai_compatible(settings: Settings, repo: Path | None) -> Provider:
    from frugalflow.providers.openai import OpenAIProvider

    return OpenAIProvider(
        settings, name="openai-compatible", base_url=settings.openai_compatible_base_url
    )


def _anthropic(settings: Settings, repo: Path | None) -> Provider:
    from frugalflow.providers.anthropic import AnthropicProvider

    return AnthropicProvider(settings)


def _gemini(settings: Settings, repo: Path | None) -> Provider:
    from frugalflow.providers.gemini import GeminiProvider

    return GeminiProvider(settings)


def _claude_code(settings: Settings, repo: Path | None) -> Provider:
    from frugalflow.providers.claude_code import ClaudeCodeProvider

    return ClaudeCodeProvider(settings, cwd=repo)


# Vendor SDKs are imported by each factory, on first use.
_FACTORIES: dict[str, ProviderFactory] = {
    "llamacpp": _llamacpp,
    "ollama": _ollama,
    "openai-compatible": _openai_compatible,
    "claude-code": _claude_code,
    "openai": _openai,
    "anthropic": _anthropic,
    "gemini": _gemini,
}
_BUILT_IN = {name: (PROVIDER_TIERS[name], factory) for name, factory in _FACTORIES.items()}


def register_provider(
    name: str, factory: ProviderFactory, *, tier: Tier, replace: bool = False
) -> None:
    """Make ``name:<model>`` addresses resolve to providers that ``factory`` builds.

    Args:
        name: the provider part of a model address.
        factory: builds the provider (see :data:`ProviderFactory`).
        tier: what its calls cost (a paid tier needs prices, from the catalog or ``prices``).
        replace: allow replacing a provider already registered (a built-in one too).

    Raises:
        ConfigurationError: ``name`` is taken and ``replace`` is false, or contains a colon.
    """
    if not name or ":" in name:
        raise ConfigurationError(f"a provider name is a word without ':', not {name!r}")
    if name in _FACTORIES and not replace:
        raise ConfigurationError(f"a provider called {name!r} is registered already")
    _FACTORIES[name] = factory
    PROVIDER_TIERS[name] = tier


def unregister_provider(name: str) -> None:
    """Forget a registered provider; a built-in one comes back as it was."""
    if name in _BUILT_IN:
        PROVIDER_TIERS[name], _FACTORIES[name] = _BUILT_IN[name]
    else:
        _FACTORIES.pop(name, None)
        PROVIDER_TIERS.pop(name, None)


def get_provider(name: str, settings: Settings, *, repo: Path | None = None) -> Provider:
    """Build the provider called ``name``.

    Args:
        name: a provider name (the part of a model address before the colon).
        settings: keys, endpoints, timeouts.
        repo: the target repository, for providers that work inside it (Claude Code).

    Raises:
        ConfigurationError: no provider has that name.
    """
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ConfigurationError(f"unknown provider {name!r}; known: {', '.join(_FACTORIES)}")
    return factory(settings, repo)

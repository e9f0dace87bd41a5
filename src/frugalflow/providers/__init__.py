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

from pathlib import Path

from frugalflow.core.errors import ConfigurationError
from frugalflow.core.settings import Settings
from frugalflow.money.pricing import PROVIDER_TIERS
from frugalflow.providers.base import Availability, ChatMessage, Completion, Provider

__all__ = ["Availability", "ChatMessage", "Completion", "Provider", "get_provider"]


def get_provider(name: str, settings: Settings, *, repo: Path | None = None) -> Provider:
    """Build the provider called ``name``.

    Args:
        name: a provider name (the part of a model address before the colon).
        settings: keys, endpoints, timeouts.
        repo: the target repository, for providers that work inside it (Claude Code).

    Raises:
        ConfigurationError: no provider has that name.
    """
    if name == "llamacpp":
        from frugalflow.providers.llamacpp import LlamaCppProvider

        return LlamaCppProvider(settings)
    if name == "ollama":
        from frugalflow.providers.ollama import OllamaProvider

        return OllamaProvider(settings)
    if name in ("openai", "openai-compatible"):
        from frugalflow.providers.openai import OpenAIProvider

        if name == "openai":
            return OpenAIProvider(settings)
        return OpenAIProvider(
            settings, name="openai-compatible", base_url=settings.openai_compatible_base_url
        )
    if name == "anthropic":
        from frugalflow.providers.anthropic import AnthropicProvider

        return AnthropicProvider(settings)
    if name == "gemini":
        from frugalflow.providers.gemini import GeminiProvider

        return GeminiProvider(settings)
    if name == "claude-code":
        from frugalflow.providers.claude_code import ClaudeCodeProvider

        return ClaudeCodeProvider(settings, cwd=repo)
    raise ConfigurationError(f"unknown provider {name!r}; known: {', '.join(PROVIDER_TIERS)}")

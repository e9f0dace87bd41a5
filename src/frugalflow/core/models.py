"""Model addresses (``provider:model``) and the tier of each provider.

Every part of frugalflow that needs to know what kind of model it deals with (pricing, budget,
routing, the CLI) asks here, without importing the providers themselves. Built-in providers
are listed below; :func:`frugalflow.providers.register_provider` adds others (a plugin's, or a
test's fake) with their tier.
"""

from __future__ import annotations

from typing import NamedTuple

from frugalflow.core.errors import ConfigurationError
from frugalflow.core.schemas import Tier

PROVIDER_TIERS: dict[str, Tier] = {
    "llamacpp": Tier.LOCAL,
    "ollama": Tier.LOCAL,
    "openai-compatible": Tier.LOCAL,  # a llama.cpp / vLLM / LM Studio server of the user's
    "claude-code": Tier.SUBSCRIPTION,
    "openai": Tier.API,
    "anthropic": Tier.API,
    "gemini": Tier.API,
}


class ModelAddress(NamedTuple):
    """A model as ``provider:model``."""

    provider: str
    model: str

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}"

    @property
    def tier(self) -> Tier:
        """Local, subscription or paid API: what a call to this model costs."""
        return PROVIDER_TIERS[self.provider]


def parse_address(address: str) -> ModelAddress:
    """Split ``provider:model`` and check that the provider is known.

    Raises:
        ConfigurationError: the address is malformed or names an unknown provider.
    """
    provider, sep, model = address.partition(":")
    if not sep or not provider or not model:
        raise ConfigurationError(
            f"model address {address!r} is not 'provider:model' "
            "(for example 'llamacpp:qwen2.5-coder-0.5b-instruct')"
        )
    if provider not in PROVIDER_TIERS:
        raise ConfigurationError(
            f"unknown provider {provider!r} in {address!r}; known: {', '.join(PROVIDER_TIERS)}"
        )
    return ModelAddress(provider, model)

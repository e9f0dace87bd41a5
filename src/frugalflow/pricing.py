"""Prices of model calls, offline, from Pydantic's ``genai-prices`` catalog.

A model is addressed as ``provider:model``. Local and subscription tiers cost $0 per call. A
paid model the catalog does not know is refused (:class:`PricingError`), never priced at $0:
an unknown price is the most expensive kind of bug a budget can have.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

import genai_prices

from frugalflow.errors import ConfigurationError, PricingError
from frugalflow.schemas import Tier

CATALOG_VERSION = f"genai-prices {genai_prices.__version__}"

PROVIDER_TIERS: dict[str, Tier] = {
    "llamacpp": Tier.LOCAL,
    "ollama": Tier.LOCAL,
    "claude-code": Tier.SUBSCRIPTION,
    "openai": Tier.API,
    "anthropic": Tier.API,
    "gemini": Tier.API,
}
# genai-prices names some vendors differently from our provider names.
_CATALOG_PROVIDER = {"gemini": "google", "openai": "openai", "anthropic": "anthropic"}


class ModelAddress(NamedTuple):
    provider: str
    model: str

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}"

    @property
    def tier(self) -> Tier:
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


def price_call(
    address: ModelAddress, *, input_tokens: int, output_tokens: int, cached_tokens: int = 0
) -> Decimal:
    """The price in USD of one call with the given usage.

    Raises:
        PricingError: a paid model has no price in the catalog.
    """
    if address.tier is not Tier.API:
        return Decimal(0)
    try:
        calculation = genai_prices.calc_price(
            genai_prices.Usage(
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cache_read_tokens=cached_tokens or None,
            ),
            model_ref=address.model,
            provider_id=_CATALOG_PROVIDER[address.provider],
        )
    except LookupError as exc:
        raise PricingError(
            f"no price is known for {address}; frugalflow refuses to call a paid model it "
            "cannot price. Use a model the catalog knows, or remove it from the 'models' setting"
        ) from exc
    return Decimal(calculation.total_price)

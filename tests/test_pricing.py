"""Prices of model calls from the genai-prices catalog; unknown paid models are refused."""

from __future__ import annotations

from decimal import Decimal

import genai_prices
import pytest

from frugalflow.errors import ConfigurationError, PricingError
from frugalflow.pricing import ModelAddress, parse_address, price_call
from frugalflow.schemas import Tier


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("gpt-4o-mini", "is not 'provider:model'"),
        (":gpt-4o-mini", "is not 'provider:model'"),
        ("openai:", "is not 'provider:model'"),
        ("", "is not 'provider:model'"),
        ("acme:model-1", "unknown provider 'acme'"),
        ("OpenAI:gpt-4o-mini", "unknown provider 'OpenAI'"),
    ],
)
def test_parse_address_rejects_malformed_or_unknown(address: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_address(address)


def test_parse_address_splits_on_the_first_colon_only() -> None:
    address = parse_address("ollama:qwen2.5-coder:7b")
    assert address == ModelAddress("ollama", "qwen2.5-coder:7b")
    assert str(address) == "ollama:qwen2.5-coder:7b"
    assert address.tier is Tier.LOCAL


@pytest.mark.parametrize(
    ("address", "tier"),
    [
        ("llamacpp:qwen2.5-coder-0.5b-instruct", Tier.LOCAL),
        ("ollama:any-model-at-all", Tier.LOCAL),
        ("claude-code:sonnet", Tier.SUBSCRIPTION),
        ("openai:gpt-4o-mini", Tier.API),
        ("anthropic:claude-3-5-haiku-latest", Tier.API),
        ("gemini:gemini-2.0-flash", Tier.API),
    ],
)
def test_tiers(address: str, tier: Tier) -> None:
    assert parse_address(address).tier is tier


@pytest.mark.parametrize(
    "address",
    ["llamacpp:qwen2.5-coder-0.5b-instruct", "ollama:not-in-any-catalog", "claude-code:x"],
)
def test_free_tiers_cost_nothing_whatever_the_usage(address: str) -> None:
    price = price_call(
        parse_address(address), input_tokens=5_000_000, output_tokens=1_000_000, cached_tokens=10
    )
    assert price == Decimal(0)


@pytest.mark.parametrize(
    ("address", "catalog_provider", "model"),
    [
        ("openai:gpt-4o-mini", "openai", "gpt-4o-mini"),
        ("anthropic:claude-3-5-haiku-latest", "anthropic", "claude-3-5-haiku-latest"),
        ("gemini:gemini-2.0-flash", "google", "gemini-2.0-flash"),
    ],
)
def test_api_models_are_priced_as_genai_prices_says(
    address: str, catalog_provider: str, model: str
) -> None:
    expected = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=12_345, output_tokens=678),
        model_ref=model,
        provider_id=catalog_provider,
    ).total_price
    price = price_call(parse_address(address), input_tokens=12_345, output_tokens=678)
    assert isinstance(price, Decimal)
    assert price == expected
    assert price > 0


def test_price_grows_with_usage_and_output_costs_more_than_input() -> None:
    mini = parse_address("openai:gpt-4o-mini")
    small = price_call(mini, input_tokens=1_000, output_tokens=100)
    assert price_call(mini, input_tokens=2_000, output_tokens=100) > small
    assert price_call(mini, input_tokens=1_000, output_tokens=200) > small
    assert price_call(mini, input_tokens=0, output_tokens=1_000) > price_call(
        mini, input_tokens=1_000, output_tokens=0
    )


def test_cached_tokens_are_priced_at_the_cache_rate() -> None:
    mini = parse_address("openai:gpt-4o-mini")
    cached = price_call(mini, input_tokens=10_000, output_tokens=0, cached_tokens=8_000)
    uncached = price_call(mini, input_tokens=10_000, output_tokens=0)
    expected = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=10_000, output_tokens=0, cache_read_tokens=8_000),
        model_ref="gpt-4o-mini",
        provider_id="openai",
    ).total_price
    assert cached == expected
    assert 0 < cached < uncached


@pytest.mark.parametrize(
    "address", ["openai:gpt-does-not-exist", "anthropic:claude-imaginary-9", "gemini:nope-1"]
)
def test_unknown_paid_model_is_refused_not_free(address: str) -> None:
    with pytest.raises(PricingError, match=f"no price is known for {address}"):
        price_call(parse_address(address), input_tokens=10, output_tokens=10)

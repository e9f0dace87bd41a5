"""Prices of model calls from the genai-prices catalog and overrides; unknown paid models are refused."""

from __future__ import annotations

import tomllib
from datetime import date
from decimal import Decimal

import genai_prices
import pytest

from frugalflow.core.errors import ConfigurationError, PricingError
from frugalflow.core.models import ModelAddress, parse_address
from frugalflow.core.schemas import Tier
from frugalflow.core.settings import PriceOverride
from frugalflow.money.pricing import (
    BATCH_DISCOUNT,
    CATALOG_VERSION,
    PriceCatalog,
    price_call,
    subscription_cost_per_day,
)
from frugalflow.money.usage import CallUsage


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


# --- the price catalog: overrides, private models, tiers, version --------------------------

GEMINI_PRO = "gemini:gemini-2.5-pro"  # genai-prices tiers it above 200K input tokens


def _override(input_: str, output: str, cached: str | None = None) -> PriceOverride:
    return PriceOverride(
        input_per_mtok=Decimal(input_),
        output_per_mtok=Decimal(output),
        cached_input_per_mtok=None if cached is None else Decimal(cached),
    )


@pytest.mark.parametrize(
    ("address", "catalog_provider", "model"),
    [
        ("openai:gpt-4o-mini", "openai", "gpt-4o-mini"),
        ("anthropic:claude-3-5-haiku-latest", "anthropic", "claude-3-5-haiku-latest"),
        ("gemini:gemini-2.0-flash", "google", "gemini-2.0-flash"),
    ],
)
def test_catalog_prices_and_rates_are_genai_prices_own(
    address: str, catalog_provider: str, model: str
) -> None:
    usage = genai_prices.Usage(input_tokens=40_000, output_tokens=900, cache_read_tokens=30_000)
    calculation = genai_prices.calc_price(usage, model_ref=model, provider_id=catalog_provider)
    catalog = PriceCatalog()
    assert (
        catalog.price_call(address, input_tokens=40_000, output_tokens=900, cached_tokens=30_000)
        == calculation.total_price
    )
    price = catalog.price_of(address)
    assert price is not None
    assert price.source == "catalog"
    assert price.input_per_mtok == calculation.model_price.input_mtok
    assert price.output_per_mtok == calculation.model_price.output_mtok
    assert price.cached_input_per_mtok == calculation.model_price.cache_read_mtok
    assert not price.has_tiers


def test_override_beats_the_catalog() -> None:
    catalog = PriceCatalog({"openai:gpt-4o-mini": _override("1", "2")})
    price = catalog.price_call("openai:gpt-4o-mini", input_tokens=1_000_000, output_tokens=500_000)
    assert price == Decimal(2)  # 1 M x $1 + 0.5 M x $2
    assert price != PriceCatalog().price_call(
        "openai:gpt-4o-mini", input_tokens=1_000_000, output_tokens=500_000
    )
    of = catalog.price_of("openai:gpt-4o-mini")
    assert of is not None
    assert of.source == "override"
    assert (of.input_per_mtok, of.output_per_mtok) == (Decimal(1), Decimal(2))
    # the module-level function still uses the catalog alone
    assert price_call(
        parse_address("openai:gpt-4o-mini"), input_tokens=1_000_000, output_tokens=500_000
    ) == PriceCatalog().price_call(
        "openai:gpt-4o-mini", input_tokens=1_000_000, output_tokens=500_000
    )


def test_override_replaces_catalog_tiers() -> None:
    catalog = PriceCatalog({GEMINI_PRO: _override("1", "1")})
    assert catalog.price_call(GEMINI_PRO, input_tokens=500_000, output_tokens=500_000) == 1
    of = catalog.price_of(GEMINI_PRO)
    assert of is not None
    assert not of.has_tiers


def test_private_model_is_priced_by_its_override_only() -> None:
    with pytest.raises(PricingError):
        PriceCatalog().price_call("openai:my-finetune", input_tokens=10, output_tokens=10)
    assert PriceCatalog().price_of("openai:my-finetune") is None
    catalog = PriceCatalog({"openai:My-Finetune": _override("0.5", "1.5")})
    assert catalog.price_call(
        "openai:my-finetune", input_tokens=2_000_000, output_tokens=1_000_000
    ) == Decimal("2.5")


def test_override_cache_rate_and_its_absence() -> None:
    with_cache = PriceCatalog({"openai:my-ft": _override("1", "0", cached="0.1")})
    assert with_cache.price_call(
        "openai:my-ft", input_tokens=1_000_000, output_tokens=0, cached_tokens=600_000
    ) == Decimal("0.46")  # 0.4 M x $1 + 0.6 M x $0.1
    without = PriceCatalog({"openai:my-ft": _override("1", "0")})
    assert without.price_call(
        "openai:my-ft", input_tokens=1_000_000, output_tokens=0, cached_tokens=600_000
    ) == Decimal(1)  # no cache rate: cached tokens cost what input costs


def test_unknown_paid_model_error_carries_a_working_toml_hint() -> None:
    with pytest.raises(PricingError) as caught:
        PriceCatalog().price_call("openai:my-model", input_tokens=10, output_tokens=10)
    message = str(caught.value)
    assert '[prices."openai:my-model"]' in message
    hint = message[message.index("[prices.") :].split("\n\n")[0]
    parsed = tomllib.loads(hint)
    catalog = PriceCatalog(
        {key: PriceOverride.model_validate(value) for key, value in parsed["prices"].items()}
    )
    assert catalog.price_call("openai:my-model", input_tokens=10, output_tokens=10) > 0


def test_version_names_the_catalog_and_hashes_the_overrides() -> None:
    assert PriceCatalog().version == CATALOG_VERSION == f"genai-prices {genai_prices.__version__}"
    one = PriceCatalog({"openai:a": _override("0.5", "1.5")})
    assert one.version.startswith(CATALOG_VERSION)
    assert one.version != CATALOG_VERSION
    # the same prices written differently give the same version ...
    assert PriceCatalog({"openai:A": _override("0.50", "1.5")}).version == one.version
    two = {"openai:a": _override("0.5", "1.5"), "anthropic:b": _override("1", "2")}
    assert PriceCatalog(two).version == PriceCatalog(dict(reversed(list(two.items())))).version
    # ... and any change of a price, a cache rate or a model changes it
    versions = {
        one.version,
        PriceCatalog({"openai:a": _override("0.6", "1.5")}).version,
        PriceCatalog({"openai:a": _override("0.5", "1.5", cached="0.1")}).version,
        PriceCatalog({"openai:b": _override("0.5", "1.5")}).version,
        PriceCatalog(two).version,
    }
    assert len(versions) == 5


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("llamacpp:qwen", "costs \\$0 per call"),
        ("claude-code:sonnet", "costs \\$0 per call"),
        ("acme:model", "unknown provider 'acme'"),
        ("gpt-4o", "is not 'provider:model'"),
    ],
)
def test_bad_override_keys_are_configuration_errors(key: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        PriceCatalog({key: _override("1", "1")})


def test_override_given_twice_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="given twice"):
        PriceCatalog({"openai:x": _override("1", "1"), "openai:X": _override("2", "2")})


@pytest.mark.parametrize("address", ["llamacpp:qwen2.5-coder-0.5b-instruct", "claude-code:x"])
def test_free_tiers_cost_nothing_even_with_a_catalog(address: str) -> None:
    catalog = PriceCatalog({"openai:x": _override("1", "1")})
    assert catalog.price_call(address, input_tokens=10**6, output_tokens=10**6) == 0
    price = catalog.price_of(address)
    assert price is not None
    assert price.source == "free"
    assert price.input_per_mtok == price.output_per_mtok == 0


def test_long_context_tier_costs_more_per_token() -> None:
    catalog = PriceCatalog()
    price = catalog.price_of(GEMINI_PRO)
    assert price is not None
    assert price.has_tiers
    tier = price.tiers[0]
    assert tier.input_per_mtok > price.input_per_mtok
    assert tier.output_per_mtok > price.output_per_mtok
    threshold = tier.above_input_tokens
    below_in, above_in, output = threshold - 1_000, threshold + 1_000, 1_000
    below = catalog.price_call(GEMINI_PRO, input_tokens=below_in, output_tokens=output)
    above = catalog.price_call(GEMINI_PRO, input_tokens=above_in, output_tokens=output)
    assert above / (above_in + output) > below / (below_in + output)
    # every token of the long call is billed at the tier's rates ("cliff" tiers)
    assert above == (above_in * tier.input_per_mtok + output * tier.output_per_mtok) / 10**6
    assert below == (below_in * price.input_per_mtok + output * price.output_per_mtok) / 10**6
    assert (
        above
        == genai_prices.calc_price(
            genai_prices.Usage(input_tokens=above_in, output_tokens=output),
            model_ref="gemini-2.5-pro",
            provider_id="google",
        ).total_price
    )


@pytest.mark.parametrize(
    ("input_tokens", "output_tokens", "cached_tokens"), [(-1, 0, 0), (0, -1, 0), (10, 0, 11)]
)
def test_impossible_usage_is_a_value_error(
    input_tokens: int, output_tokens: int, cached_tokens: int
) -> None:
    with pytest.raises(ValueError):
        PriceCatalog().price_call(
            "openai:gpt-4o-mini",
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_tokens=cached_tokens,
        )


def test_subscription_cost_per_day_depends_on_the_month() -> None:
    fees = {"claude-code": Decimal(200), "other": Decimal("31")}
    february = subscription_cost_per_day(fees, date(2025, 2, 10))
    march = subscription_cost_per_day(fees, date(2025, 3, 10))
    assert february["claude-code"] == Decimal(200) / 28
    assert march["claude-code"] == Decimal(200) / 31
    assert march["other"] == 1
    assert february["claude-code"] > march["claude-code"]
    assert subscription_cost_per_day(fees, date(2024, 2, 1))["claude-code"] == Decimal(200) / 29
    assert abs(march["claude-code"] * 31 - 200) < Decimal("1e-20")
    assert subscription_cost_per_day({}, date(2025, 3, 1)) == {}


# --- part by part: cache reads, 5-minute and 1-hour writes, tiers (issue 14) -----------------


def test_anthropic_cache_rates_are_the_catalogs_own_and_follow_the_documented_multipliers() -> None:
    """Anthropic's prompt-caching price table: reads 0.1x the base input rate, 5-minute writes
    1.25x, 1-hour writes 2x (https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching,
    "Pricing"); genai-prices carries all three for Claude Haiku 4.5."""
    price = PriceCatalog().price_of("anthropic:claude-haiku-4-5")
    assert price is not None and price.source == "catalog"
    rates = price.rates_for(1_000)
    assert rates.cached_input_per_mtok == rates.input_per_mtok * Decimal("0.1")
    assert rates.cache_write_per_mtok == rates.input_per_mtok * Decimal("1.25")
    assert rates.cache_write_1h_per_mtok == rates.input_per_mtok * 2


def test_an_anthropic_override_gets_its_cache_rates_from_the_documented_multipliers() -> None:
    catalog = PriceCatalog({"anthropic:claude-private": _override("4", "20")})
    price = catalog.price_of("anthropic:claude-private")
    assert price is not None
    assert (
        price.cached_input_per_mtok,
        price.cache_write_per_mtok,
        price.cache_write_1h_per_mtok,
    ) == (Decimal("0.4"), Decimal("5"), Decimal(8))
    cost = catalog.price_call(
        "anthropic:claude-private",
        input_tokens=10_000,
        output_tokens=1_000,
        cached_tokens=4_000,
        cache_write_tokens=5_000,
        cache_write_1h_tokens=2_000,
    )
    # 1,000 uncached at $4, 4,000 read at $0.40, 3,000 5-minute writes at $5, 2,000 1-hour
    # writes at $8, 1,000 out at $20 (per million tokens).
    assert cost == Decimal("0.0566")


def test_writes_are_billed_as_input_by_vendors_without_a_write_rate() -> None:
    catalog = PriceCatalog({"openai:private": _override("2", "8", cached="0.5")})
    written = catalog.price_call(
        "openai:private", input_tokens=1_000, output_tokens=0, cache_write_tokens=1_000
    )
    assert written == catalog.price_call("openai:private", input_tokens=1_000, output_tokens=0)


def test_the_sum_of_the_parts_is_genai_prices_total_for_every_catalog_rate() -> None:
    usage = genai_prices.Usage(
        input_tokens=9_000, output_tokens=700, cache_read_tokens=3_000, cache_write_tokens=4_000
    )
    expected = genai_prices.calc_price(
        usage, model_ref="claude-sonnet-4-5", provider_id="anthropic"
    ).total_price
    assert (
        PriceCatalog().price_call(
            "anthropic:claude-sonnet-4-5",
            input_tokens=9_000,
            output_tokens=700,
            cached_tokens=3_000,
            cache_write_tokens=4_000,
        )
        == expected
    )


def test_a_call_above_a_tier_pays_the_tier_rate_on_every_part() -> None:
    price = PriceCatalog().price_of(GEMINI_PRO)
    assert price is not None and price.has_tiers
    [tier] = price.tiers
    base, above = (
        price.rates_for(tier.above_input_tokens),
        price.rates_for(tier.above_input_tokens + 1),
    )
    assert (base.above_input_tokens, above.above_input_tokens) == (None, tier.above_input_tokens)
    assert above.input_per_mtok == tier.input_per_mtok > base.input_per_mtok
    assert above.output_per_mtok == tier.output_per_mtok > base.output_per_mtok
    assert above.cached_input_per_mtok == tier.cached_input_per_mtok


@pytest.mark.parametrize(
    ("answered", "overrides", "priced_as"),
    [
        (None, {}, "openai:gpt-4.1"),
        ("gpt-4.1", {}, "openai:gpt-4.1"),
        ("gpt-4.1-mini-2025-04-14", {}, "openai:gpt-4.1-mini-2025-04-14"),
        ("nobody-prices-this", {}, "openai:gpt-4.1"),
        ("gpt-4.1-2025-04-14", {"openai:gpt-4.1": ("1", "2")}, "openai:gpt-4.1"),
        ("gpt-4.1-mini", {"openai:gpt-4.1": ("1", "2")}, "openai:gpt-4.1-mini"),
    ],
)
def test_the_answering_model_is_priced_unless_nobody_prices_it_or_the_user_priced_its_alias(
    answered: str | None, overrides: dict[str, tuple[str, str]], priced_as: str
) -> None:
    catalog = PriceCatalog({key: _override(*rates) for key, rates in overrides.items()})
    assert str(catalog.answering_model("openai:gpt-4.1", answered)) == priced_as


def test_gemini_model_versions_may_carry_the_models_prefix() -> None:
    catalog = PriceCatalog()
    assert str(catalog.answering_model("gemini:gemini-2.5-pro", "models/gemini-2.5-flash")) == (
        "gemini:gemini-2.5-flash"
    )


def test_the_worst_case_prices_every_prompt_token_as_a_cache_write() -> None:
    catalog = PriceCatalog({"anthropic:claude-private": _override("4", "20")})
    worst = catalog.worst_case("anthropic:claude-private", input_tokens=1_000, output_tokens=100)
    assert worst == (1_000 * Decimal(5) + 100 * Decimal(20)) / 1_000_000  # writes at 1.25x
    plain = catalog.price_call("anthropic:claude-private", input_tokens=1_000, output_tokens=100)
    assert worst > plain
    # Where writes cost what input does, the worst case is the plain price.
    mini = PriceCatalog()
    assert mini.worst_case("openai:gpt-4o-mini", input_tokens=1_000, output_tokens=100) == (
        mini.price_call("openai:gpt-4o-mini", input_tokens=1_000, output_tokens=100)
    )


def test_a_batch_call_is_every_part_at_half_the_standard_rate() -> None:
    """OpenAI, Anthropic and Gemini document batch calls at 50% of the standard price, cache
    reads and writes included (BATCH_DISCOUNT, the one place it is set)."""
    catalog = PriceCatalog()
    usage = CallUsage(
        input_tokens=10_000, output_tokens=500, cached_tokens=4_000, cache_write_tokens=1_000
    )
    for model in ("anthropic:claude-sonnet-4-5", "openai:gpt-4o-mini", "gemini:gemini-2.5-flash"):
        standard = catalog.price(model, usage)
        batch = catalog.price_batch(model, usage)
        assert BATCH_DISCOUNT[model.split(":")[0]] == Decimal("0.5")
        assert batch.cost_usd == standard.cost_usd / 2
        assert batch.rates.input_per_mtok == standard.rates.input_per_mtok / 2
        assert batch.rates.cache_write_per_mtok == standard.rates.cache_write_per_mtok / 2
    with pytest.raises(PricingError, match="no batch API"):
        catalog.price_batch("llamacpp:qwen", usage)

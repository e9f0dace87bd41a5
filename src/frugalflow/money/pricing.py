"""Prices of model calls, offline, from Pydantic's ``genai-prices`` catalog plus user overrides.

A model is addressed as ``provider:model``. Local and subscription tiers cost $0 per call. A
paid model that neither the catalog nor a ``[prices."provider:model"]`` override in
``frugalflow.toml`` knows is refused (:class:`PricingError`), never priced at $0: an unknown
price is the most expensive kind of bug a budget can have.

Token conventions follow genai-prices: ``input_tokens`` is the whole prompt, *including* the
``cached_tokens`` that the provider read from its prompt cache (those are billed at the cache
rate instead of the input rate). Long-context tiers are "cliff" tiers: once a call's input
tokens exceed a tier's threshold, every token of the call is billed at the tier's rates.
"""

from __future__ import annotations

import calendar
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Literal

import genai_prices
from genai_prices import data_snapshot
from genai_prices import types as genai_types
from pydantic import BaseModel, ConfigDict

from frugalflow.core.errors import ConfigurationError, PricingError
from frugalflow.core.models import ModelAddress, parse_address
from frugalflow.core.schemas import Tier
from frugalflow.core.settings import PriceOverride

CATALOG_VERSION = f"genai-prices {genai_prices.__version__}"

# genai-prices names some vendors differently from our provider names.
_CATALOG_PROVIDER = {"gemini": "google", "openai": "openai", "anthropic": "anthropic"}
_MTOK = Decimal(1_000_000)
_NO_OVERRIDES: Mapping[str, PriceOverride] = MappingProxyType({})


class PriceTier(BaseModel):
    """Rates that replace the base rates for a call whose input exceeds ``above_input_tokens``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    above_input_tokens: int
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cached_input_per_mtok: Decimal | None = None


class ModelPrice(BaseModel):
    """A model's rates in USD per million tokens, and where they came from.

    Attributes:
        input_per_mtok: uncached prompt tokens (the base tier's rate when there are tiers).
        output_per_mtok: generated tokens, reasoning included.
        cached_input_per_mtok: prompt tokens read from the provider's cache; None when the
            model has no cache rate (cached tokens are then billed as ordinary input).
        source: ``catalog`` (genai-prices), ``override`` (the ``prices`` setting) or ``free``
            (a local or subscription tier: $0 per call).
        tiers: long-context tiers, lowest threshold first; empty when the price is flat.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cached_input_per_mtok: Decimal | None = None
    source: Literal["catalog", "override", "free"]
    tiers: tuple[PriceTier, ...] = ()

    @property
    def has_tiers(self) -> bool:
        return bool(self.tiers)


_FREE = ModelPrice(input_per_mtok=Decimal(0), output_per_mtok=Decimal(0), source="free")


def _base_rate(value: Decimal | genai_types.TieredPrices | None) -> Decimal | None:
    if isinstance(value, genai_types.TieredPrices):
        return value.base
    return value


def _rate_above(value: Decimal | genai_types.TieredPrices | None, threshold: int) -> Decimal | None:
    """The rate that applies when the input exceeds ``threshold`` (and no higher tier)."""
    if not isinstance(value, genai_types.TieredPrices):
        return value
    rate = value.base
    for tier in value.tiers:  # sorted by start
        if tier.start <= threshold:
            rate = tier.price
    return rate


def _from_catalog(prices: genai_types.ModelPrice) -> ModelPrice | None:
    raw_input = getattr(prices, "input_mtok", None)
    raw_output = getattr(prices, "output_mtok", None)
    raw_cached = getattr(prices, "cache_read_mtok", None)
    if raw_input is None and raw_output is None:
        return None  # not a text-token price (an image or audio model, say)
    raws = (raw_input, raw_output, raw_cached)
    thresholds = sorted(
        {
            tier.start
            for raw in raws
            if isinstance(raw, genai_types.TieredPrices)
            for tier in raw.tiers
        }
    )
    tiers = tuple(
        PriceTier(
            above_input_tokens=threshold,
            input_per_mtok=_rate_above(raw_input, threshold) or Decimal(0),
            output_per_mtok=_rate_above(raw_output, threshold) or Decimal(0),
            cached_input_per_mtok=_rate_above(raw_cached, threshold),
        )
        for threshold in thresholds
    )
    return ModelPrice(
        input_per_mtok=_base_rate(raw_input) or Decimal(0),
        output_per_mtok=_base_rate(raw_output) or Decimal(0),
        cached_input_per_mtok=_base_rate(raw_cached),
        source="catalog",
        tiers=tiers,
    )


def _plain(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def _check_usage(input_tokens: int, output_tokens: int, cached_tokens: int) -> None:
    if min(input_tokens, output_tokens, cached_tokens) < 0:
        raise ValueError("token counts cannot be negative")
    if cached_tokens > input_tokens:
        raise ValueError(
            f"cached_tokens ({cached_tokens}) cannot exceed input_tokens ({input_tokens}): "
            "input_tokens counts the whole prompt, cached part included"
        )


def _missing_price(address: ModelAddress) -> PricingError:
    return PricingError(
        f"no price is known for {address}; frugalflow refuses to call a paid model it cannot "
        f"price. Add its price (USD per million tokens, from {address.provider}'s price list) "
        f"to frugalflow.toml:\n\n"
        f'[prices."{address}"]\ninput_per_mtok = 0.5\noutput_per_mtok = 1.5\n\n'
        f"or use a model that {CATALOG_VERSION} knows, or remove it from the 'models' setting"
    )


class PriceCatalog:
    """The genai-prices catalog with the user's overrides on top.

    Args:
        overrides: ``{"provider:model": PriceOverride}``, usually ``settings.prices``. An
            override replaces the catalog's price for that model (tiers included) and can
            price a model the catalog does not know (a fine-tune, a private deployment).
            Model names are matched case-insensitively.

    Raises:
        ConfigurationError: an override key is not a paid ``provider:model`` address.
    """

    version: str
    """Which prices apply: the catalog release, plus a short hash of the overrides if any."""

    def __init__(self, overrides: Mapping[str, PriceOverride] = _NO_OVERRIDES) -> None:
        normalized: dict[str, PriceOverride] = {}
        for key, override in overrides.items():
            try:
                address = parse_address(key)
            except ConfigurationError as exc:
                raise ConfigurationError(f"in the 'prices' setting: {exc}") from exc
            if address.tier is not Tier.API:
                raise ConfigurationError(
                    f"in the 'prices' setting: {key!r} is a {address.tier.value} model, which "
                    "costs $0 per call; prices apply only to paid API providers "
                    f"({', '.join(_CATALOG_PROVIDER)})"
                )
            normalized_key = _key(address)
            if normalized_key in normalized:
                raise ConfigurationError(
                    f"in the 'prices' setting: {key!r} is given twice (names ignore case)"
                )
            normalized[normalized_key] = override
        self._overrides = normalized
        if normalized:
            canonical = json.dumps(
                {
                    key: {
                        "input": _plain(value.input_per_mtok),
                        "output": _plain(value.output_per_mtok),
                        "cached": _plain(value.cached_input_per_mtok),
                    }
                    for key, value in sorted(normalized.items())
                },
                sort_keys=True,
            )
            digest = hashlib.sha256(canonical.encode()).hexdigest()[:8]
            self.version = f"{CATALOG_VERSION} overrides:{digest}"
        else:
            self.version = CATALOG_VERSION

    def __repr__(self) -> str:
        return f"PriceCatalog(version={self.version!r})"

    def price_of(self, address: ModelAddress | str) -> ModelPrice | None:
        """The rates that apply to a model now; None for a paid model nobody prices."""
        address = _as_address(address)
        if address.tier is not Tier.API:
            return _FREE
        override = self._overrides.get(_key(address))
        if override is not None:
            return ModelPrice(
                input_per_mtok=override.input_per_mtok,
                output_per_mtok=override.output_per_mtok,
                cached_input_per_mtok=override.cached_input_per_mtok,
                source="override",
            )
        try:
            _, info = data_snapshot.get_snapshot().find_provider_model(
                address.model, None, _CATALOG_PROVIDER[address.provider], None
            )
        except LookupError:
            return None
        return _from_catalog(info.get_prices(datetime.now(tz=UTC)))

    def price_call(
        self,
        address: ModelAddress | str,
        *,
        input_tokens: int,
        output_tokens: int,
        cached_tokens: int = 0,
    ) -> Decimal:
        """The price in USD of one call with the given usage.

        Args:
            input_tokens: every prompt token, the cached ones included.
            output_tokens: every generated token, reasoning included.
            cached_tokens: the part of ``input_tokens`` read from the provider's cache.

        Raises:
            PricingError: a paid model has neither a catalog price nor an override; the
                message shows the ``frugalflow.toml`` lines that would price it.
            ValueError: a count is negative, or more tokens are cached than were sent.
        """
        address = _as_address(address)
        _check_usage(input_tokens, output_tokens, cached_tokens)
        if address.tier is not Tier.API:
            return Decimal(0)
        override = self._overrides.get(_key(address))
        if override is not None:
            cached_rate = override.cached_input_per_mtok
            if cached_rate is None:
                cached_rate = override.input_per_mtok
            return (
                (input_tokens - cached_tokens) * override.input_per_mtok
                + cached_tokens * cached_rate
                + output_tokens * override.output_per_mtok
            ) / _MTOK
        if self.price_of(address) is None:
            raise _missing_price(address)
        # genai-prices applies tiers and the cache rate from the real usage.
        calculation = genai_prices.calc_price(
            genai_prices.Usage(
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cache_read_tokens=cached_tokens or None,
            ),
            model_ref=address.model,
            provider_id=_CATALOG_PROVIDER[address.provider],
        )
        return Decimal(calculation.total_price)


def _as_address(address: ModelAddress | str) -> ModelAddress:
    return address if isinstance(address, ModelAddress) else parse_address(address)


def _key(address: ModelAddress) -> str:
    return f"{address.provider}:{address.model.lower()}"


_CATALOG = PriceCatalog()


def price_call(
    address: ModelAddress, *, input_tokens: int, output_tokens: int, cached_tokens: int = 0
) -> Decimal:
    """The price in USD of one call with the given usage, from the catalog alone.

    Use :class:`PriceCatalog` (``PriceCatalog(settings.prices)``) to honour price overrides.

    Raises:
        PricingError: a paid model has no price in the catalog.
    """
    return _CATALOG.price_call(
        address, input_tokens=input_tokens, output_tokens=output_tokens, cached_tokens=cached_tokens
    )


def subscription_cost_per_day(
    subscriptions_usd_per_month: Mapping[str, Decimal], day: date
) -> dict[str, Decimal]:
    """Each subscription's monthly fee spread evenly over the days of ``day``'s month.

    Example:
        >>> subscription_cost_per_day({"claude-code": Decimal(200)}, date(2025, 2, 1))
        {'claude-code': Decimal('7.142857142857142857142857143')}
    """
    days = calendar.monthrange(day.year, day.month)[1]
    return {name: Decimal(fee) / days for name, fee in subscriptions_usd_per_month.items()}

"""Prices of model calls, offline, from Pydantic's ``genai-prices`` catalog plus user overrides.

A model is addressed as ``provider:model``. Local and subscription tiers cost $0 per call. A
paid model that neither the catalog nor a ``[prices."provider:model"]`` override in
``frugalflow.toml`` knows is refused (:class:`PricingError`), never priced at $0: an unknown
price is the most expensive kind of bug a budget can have.

Token conventions follow genai-prices: ``input_tokens`` is the whole prompt, cache reads and
writes included; ``output_tokens`` the whole reply, reasoning included; each part is billed
once, at its own rate (:mod:`frugalflow.money.usage`). Long-context tiers are "cliff" tiers:
once a call's input tokens exceed a tier's threshold, every token of the call is billed at
the tier's rates.

Rates the catalog lacks are filled from the vendors' documented multipliers: an Anthropic
cache write costs 1.25x the input rate for the 5-minute cache and 2x for the 1-hour one
(when genai-prices lacks a model's own write rates), a read 0.1x; a vendor without a write rate
bills writes as input (OpenAI and Gemini report no cache writes), one without a read rate
bills reads as input.

Over 400 lines on purpose: the catalog lookup, the overrides, the long-context tiers, the
filled-in cache rates and the choice of the answering model are one answer to "what does this
call cost"; split, each part would give a price only when read with the others.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import re
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
from frugalflow.money.usage import CallUsage, PricedCall, Rates

CATALOG_VERSION = f"genai-prices {genai_prices.__version__}"

# genai-prices names some vendors differently from our provider names.
_CATALOG_PROVIDER = {"gemini": "google", "openai": "openai", "anthropic": "anthropic"}
_NO_OVERRIDES: Mapping[str, PriceOverride] = MappingProxyType({})

# What a call in a vendor's batch API costs, as a fraction of the same call's standard price,
# every billed part alike (input, cache reads and writes, output): the one place it is set.
# OpenAI's Batch API: "50% discount on input and output tokens"; Anthropic's Message Batches:
# "50% of the standard API prices" (cache reads and writes included); Gemini batch mode: "50% of
# the standard cost". genai-prices carries no batch prices.
BATCH_DISCOUNT: Mapping[str, Decimal] = MappingProxyType(
    {"openai": Decimal("0.5"), "anthropic": Decimal("0.5"), "gemini": Decimal("0.5")}
)

# Anthropic's documented prompt-caching multipliers of the base input rate.
_ANTHROPIC_CACHE_WRITE_5M = Decimal("1.25")
_ANTHROPIC_CACHE_WRITE_1H = Decimal(2)
_ANTHROPIC_CACHE_READ = Decimal("0.1")


class PriceTier(BaseModel):
    """Rates that replace the base rates for a call whose input exceeds ``above_input_tokens``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    above_input_tokens: int
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cached_input_per_mtok: Decimal | None = None
    cache_write_per_mtok: Decimal | None = None
    cache_write_1h_per_mtok: Decimal | None = None


class ModelPrice(BaseModel):
    """A model's rates in USD per million tokens, and where they came from.

    Attributes:
        input_per_mtok: uncached prompt tokens (the base tier's rate when there are tiers).
        output_per_mtok: generated tokens, reasoning included.
        cached_input_per_mtok: prompt tokens read from the provider's cache; None when the
            model has no cache rate (cached tokens are then billed as ordinary input).
        cache_write_per_mtok: prompt tokens written to the 5-minute cache; None when the
            vendor bills writes as ordinary input.
        cache_write_1h_per_mtok: prompt tokens written to the 1-hour cache; None: as a
            5-minute write.
        source: ``catalog`` (genai-prices), ``override`` (the ``prices`` setting) or ``free``
            (a local or subscription tier: $0 per call).
        tiers: long-context tiers, lowest threshold first; empty when the price is flat.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cached_input_per_mtok: Decimal | None = None
    cache_write_per_mtok: Decimal | None = None
    cache_write_1h_per_mtok: Decimal | None = None
    source: Literal["catalog", "override", "free"]
    tiers: tuple[PriceTier, ...] = ()

    @property
    def has_tiers(self) -> bool:
        return bool(self.tiers)

    def rates_for(self, input_tokens: int) -> Rates:
        """The rates of a call with ``input_tokens`` prompt tokens: the highest tier whose
        threshold it exceeds (every token of the call at that tier's rates), else the base."""
        band: ModelPrice | PriceTier = self
        for tier in self.tiers:  # lowest threshold first
            if input_tokens > tier.above_input_tokens:
                band = tier
        cache_write = band.cache_write_per_mtok
        if cache_write is None:
            cache_write = band.input_per_mtok
        cache_write_1h = band.cache_write_1h_per_mtok
        return Rates(
            input_per_mtok=band.input_per_mtok,
            cached_input_per_mtok=band.input_per_mtok
            if band.cached_input_per_mtok is None
            else band.cached_input_per_mtok,
            cache_write_per_mtok=cache_write,
            cache_write_1h_per_mtok=cache_write if cache_write_1h is None else cache_write_1h,
            output_per_mtok=band.output_per_mtok,
            above_input_tokens=band.above_input_tokens if isinstance(band, PriceTier) else None,
        )


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


def _cache_rates(
    provider: str,
    input_rate: Decimal,
    cached: Decimal | None,
    write: Decimal | None,
    write_1h: Decimal | None = None,
) -> dict[str, Decimal | None]:
    """The cache rates of one band, the missing ones filled from the vendor's documented
    multipliers (see the module docstring)."""
    if provider == "anthropic":
        cached = input_rate * _ANTHROPIC_CACHE_READ if cached is None else cached
        write = input_rate * _ANTHROPIC_CACHE_WRITE_5M if write is None else write
        write_1h = input_rate * _ANTHROPIC_CACHE_WRITE_1H if write_1h is None else write_1h
    return {
        "cached_input_per_mtok": cached,
        "cache_write_per_mtok": write,
        "cache_write_1h_per_mtok": write_1h,
    }


def _from_catalog(prices: genai_types.ModelPrice, provider: str) -> ModelPrice | None:
    raw_input = getattr(prices, "input_mtok", None)
    raw_output = getattr(prices, "output_mtok", None)
    raw_cached = getattr(prices, "cache_read_mtok", None)
    raw_write = getattr(prices, "cache_write_mtok", None)
    raw_write_1h = getattr(prices, "cache_write_1h_mtok", None)
    if raw_input is None and raw_output is None:
        return None  # not a text-token price (an image or audio model, say)
    raws = (raw_input, raw_output, raw_cached, raw_write, raw_write_1h)
    thresholds = sorted(
        {
            tier.start
            for raw in raws
            if isinstance(raw, genai_types.TieredPrices)
            for tier in raw.tiers
        }
    )
    tiers = []
    for threshold in thresholds:
        input_rate = _rate_above(raw_input, threshold) or Decimal(0)
        tiers.append(
            PriceTier(
                above_input_tokens=threshold,
                input_per_mtok=input_rate,
                output_per_mtok=_rate_above(raw_output, threshold) or Decimal(0),
                **_cache_rates(
                    provider,
                    input_rate,
                    _rate_above(raw_cached, threshold),
                    _rate_above(raw_write, threshold),
                    _rate_above(raw_write_1h, threshold),
                ),
            )
        )
    base_input = _base_rate(raw_input) or Decimal(0)
    return ModelPrice(
        input_per_mtok=base_input,
        output_per_mtok=_base_rate(raw_output) or Decimal(0),
        source="catalog",
        tiers=tuple(tiers),
        **_cache_rates(
            provider,
            base_input,
            _base_rate(raw_cached),
            _base_rate(raw_write),
            _base_rate(raw_write_1h),
        ),
    )


def _plain(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


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
                source="override",
                **_cache_rates(
                    address.provider, override.input_per_mtok, override.cached_input_per_mtok, None
                ),
            )
        try:
            _, info = data_snapshot.get_snapshot().find_provider_model(
                address.model, None, _CATALOG_PROVIDER[address.provider], None
            )
        except LookupError:
            return None
        return _from_catalog(info.get_prices(datetime.now(tz=UTC)), address.provider)

    def answering_model(self, asked: ModelAddress | str, answered: str | None) -> ModelAddress:
        """The model whose price applies to a call to ``asked`` that ``answered`` served.

        A call is priced on the model that answered (a proxy's fallback, an alias resolved to
        a snapshot), as the reply names it: OpenAI's and Anthropic's ``model``, Gemini's
        ``modelVersion``. Except when that would ignore the user's word or price nothing:

        * a snapshot of the asked model (``gpt-4.1-mini-2025-04-14`` for ``gpt-4.1-mini``)
          keeps the asked model's override, when the user set one and none for the snapshot;
        * an answering model nobody prices is priced as the asked one (the call was made; a
          known price beats booking it at $0 or losing it).

        Returns:
            The address to price with, in ``asked``'s provider.
        """
        asked = _as_address(asked)
        name = (answered or "").strip().removeprefix("models/")
        if not name or name.lower() == asked.model.lower() or asked.tier is not Tier.API:
            return asked
        candidate = ModelAddress(asked.provider, name)
        if (
            _key(asked) in self._overrides
            and _key(candidate) not in self._overrides
            and _is_snapshot(name, of=asked.model)
        ):
            return asked
        return candidate if self.price_of(candidate) is not None else asked

    def price(self, address: ModelAddress | str, usage: CallUsage) -> PricedCall:
        """Price one call part by part: which rates applied, and what it cost.

        Raises:
            PricingError: a paid model has neither a catalog price nor an override; the
                message shows the ``frugalflow.toml`` lines that would price it.
        """
        address = _as_address(address)
        price = self.price_of(address)
        if price is None:
            raise _missing_price(address)
        rates = price.rates_for(usage.input_tokens)
        return PricedCall(model=str(address), usage=usage, rates=rates, cost_usd=rates.cost(usage))

    def price_batch(self, address: ModelAddress | str, usage: CallUsage) -> PricedCall:
        """Price one call made through the vendor's batch API: each part at its standard rate
        times :data:`BATCH_DISCOUNT` (the rates booked are the discounted ones).

        Raises:
            PricingError: as :meth:`price`, or the provider has no batch API.
        """
        address = _as_address(address)
        discount = BATCH_DISCOUNT.get(address.provider)
        if discount is None:
            raise PricingError(f"{address.provider} has no batch API, so no batch price")
        standard = self.price(address, usage).rates
        rates = Rates(
            **{
                name: value * discount if isinstance(value, Decimal) else value
                for name, value in standard.model_dump().items()
            }
        )
        return PricedCall(model=str(address), usage=usage, rates=rates, cost_usd=rates.cost(usage))

    def worst_case(
        self, address: ModelAddress | str, *, input_tokens: int, output_tokens: int
    ) -> Decimal:
        """The most a call can cost: every prompt token written to the (5-minute) prompt cache,
        the dearest way a prompt frugalflow sends is billed (Anthropic's 1.25x; as plain input
        elsewhere), and ``output_tokens`` of output.

        Raises:
            PricingError: as :meth:`price_call`.
        """
        return self.price_call(
            address,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_write_tokens=input_tokens,
        )

    def price_call(
        self,
        address: ModelAddress | str,
        *,
        input_tokens: int,
        output_tokens: int,
        cached_tokens: int = 0,
        cache_write_tokens: int = 0,
        cache_write_1h_tokens: int = 0,
    ) -> Decimal:
        """The price in USD of one call with the given usage (see :class:`CallUsage`).

        Args:
            input_tokens: every prompt token, the cached and written ones included.
            output_tokens: every generated token, reasoning included.
            cached_tokens: the part of ``input_tokens`` read from the provider's cache.
            cache_write_tokens: the part of ``input_tokens`` written to it.
            cache_write_1h_tokens: the part of ``cache_write_tokens`` written for one hour.

        Raises:
            PricingError: a paid model has neither a catalog price nor an override; the
                message shows the ``frugalflow.toml`` lines that would price it.
            ValueError: a count is negative, or the parts exceed their totals.
        """
        usage = CallUsage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_tokens=cached_tokens,
            cache_write_tokens=cache_write_tokens,
            cache_write_1h_tokens=cache_write_1h_tokens,
        )
        return self.price(address, usage).cost_usd


def _is_snapshot(name: str, *, of: str) -> bool:
    """Whether ``name`` is a dated or numbered version of model ``of``
    (``gpt-4.1-2025-04-14``, ``claude-sonnet-4-5-20250929``, ``gemini-2.0-flash-001``)."""
    return re.fullmatch(re.escape(of.lower()) + r"[-@]\d[\d-]*", name.lower()) is not None


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

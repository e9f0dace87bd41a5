"""What one model call used, part by part, and what each part cost: the billed parts of a
call's tokens (:class:`CallUsage`), the rates they were billed at (:class:`Rates`) and the
priced call (:class:`PricedCall`), as the meter books them in the ledger.

Every count is a total or a part of one, and the parts never overlap as billed: pricing the
uncached input, the cache reads, the 5-minute and the 1-hour cache writes and the output
(reasoning included) counts each token once. Where each vendor's usage fields land in these
parts is up to its adapter (:mod:`frugalflow.providers`); the table is in docs/accounting.md.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from frugalflow.core.models import ModelAddress
from frugalflow.core.schemas import Tier
from frugalflow.core.settings import Settings

_MTOK = Decimal(1_000_000)
_SECONDS_PER_HOUR = 3600


class CallUsage(BaseModel):
    """The tokens of one call as frugalflow books them: two totals and the parts inside them.

    The parts overlap their totals, never each other, so that pricing the billed parts
    (:attr:`uncached_input_tokens`, the cache reads, the 5-minute and the 1-hour writes, the
    output) counts every token once.

    Attributes:
        input_tokens: the whole prompt: uncached, read from the cache and written to it.
        output_tokens: the whole reply, reasoning included.
        cached_tokens: the part of ``input_tokens`` read from the provider's prompt cache.
        cache_write_tokens: the part of ``input_tokens`` written to the cache (both lifetimes).
        cache_write_1h_tokens: the part of ``cache_write_tokens`` written for one hour; the
            rest was written for five minutes.
        reasoning_tokens: the part of ``output_tokens`` the model spent thinking (billed as
            output; recorded so that reports can show it).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cached_tokens: int = Field(default=0, ge=0)
    cache_write_tokens: int = Field(default=0, ge=0)
    cache_write_1h_tokens: int = Field(default=0, ge=0)
    reasoning_tokens: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _parts_fit(self) -> CallUsage:
        if self.cached_tokens + self.cache_write_tokens > self.input_tokens:
            raise ValueError(
                f"cached_tokens ({self.cached_tokens}) and cache_write_tokens "
                f"({self.cache_write_tokens}) cannot exceed input_tokens ({self.input_tokens}): "
                "input_tokens counts the whole prompt, cached and written parts included"
            )
        if self.cache_write_1h_tokens > self.cache_write_tokens:
            raise ValueError(
                f"cache_write_1h_tokens ({self.cache_write_1h_tokens}) cannot exceed "
                f"cache_write_tokens ({self.cache_write_tokens})"
            )
        if self.reasoning_tokens > self.output_tokens:
            raise ValueError(
                f"reasoning_tokens ({self.reasoning_tokens}) cannot exceed output_tokens "
                f"({self.output_tokens}): output_tokens counts reasoning too"
            )
        return self

    @property
    def uncached_input_tokens(self) -> int:
        """The prompt tokens billed at the plain input rate."""
        return self.input_tokens - self.cached_tokens - self.cache_write_tokens

    @property
    def cache_write_5m_tokens(self) -> int:
        """The cache writes billed at the 5-minute rate."""
        return self.cache_write_tokens - self.cache_write_1h_tokens


class Rates(BaseModel):
    """The rates, USD per million tokens, that one call was billed at.

    Attributes:
        input_per_mtok: uncached prompt tokens.
        cached_input_per_mtok: prompt tokens read from the cache.
        cache_write_per_mtok: prompt tokens written to the 5-minute cache.
        cache_write_1h_per_mtok: prompt tokens written to the 1-hour cache.
        output_per_mtok: generated tokens, reasoning included.
        above_input_tokens: the long-context tier applied (its threshold), None for the base.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_per_mtok: Decimal
    cached_input_per_mtok: Decimal
    cache_write_per_mtok: Decimal
    cache_write_1h_per_mtok: Decimal
    output_per_mtok: Decimal
    above_input_tokens: int | None = None

    def cost(self, usage: CallUsage) -> Decimal:
        """What ``usage`` costs at these rates, in USD, exactly (no rounding)."""
        return (
            usage.uncached_input_tokens * self.input_per_mtok
            + usage.cached_tokens * self.cached_input_per_mtok
            + usage.cache_write_5m_tokens * self.cache_write_per_mtok
            + usage.cache_write_1h_tokens * self.cache_write_1h_per_mtok
            + usage.output_tokens * self.output_per_mtok
        ) / _MTOK


class PricedCall(BaseModel):
    """One call's usage, the rates it was billed at and what it cost.

    Attributes:
        model: the ``provider:model`` whose price applied (the model that answered).
        usage: the tokens, by part.
        rates: the rates of each part.
        cost_usd: the sum of each part at its rate.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    usage: CallUsage
    rates: Rates
    cost_usd: Decimal

    def ledger_fields(self) -> dict[str, Any]:
        """The ledger's columns for this call: each count, each rate, the tier, the cost."""
        rates = self.rates.model_dump()
        tier = rates.pop("above_input_tokens")
        return {
            **self.usage.model_dump(),
            **rates,
            "price_tier_above_tokens": tier,
            "actual_cost_usd": self.cost_usd,
        }


def compute_cost(address: ModelAddress, seconds: float, settings: Settings) -> Decimal:
    """The local machine's cost for ``seconds`` of a local call, at ``local_cost_usd_per_hour``;
    $0 for any other tier (an API call is priced by its tokens, a subscription by its fee)."""
    if address.tier is not Tier.LOCAL or settings.local_cost_usd_per_hour == 0:
        return Decimal(0)
    wall = Decimal(str(round(max(seconds, 0.0), 3)))
    return settings.local_cost_usd_per_hour * wall / _SECONDS_PER_HOUR


def answered_elsewhere(address: ModelAddress, answered: str | None) -> str | None:
    """The model a reply named, when it is not the one asked for (the ledger's
    ``answered_model``); None when it is the same or the reply named none."""
    if not answered or answered.lower() == address.model.lower():
        return None
    return answered

"""What a call will use and cost, before it is made, offline.

Token counts are exact for OpenAI models (their own tiktoken encodings ship with frugalflow).
Every other model (Anthropic, Gemini, local GGUF models) tokenizes differently and has no
offline tokenizer here, so its prompt is counted with ``o200k_base`` and marked inexact; the
recorded usage of earlier calls then teaches a per-provider correction factor
(:func:`learn_correction`), and the recorded output lengths an expected reply length
(:func:`expected_output_tokens`). The worst case prices the most output a call may produce,
which is what a budget must be able to cover before a paid call starts.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from frugalflow.core.models import ModelAddress, parse_address
from frugalflow.core.schemas import Tier
from frugalflow.money.pricing import PriceCatalog
from frugalflow.money.tokens import DEFAULT_ENCODING, count_tokens, openai_encoding
from frugalflow.providers.base import stable_part_digest

# Chat framing, per OpenAI's cookbook ("How to count tokens with tiktoken", gpt-3.5-turbo-0613
# and later, gpt-4*, gpt-4o*): every message costs 3 tokens on top of its role and content
# (<|start|>{role}\n{content}<|end|>\n), and every reply is primed with 3 more
# (<|start|>assistant<|message|>). Other vendors' framing differs; their counts are inexact
# anyway and the learned correction absorbs the difference.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_REPLY = 3

MIN_SAMPLES = 5
"""Fewer recorded calls than this and the history is ignored (correction 1.0, the fallback)."""
CORRECTION_BOUNDS = (0.5, 3.0)
"""A learned correction factor is clamped into this range."""
CACHE_LIFETIME = timedelta(minutes=5)
"""How long a vendor's prompt cache is expected to hold a stable part after a call read or
wrote it: Anthropic's default (5-minute) lifetime, refreshed by each read; OpenAI keeps a prefix
5 to 10 minutes after its last use. After it, the estimate expects no cache read."""


class TokenCount(NamedTuple):
    tokens: int
    exact: bool
    """True when the count is what the provider will bill (its own tokenizer was used)."""


class CallEstimate(BaseModel):
    """What one call is expected to use and cost, and what it can cost at most.

    Attributes:
        model: the ``provider:model`` address priced.
        input_tokens: the counted prompt times the correction, rounded up.
        expected_output_tokens: the reply length expected (never above the maximum).
        max_output_tokens: the ``max_tokens`` the call is made with.
        expected_cost_usd: input plus expected output, priced.
        worst_case_cost_usd: input plus the maximum output, priced.
        exact: the input count is the provider's own (an OpenAI model, no correction).
        correction: the factor the counted input was multiplied by.
        expected_cached_tokens: the part of ``input_tokens`` expected to be read from the
            vendor's prompt cache (priced at the cache-read rate in ``expected_cost_usd``;
            the worst case still prices every prompt token as a cache write).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    input_tokens: int
    expected_output_tokens: int
    max_output_tokens: int
    expected_cost_usd: Decimal
    worst_case_cost_usd: Decimal
    exact: bool
    correction: float = 1.0
    expected_cached_tokens: int = 0


def _address(address: ModelAddress | str) -> ModelAddress:
    return address if isinstance(address, ModelAddress) else parse_address(address)


def encoding_for(address: ModelAddress | str) -> tuple[str, bool]:
    """The encoding used to count tokens for a model, and whether the count is exact."""
    address = _address(address)
    if address.provider == "openai":
        encoding = openai_encoding(address.model)
        if encoding is not None:
            return encoding, True
    return DEFAULT_ENCODING, False


def count_input_tokens(address: ModelAddress | str, text: str) -> TokenCount:
    """Count the tokens of ``text`` as ``address`` would, or as closely as offline allows.

    Example:
        >>> count_input_tokens("openai:gpt-4o-mini", "hello world")
        TokenCount(tokens=2, exact=True)
    """
    encoding, exact = encoding_for(address)
    return TokenCount(count_tokens(text, encoding), exact)


def count_message_tokens(
    address: ModelAddress | str, messages: Sequence[tuple[str, str]]
) -> TokenCount:
    """Count a chat prompt: each ``(role, content)`` message plus the chat framing.

    The framing is :data:`TOKENS_PER_MESSAGE` per message and :data:`TOKENS_PER_REPLY` once,
    OpenAI's documented overhead.

    Example:
        >>> count_message_tokens("openai:gpt-4o", [("user", "hello world")])
        TokenCount(tokens=9, exact=True)
    """
    encoding, exact = encoding_for(address)
    tokens = TOKENS_PER_REPLY + sum(
        TOKENS_PER_MESSAGE + count_tokens(role, encoding) + count_tokens(content, encoding)
        for role, content in messages
    )
    return TokenCount(tokens, exact)


def learn_correction(pairs: Sequence[tuple[int, int]]) -> float:
    """Learn how far a provider's billed input is from our count of it.

    Args:
        pairs: ``(estimated, actual)`` input tokens of recorded calls to one provider (and,
            ideally, one model); pairs with a zero estimate are ignored.

    Returns:
        The median of ``actual / estimated``, clamped to :data:`CORRECTION_BOUNDS`; 1.0 when
        fewer than :data:`MIN_SAMPLES` usable pairs exist.
    """
    ratios = [actual / estimated for estimated, actual in pairs if estimated > 0 and actual >= 0]
    if len(ratios) < MIN_SAMPLES:
        return 1.0
    low, high = CORRECTION_BOUNDS
    return min(high, max(low, statistics.median(ratios)))


def expected_output_tokens(history: Sequence[int], fallback: int, *, cap: int) -> int:
    """Expect a reply as long as the median of recorded replies to the same kind of request.

    Args:
        history: output tokens of recorded calls with the same task type and model.
        fallback: the answer until :data:`MIN_SAMPLES` calls are recorded.
        cap: the call's ``max_tokens``; the result never exceeds it.
    """
    expected = math.ceil(statistics.median(history)) if len(history) >= MIN_SAMPLES else fallback
    return max(0, min(expected, cap))


def estimate_call(
    address: ModelAddress | str,
    prompt_text: str | Sequence[tuple[str, str]],
    *,
    correction: float = 1.0,
    expected_output: int,
    max_output: int,
    catalog: PriceCatalog,
) -> CallEstimate:
    """Estimate one call's usage and its expected and worst-case cost.

    Args:
        address: the model the call would go to.
        prompt_text: the prompt as one text, or as ``(role, content)`` chat messages (then
            counted with the chat framing, :func:`count_message_tokens`).
        correction: factor from :func:`learn_correction` for this provider.
        expected_output: the reply length expected (clamped to ``max_output``).
        max_output: the call's ``max_tokens``.
        catalog: the prices (with the user's overrides).

    Raises:
        PricingError: a paid model has no known price.
        ValueError: a negative token budget or a non-positive correction.
    """
    if correction <= 0 or not math.isfinite(correction):
        raise ValueError(f"correction must be a positive number, not {correction}")
    if max_output < 0 or expected_output < 0:
        raise ValueError("output token counts cannot be negative")
    address = _address(address)
    counted = (
        count_input_tokens(address, prompt_text)
        if isinstance(prompt_text, str)
        else count_message_tokens(address, prompt_text)
    )
    # round() first so that float noise (3 * 1.1 = 3.3000000000000003) cannot add a token
    input_tokens = math.ceil(round(counted.tokens * correction, 6))
    expected = min(expected_output, max_output)
    return CallEstimate(
        model=str(address),
        input_tokens=input_tokens,
        expected_output_tokens=expected,
        max_output_tokens=max_output,
        expected_cost_usd=catalog.price_call(
            address, input_tokens=input_tokens, output_tokens=expected
        ),
        worst_case_cost_usd=catalog.worst_case(
            address, input_tokens=input_tokens, output_tokens=max_output
        ),
        exact=counted.exact and correction == 1.0,
        correction=correction,
    )


def stable_part_key(prompt: Sequence[tuple[str, str]]) -> str | None:
    """The key of a prompt's stable part: the system text and every message before the last
    one (the request), so one per repository state and system prompt. The ledger records it
    with each call, and an estimate looks it up to tell whether the vendor's prompt cache holds
    that part. None when the prompt is the request alone (nothing a cache could share).

    Example:
        >>> stable_part_key([("user", "add two numbers")]) is None
        True
    """
    return stable_part_digest(prompt)


@runtime_checkable
class CacheHistory(Protocol):
    """The part of the cost ledger that tells whether a vendor's prompt cache holds a prompt's
    stable part (:meth:`frugalflow.money.ledger.CostLedger.cache_activity`)."""

    def cache_activity(self, *, provider: str, prompt_cache_key: str, since: datetime) -> int: ...


def expected_cached_tokens(
    address: ModelAddress,
    prompt_text: str | Sequence[tuple[str, str]],
    history: object,
    *,
    input_tokens: int,
    correction: float = 1.0,
    now: datetime | None = None,
) -> int:
    """The prompt tokens a paid call is expected to read from its vendor's prompt cache: as
    many as a call with the same stable part read or wrote within :data:`CACHE_LIFETIME`,
    at most the stable part itself (counted, times the correction) and the whole prompt; 0
    when no such call is in the ledger."""
    if address.tier is not Tier.API or isinstance(prompt_text, str):
        return 0
    key = stable_part_key(prompt_text)
    if key is None or not isinstance(history, CacheHistory):
        return 0
    since = (now or datetime.now(UTC)) - CACHE_LIFETIME
    seen = history.cache_activity(provider=address.provider, prompt_cache_key=key, since=since)
    if seen <= 0:
        return 0
    stable = count_message_tokens(address, prompt_text[:-1]).tokens - TOKENS_PER_REPLY
    return max(0, min(seen, math.ceil(round(stable * correction, 6)), input_tokens))


class UsageHistory(Protocol):
    """The part of the cost ledger that estimates learn from."""

    def usage_history(
        self,
        *,
        provider: str | None = None,
        model: str | None = None,
        task_type: str | None = None,
        limit: int = 200,
    ) -> Sequence[RecordedUsage]: ...


class RecordedUsage(Protocol):
    @property
    def input_tokens(self) -> int: ...
    @property
    def output_tokens(self) -> int: ...
    @property
    def estimated_input_tokens(self) -> int | None: ...


def learned_estimate(
    address: ModelAddress | str,
    prompt_text: str | Sequence[tuple[str, str]],
    *,
    history: UsageHistory,
    task_type: str,
    fallback_output: int,
    max_output: int,
    catalog: PriceCatalog,
    extra_input_tokens: int = 0,
) -> CallEstimate:
    """Estimate a call with what the ledger has learned about this provider and model.

    The input correction comes from the provider's recorded (counted, actual) input pairs; the
    expected reply length from this model's recorded replies for the same task type. When the
    ledger shows that the vendor's prompt cache holds the prompt's stable part (a recent call
    with the same :func:`stable_part_key` read or wrote it, :func:`expected_cached_tokens`),
    the expected cost prices those tokens at the cache-read rate; the worst case does not
    change (every prompt token as a cache write).

    Args:
        address: the model the call would go to.
        prompt_text: the prompt, as text or ``(role, content)`` messages.
        history: the cost ledger (anything with ``usage_history``).
        task_type: the request's task type.
        fallback_output: the reply length to expect until there is history.
        max_output: the call's ``max_tokens``.
        catalog: the prices.
        extra_input_tokens: tokens the prompt will gain later (the repository context), counted
            as if they were part of it.
    """
    address = _address(address)
    pairs = [
        (call.estimated_input_tokens, call.input_tokens)
        for call in history.usage_history(provider=address.provider)
        if call.estimated_input_tokens
    ]
    outputs = [
        call.output_tokens
        for call in history.usage_history(
            provider=address.provider, model=address.model, task_type=task_type
        )
    ]
    estimate = estimate_call(
        address,
        prompt_text,
        correction=learn_correction(pairs),
        expected_output=expected_output_tokens(outputs, fallback_output, cap=max_output),
        max_output=max_output,
        catalog=catalog,
    )
    input_tokens = estimate.input_tokens + math.ceil(extra_input_tokens * estimate.correction)
    cached = expected_cached_tokens(
        address, prompt_text, history, input_tokens=input_tokens, correction=estimate.correction
    )
    if not extra_input_tokens and not cached:
        return estimate
    return estimate.model_copy(
        update={
            "input_tokens": input_tokens,
            "expected_cached_tokens": cached,
            "expected_cost_usd": catalog.price_call(
                address,
                input_tokens=input_tokens,
                output_tokens=estimate.expected_output_tokens,
                cached_tokens=cached,
            ),
            "worst_case_cost_usd": catalog.worst_case(
                address, input_tokens=input_tokens, output_tokens=estimate.max_output_tokens
            ),
        }
    )

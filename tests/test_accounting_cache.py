"""The estimate and the meter's expected cost price the expected prompt-cache reads: a recent
call that read or wrote the same stable part (same repository state) on the same provider, as
the ledger shows it; the worst case reserved stays every prompt token at the write rate."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from frugalflow.core.models import parse_address
from frugalflow.core.schemas import CodeRequest, Tier
from frugalflow.core.settings import Settings
from frugalflow.money.estimation import (
    CACHE_LIFETIME,
    TOKENS_PER_REPLY,
    CallEstimate,
    count_message_tokens,
    learned_estimate,
    stable_part_key,
)
from frugalflow.money.ledger import CostLedger, ModelCall
from frugalflow.money.metering import Booking, Meter
from frugalflow.money.pricing import PriceCatalog
from frugalflow.providers.base import ChatMessage, Completion

SONNET = "anthropic:claude-sonnet-4-5"
CONTEXT = "Repository layout and conventions.\n" * 400
PROMPT = [("system", "You write Python."), ("user", CONTEXT), ("user", "Write add(a, b).")]
OTHER_STATE = [("system", "You write Python."), ("user", CONTEXT + "x"), PROMPT[-1]]
CATALOG = PriceCatalog()


def booked(
    ledger: CostLedger,
    prompt: Sequence[tuple[str, str]],
    *,
    cached: int = 0,
    written: int = 0,
    model: str = SONNET,
    at: datetime | None = None,
) -> None:
    address = parse_address(model)
    ledger.record(
        ModelCall(
            ts=at or datetime.now(UTC),
            request_id="earlier",
            project="p",
            step="generate",
            provider=address.provider,
            model=address.model,
            tier=Tier.API,
            input_tokens=4_000,
            output_tokens=50,
            cached_tokens=cached,
            cache_write_tokens=written,
            prompt_cache_key=stable_part_key(prompt),
        )
    )


def estimate(
    ledger: CostLedger, prompt: Sequence[tuple[str, str]] = PROMPT, model: str = SONNET
) -> CallEstimate:
    return learned_estimate(
        model,
        prompt,
        history=ledger,
        task_type="code_generation",
        fallback_output=200,
        max_output=1_000,
        catalog=CATALOG,
    )


def test_a_recent_cache_write_of_the_same_stable_part_is_priced_as_a_read(tmp_path: Path) -> None:
    ledger = CostLedger(tmp_path / "ledger.duckdb")
    cold = estimate(ledger)
    assert cold.expected_cached_tokens == 0
    booked(ledger, PROMPT, written=1_500)
    warm = estimate(ledger)
    assert warm.expected_cached_tokens == 1_500
    assert warm.expected_cost_usd == CATALOG.price_call(
        SONNET, input_tokens=warm.input_tokens, output_tokens=200, cached_tokens=1_500
    )
    assert warm.expected_cost_usd < cold.expected_cost_usd
    # the worst case is not weakened: every prompt token as a 5-minute write
    assert (
        warm.worst_case_cost_usd
        == cold.worst_case_cost_usd
        == CATALOG.worst_case(SONNET, input_tokens=warm.input_tokens, output_tokens=1_000)
    )


def test_reads_count_too_and_never_more_than_the_stable_part(tmp_path: Path) -> None:
    ledger = CostLedger(tmp_path / "ledger.duckdb")
    booked(ledger, PROMPT, cached=3_900)
    booked(ledger, PROMPT, cached=100)
    stable = count_message_tokens(SONNET, PROMPT[:-1]).tokens - TOKENS_PER_REPLY
    warm = estimate(ledger)
    assert warm.expected_cached_tokens == stable < warm.input_tokens


def test_another_repository_state_provider_or_an_expired_cache_is_not_a_read(
    tmp_path: Path,
) -> None:
    ledger = CostLedger(tmp_path / "ledger.duckdb")
    booked(ledger, OTHER_STATE, written=3_500)  # the context changed: another stable part
    booked(ledger, PROMPT, cached=3_500, model="openai:gpt-4o-mini")  # another vendor's cache
    old = datetime.now(UTC) - CACHE_LIFETIME - timedelta(seconds=5)
    booked(ledger, PROMPT, written=3_500, at=old)  # the cache has expired since
    assert estimate(ledger).expected_cached_tokens == 0
    assert estimate(ledger, PROMPT, "gemini:gemini-2.5-flash").expected_cached_tokens == 0


def test_a_prompt_that_is_the_request_alone_has_no_stable_part() -> None:
    assert stable_part_key([("user", "Write add(a, b).")]) is None
    assert stable_part_key(PROMPT) != stable_part_key(OTHER_STATE)


def test_the_meter_books_the_stable_part_and_expects_the_read(tmp_path: Path) -> None:
    """The meter records each call's stable-part key; its next call's estimate (the ledger's
    ``estimated_cost_usd``) prices the read the first one's write makes expected."""
    settings = Settings(home=tmp_path / "home", models=[SONNET], max_output_tokens=500)
    request = CodeRequest(description="Add add(a, b)", repo=tmp_path, request_id="r1")
    messages = [ChatMessage(role=role, content=content) for role, content in PROMPT]
    meter = Meter(SONNET, Booking(request, "generate", "code_generation", "flow-1"), settings)

    def send(sent: Sequence[ChatMessage], max_tokens: int) -> Completion:
        return Completion(
            text="def add(a, b):\n    return a + b\n",
            model=SONNET,
            input_tokens=4_000,
            output_tokens=40,
            cache_write_tokens=3_900,
            usage_reported=True,
            seconds=0.1,
        )

    meter.call(messages, send, max_tokens=500)
    meter.call(messages, send, max_tokens=500)
    first, second = CostLedger(settings.ledger_file).calls_for_request("r1")
    assert first.prompt_cache_key == second.prompt_cache_key == stable_part_key(PROMPT)
    assert second.estimated_cost_usd < first.estimated_cost_usd

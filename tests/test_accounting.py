"""Exact accounting per vendor: each documented usage field, through the real adapter at the
HTTP boundary, the meter and a real DuckDB ledger, priced part by part and never twice.

Each case sends a body shaped as the vendor documents it (the shapes are built by
``bench/accounting.py``, whose workload uses the same ones) to the SDK, through the SDK's own
``httpx2`` client on a mock transport; it meters the call as a flow step does, and checks the
ledger row: every count in its column, the rate of each part, and the cost worked out here by
hand from those parts. Where the rates come from a ``prices`` override the test states them,
so that the expected cost is arithmetic on numbers written below.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import pytest

from frugalflow.core.schemas import CodeRequest
from frugalflow.core.settings import PriceOverride, Settings
from frugalflow.money.budget import BudgetManager
from frugalflow.money.ledger import CostLedger, ModelCall
from frugalflow.money.metering import Booking, Meter
from frugalflow.money.pricing import PriceCatalog
from frugalflow.providers.base import ChatMessage, Completion
from tests.support.bench import load_bench
from tests.support.http import HttpRecorder

# The documented reply shapes and the adapters on a client, shared with the benchmark.
shapes = load_bench("accounting", "bench_accounting_shapes")
Send = Callable[[Sequence[ChatMessage], int], Completion]

MESSAGES = [
    ChatMessage(role="system", content="You write Python."),
    ChatMessage(role="user", content="Write add(a, b)."),
]
CODE = "def add(a, b):\n    return a + b\n"
MTOK = Decimal(1_000_000)


def settings_with(tmp_path: Path, **changes: Any) -> Settings:
    return Settings(home=tmp_path / "home", max_output_tokens=2_000, **changes)


def metered_row(
    tmp_path: Path,
    settings: Settings,
    model: str,
    complete: Callable[[list[ChatMessage], int], Completion],
) -> ModelCall:
    """Meter one call as a flow step does and return the ledger's row for it."""
    request = CodeRequest(description="Add a function", repo=tmp_path, request_id="acct")
    booking = Booking(request, "generate", "code_generation", "flow-1")
    Meter(model, booking, settings).call(
        MESSAGES,
        lambda messages, max_tokens: complete(list(messages), max_tokens),
        max_tokens=2_000,
    )
    [row] = CostLedger(settings.ledger_file).recent()
    return row


def json_reply(body: dict[str, Any]) -> HttpRecorder:
    return HttpRecorder(lambda request: httpx2.Response(200, json=body))


def event_stream(content: str) -> HttpRecorder:
    return HttpRecorder(
        lambda request: httpx2.Response(
            200, content=content.encode(), headers={"content-type": "text/event-stream"}
        )
    )


def by_hand(
    *,
    uncached: int,
    output: int,
    input_rate: str,
    output_rate: str,
    cached: int = 0,
    cached_rate: str = "0",
    write_5m: int = 0,
    write_5m_rate: str = "0",
    write_1h: int = 0,
    write_1h_rate: str = "0",
) -> Decimal:
    """A call's price from its billed parts and rates (USD per million tokens)."""
    return (
        uncached * Decimal(input_rate)
        + cached * Decimal(cached_rate)
        + write_5m * Decimal(write_5m_rate)
        + write_1h * Decimal(write_1h_rate)
        + output * Decimal(output_rate)
    ) / MTOK


# -- OpenAI Chat Completions -----------------------------------------------------------------

# The rates of o4-mini as OpenAI lists them (USD per million tokens), as an override so that
# the expected costs below are arithmetic on these numbers.
O4_MINI = PriceOverride(
    input_per_mtok=Decimal("1.10"),
    cached_input_per_mtok=Decimal("0.275"),
    output_per_mtok=Decimal("4.40"),
)
OPENAI_USAGE = {
    "prompt_tokens": 2_000,
    "completion_tokens": 500,
    "total_tokens": 2_500,
    "prompt_tokens_details": {"cached_tokens": 1_536, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 320,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}


def adapter(recorder: HttpRecorder, asked: str, *, stream: bool = False) -> Send:
    """The real adapter for ``asked``, its SDK sending to ``recorder``."""
    return shapes.adapter_call(asked, recorder.client(), stream=stream)


def test_openai_cached_and_reasoning_tokens_are_parts_billed_once(tmp_path: Path) -> None:
    """OpenAI's chat completion object: ``usage.prompt_tokens_details.cached_tokens`` is a part
    of ``prompt_tokens`` billed at the cached-input rate, and
    ``usage.completion_tokens_details.reasoning_tokens`` a part of ``completion_tokens`` billed
    as output (https://platform.openai.com/docs/api-reference/chat/object, "usage"; the prompt
    caching guide: cached tokens are included in prompt_tokens)."""
    settings = settings_with(tmp_path, prices={"openai:o4-mini": O4_MINI})
    recorder = json_reply(shapes.openai_body("o4-mini-2025-04-16", OPENAI_USAGE))
    row = metered_row(tmp_path, settings, "openai:o4-mini", adapter(recorder, "openai:o4-mini"))

    assert (row.input_tokens, row.cached_tokens, row.cache_write_tokens) == (2_000, 1_536, 0)
    assert (row.output_tokens, row.reasoning_tokens) == (500, 320)
    assert (row.input_per_mtok, row.cached_input_per_mtok, row.output_per_mtok) == (
        Decimal("1.10"),
        Decimal("0.275"),
        Decimal("4.40"),
    )
    # The dated snapshot that answered keeps the override set for its alias.
    assert row.answered_model == "o4-mini-2025-04-16"
    expected = by_hand(
        uncached=2_000 - 1_536,
        cached=1_536,
        cached_rate="0.275",
        output=500,  # reasoning included once, as output
        input_rate="1.10",
        output_rate="4.40",
    )
    assert row.actual_cost_usd == expected == Decimal("0.0031328")


def test_openai_stream_is_priced_from_the_final_usage_chunk(tmp_path: Path) -> None:
    """Streamed Chat Completions with ``stream_options: {"include_usage": true}``: the last
    chunk before ``data: [DONE]`` has empty ``choices`` and the whole request's ``usage``
    (https://platform.openai.com/docs/api-reference/chat/create, stream_options)."""
    settings = settings_with(tmp_path, prices={"openai:o4-mini": O4_MINI})
    model = "o4-mini-2025-04-16"
    recorder = event_stream(shapes.openai_stream(model, OPENAI_USAGE))
    row = metered_row(
        tmp_path, settings, "openai:o4-mini", adapter(recorder, "openai:o4-mini", stream=True)
    )
    assert recorder.body(0)["stream_options"] == {"include_usage": True}
    assert (row.input_tokens, row.cached_tokens, row.output_tokens, row.reasoning_tokens) == (
        2_000,
        1_536,
        500,
        320,
    )
    assert row.actual_cost_usd == Decimal("0.0031328")


def test_a_fallback_is_priced_on_the_model_that_answered(tmp_path: Path) -> None:
    """OpenAI's ``model`` field is "the model used for the chat completion": a proxy that fell
    back from gpt-4.1 to gpt-4.1-mini says so there, and the call costs what mini costs."""
    settings = settings_with(tmp_path)
    usage = {"prompt_tokens": 3_000, "completion_tokens": 400, "total_tokens": 3_400}
    recorder = json_reply(shapes.openai_body("gpt-4.1-mini-2025-04-14", usage))
    row = metered_row(tmp_path, settings, "openai:gpt-4.1", adapter(recorder, "openai:gpt-4.1"))

    catalog = PriceCatalog()
    mini = catalog.price_call("openai:gpt-4.1-mini", input_tokens=3_000, output_tokens=400)
    asked = catalog.price_call("openai:gpt-4.1", input_tokens=3_000, output_tokens=400)
    assert (row.model, row.answered_model) == ("gpt-4.1", "gpt-4.1-mini-2025-04-14")
    assert row.actual_cost_usd == mini < asked
    mini_rates = catalog.price_of("openai:gpt-4.1-mini")
    assert mini_rates is not None
    assert row.input_per_mtok == mini_rates.input_per_mtok


def test_an_answering_model_nobody_prices_is_priced_as_the_one_asked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_with(tmp_path)
    usage = {"prompt_tokens": 1_000, "completion_tokens": 100, "total_tokens": 1_100}
    recorder = json_reply(shapes.openai_body("house-blend-7", usage))
    with caplog.at_level(logging.WARNING, logger="frugalflow.generate"):
        row = metered_row(
            tmp_path, settings, "openai:gpt-4.1-mini", adapter(recorder, "openai:gpt-4.1-mini")
        )
    assert row.answered_model == "house-blend-7"
    assert row.actual_cost_usd == PriceCatalog().price_call(
        "openai:gpt-4.1-mini", input_tokens=1_000, output_tokens=100
    )
    assert "house-blend-7, which has no price" in caplog.text


# -- Anthropic Messages ----------------------------------------------------------------------

# Claude Sonnet's list rates: $3 input, $15 output per million tokens. Its cache rates follow
# from Anthropic's documented multipliers: reads 0.1x ($0.30), 5-minute writes 1.25x ($3.75),
# 1-hour writes 2x ($6).
SONNET_RATES = PriceOverride(input_per_mtok=Decimal(3), output_per_mtok=Decimal(15))
SONNET = "anthropic:claude-sonnet-4-5"
SONNET_ANSWERS = "claude-sonnet-4-5-20250929"
ANTHROPIC_USAGE = {
    "input_tokens": 50,
    "cache_read_input_tokens": 1_000,
    "cache_creation_input_tokens": 3_000,
    "cache_creation": {"ephemeral_5m_input_tokens": 2_000, "ephemeral_1h_input_tokens": 1_000},
    "output_tokens": 400,
    "service_tier": "standard",
}
# 50 uncached, 1,000 read, 2,000 written for 5 minutes, 1,000 for an hour, 400 out.
ANTHROPIC_COST = by_hand(
    uncached=50,
    input_rate="3",
    cached=1_000,
    cached_rate="0.30",
    write_5m=2_000,
    write_5m_rate="3.75",
    write_1h=1_000,
    write_1h_rate="6",
    output=400,
    output_rate="15",
)


def test_anthropic_cache_reads_and_both_write_lifetimes_are_priced_apart(tmp_path: Path) -> None:
    """Anthropic's Messages ``usage``: ``input_tokens`` excludes the cache parts;
    ``cache_read_input_tokens`` bill at 0.1x input, ``cache_creation_input_tokens`` at 1.25x
    for the 5-minute cache and 2x for the 1-hour one, split in
    ``cache_creation.ephemeral_5m_input_tokens`` / ``ephemeral_1h_input_tokens``
    (https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching, "Tracking cache
    performance" and "Pricing"). Before issue 14 the writes were billed as plain input."""
    settings = settings_with(tmp_path, prices={SONNET: SONNET_RATES})
    recorder = json_reply(shapes.anthropic_message(SONNET_ANSWERS, ANTHROPIC_USAGE))
    row = metered_row(tmp_path, settings, SONNET, adapter(recorder, SONNET))

    assert row.input_tokens == 4_050  # the whole prompt
    assert (row.cached_tokens, row.cache_write_tokens, row.cache_write_1h_tokens) == (
        1_000,
        3_000,
        1_000,
    )
    assert (row.output_tokens, row.reasoning_tokens) == (400, 0)  # thinking is in output
    assert (
        row.input_per_mtok,
        row.cached_input_per_mtok,
        row.cache_write_per_mtok,
        row.cache_write_1h_per_mtok,
        row.output_per_mtok,
    ) == (Decimal(3), Decimal("0.3"), Decimal("3.75"), Decimal(6), Decimal(15))
    assert row.actual_cost_usd == ANTHROPIC_COST == Decimal("0.01995")


def test_anthropic_writes_without_a_breakdown_are_five_minute_writes(tmp_path: Path) -> None:
    """An older reply (or an API version) without ``usage.cache_creation`` has only
    ``cache_creation_input_tokens``: the default cache lifetime is 5 minutes."""
    settings = settings_with(tmp_path, prices={SONNET: SONNET_RATES})
    usage = {key: value for key, value in ANTHROPIC_USAGE.items() if key != "cache_creation"}
    recorder = json_reply(shapes.anthropic_message(SONNET_ANSWERS, usage))
    row = metered_row(tmp_path, settings, SONNET, adapter(recorder, SONNET))
    assert (row.cache_write_tokens, row.cache_write_1h_tokens) == (3_000, 0)
    assert row.actual_cost_usd == by_hand(
        uncached=50,
        input_rate="3",
        cached=1_000,
        cached_rate="0.30",
        write_5m=3_000,
        write_5m_rate="3.75",
        output=400,
        output_rate="15",
    )


def test_an_anthropic_stream_is_priced_from_message_start_and_message_delta(
    tmp_path: Path,
) -> None:
    """Streamed Messages: ``message_start`` carries the input side of ``usage`` (cache reads
    and writes included), ``message_delta`` the cumulative ``output_tokens``
    (https://docs.anthropic.com/en/docs/build-with-claude/streaming, "Event types")."""
    settings = settings_with(tmp_path, prices={SONNET: SONNET_RATES})
    recorder = event_stream(shapes.anthropic_stream(SONNET_ANSWERS, ANTHROPIC_USAGE))
    row = metered_row(tmp_path, settings, SONNET, adapter(recorder, SONNET, stream=True))
    assert (row.input_tokens, row.cached_tokens, row.cache_write_tokens) == (4_050, 1_000, 3_000)
    assert (row.cache_write_1h_tokens, row.output_tokens) == (1_000, 400)
    assert row.actual_cost_usd == ANTHROPIC_COST


# -- Gemini generateContent ------------------------------------------------------------------


GEMINI_USAGE = {
    "promptTokenCount": 12_000,
    "cachedContentTokenCount": 8_000,
    "candidatesTokenCount": 300,
    "thoughtsTokenCount": 700,
    "totalTokenCount": 13_000,
}


def gemini_expected(model: str, usage: dict[str, Any]) -> tuple[Decimal, Any]:
    """The cost of a Gemini ``usageMetadata`` by hand, from the catalog's rates for its
    prompt size."""
    price = PriceCatalog().price_of(f"gemini:{model}")
    assert price is not None
    rates = price.rates_for(usage["promptTokenCount"])
    cached = usage.get("cachedContentTokenCount", 0)
    cost = (
        (usage["promptTokenCount"] - cached) * rates.input_per_mtok
        + cached * rates.cached_input_per_mtok
        + (usage["candidatesTokenCount"] + usage.get("thoughtsTokenCount", 0))
        * rates.output_per_mtok
    ) / MTOK
    return cost, rates


def test_gemini_thoughts_are_output_beside_the_candidates_and_cache_reads_part_of_the_prompt(
    tmp_path: Path,
) -> None:
    """Gemini's ``usageMetadata``: ``promptTokenCount`` includes ``cachedContentTokenCount``;
    ``thoughtsTokenCount`` is billed as output and is not part of ``candidatesTokenCount``
    (https://ai.google.dev/api/generate-content#UsageMetadata; pricing: "output price
    (including thinking tokens)")."""
    settings = settings_with(tmp_path)
    model = "gemini-2.5-flash"
    row = metered_row(
        tmp_path,
        settings,
        f"gemini:{model}",
        adapter(json_reply(shapes.gemini_body(model, GEMINI_USAGE)), f"gemini:{model}"),
    )
    assert (row.input_tokens, row.cached_tokens) == (12_000, 8_000)
    assert (row.output_tokens, row.reasoning_tokens) == (1_000, 700)
    cost, rates = gemini_expected(model, GEMINI_USAGE)
    assert rates.cached_input_per_mtok < rates.input_per_mtok
    assert row.cached_input_per_mtok == rates.cached_input_per_mtok
    assert row.actual_cost_usd == cost.quantize(Decimal("1e-8")) > 0


def test_gemini_prices_every_token_at_the_long_context_rate_above_the_threshold(
    tmp_path: Path,
) -> None:
    """Gemini 2.5 Pro's rates change for prompts above 200K tokens, for the whole call
    (https://ai.google.dev/gemini-api/docs/pricing: "prompts <= 200k tokens" / "> 200k")."""
    model = "gemini-2.5-pro"
    rows = []
    for prompt in (200_000, 200_001):
        usage = {"promptTokenCount": prompt, "candidatesTokenCount": 1_000, "totalTokenCount": 0}
        home = tmp_path / str(prompt)
        rows.append(
            metered_row(
                home,
                settings_with(home),
                f"gemini:{model}",
                adapter(json_reply(shapes.gemini_body(model, usage)), f"gemini:{model}"),
            )
        )
        cost, rates = gemini_expected(model, usage)
        assert rows[-1].actual_cost_usd == cost.quantize(Decimal("1e-8"))
        assert rows[-1].input_per_mtok == rates.input_per_mtok
    base, long = rows
    assert (base.price_tier_above_tokens, long.price_tier_above_tokens) == (None, 200_000)
    assert long.input_per_mtok is not None and base.input_per_mtok is not None
    assert long.input_per_mtok > base.input_per_mtok
    assert long.output_per_mtok is not None and base.output_per_mtok is not None
    assert long.output_per_mtok > base.output_per_mtok


def test_a_gemini_stream_is_priced_from_the_last_chunks_usage(tmp_path: Path) -> None:
    """``streamGenerateContent?alt=sse``: each chunk's ``usageMetadata`` is a running total;
    the last one is the call's."""
    model = "gemini-2.5-flash"
    recorder = event_stream(shapes.gemini_stream(model, GEMINI_USAGE))
    row = metered_row(
        tmp_path,
        settings_with(tmp_path),
        f"gemini:{model}",
        adapter(recorder, f"gemini:{model}", stream=True),
    )
    assert (row.input_tokens, row.cached_tokens, row.output_tokens, row.reasoning_tokens) == (
        12_000,
        8_000,
        1_000,
        700,
    )
    assert row.actual_cost_usd == gemini_expected(model, GEMINI_USAGE)[0].quantize(Decimal("1e-8"))


# -- the local machine -----------------------------------------------------------------------


def local_reply(seconds: float) -> Send:
    return lambda messages, max_tokens: Completion(
        text=CODE, model="qwen", input_tokens=40, output_tokens=12, seconds=seconds
    )


def test_local_wall_time_is_booked_at_the_hourly_rate_beside_the_budgets(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, local_cost_usd_per_hour=Decimal("0.36"))
    row = metered_row(tmp_path, settings, "llamacpp:qwen", local_reply(12.5))
    assert row.actual_cost_usd == 0
    assert row.compute_cost_usd == Decimal("0.00125")  # 12.5 s at $0.36 an hour
    windows = BudgetManager(CostLedger(settings.ledger_file), settings).status()
    assert [window.spent_usd for window in windows] == [0] * len(windows)  # no budget counts it


def test_local_wall_time_costs_nothing_by_default(tmp_path: Path) -> None:
    row = metered_row(tmp_path, settings_with(tmp_path), "llamacpp:qwen", local_reply(12.5))
    assert row.compute_cost_usd == 0


def test_a_paid_call_books_no_machine_time(tmp_path: Path) -> None:
    settings = settings_with(
        tmp_path, local_cost_usd_per_hour=Decimal(1), prices={"openai:o4-mini": O4_MINI}
    )
    recorder = json_reply(shapes.openai_body("o4-mini", OPENAI_USAGE))
    row = metered_row(tmp_path, settings, "openai:o4-mini", adapter(recorder, "openai:o4-mini"))
    assert row.compute_cost_usd == 0
    assert row.answered_model is None  # it answered as the model asked for

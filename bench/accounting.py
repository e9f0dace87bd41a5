"""Exact accounting: a mixed recorded workload priced by frugalflow against prices worked out
by hand from the vendors' rate cards.

Each call of the workload is a reply recorded in the shape its vendor documents (OpenAI Chat
Completions, Anthropic Messages, Gemini generateContent; streamed and not), with prompt-cache
hits and writes (5-minute and 1-hour), reasoning, long context, and a fallback a proxy made to
another model. Each is replayed through frugalflow's real adapter and its vendor's SDK at the
HTTP boundary (the SDK's own ``httpx2`` client on a mock transport), metered as a flow step
meters it, and read back from a real DuckDB ledger. Beside it, the same call is priced by hand
from :data:`RATE_CARDS`, the vendors' published prices written out below, independently of
the genai-prices catalog frugalflow prices with. The difference must be $0.00: the run exits
1 otherwise.

Batch calls are replayed too (:func:`replay_batches`): each through frugalflow's batch adapter
(submit, poll, fetch the results in the vendor's documented shapes, on an ``httpx`` mock
transport) and the batch book (reserve, record, settle at the batch rate), against the rate
card times :data:`BATCH_PRICE`, the vendors' documented batch price.

    .venv/bin/python bench/accounting.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import httpx2
from google.genai import types as genai_types

from frugalflow.core.schemas import CodeRequest
from frugalflow.core.settings import Settings
from frugalflow.money.batches import BatchBook, BatchRecord
from frugalflow.money.ledger import CostLedger, ModelCall
from frugalflow.money.metering import Booking, Meter
from frugalflow.providers.anthropic import AnthropicProvider
from frugalflow.providers.base import ChatMessage, Completion
from frugalflow.providers.batch import BatchRequest, batch_adapter
from frugalflow.providers.gemini import GeminiProvider
from frugalflow.providers.openai import OpenAIProvider

MTOK = Decimal(1_000_000)
LEDGER_PRECISION = Decimal("1e-8")
CODE = "def add(a, b):\n    return a + b\n"
SYSTEM = ChatMessage(role="system", content="You write Python.")


def prompt_of(tokens: int) -> list[ChatMessage]:
    """A prompt of about ``tokens`` tokens, so that the call reserves what such a prompt
    costs before the recorded reply answers it."""
    context = " context" * max(tokens - 30, 0)
    return [SYSTEM, ChatMessage(role="user", content=f"Write add(a, b).{context}")]


@dataclass(frozen=True)
class Card:
    """One model's published prices, USD per million tokens.

    ``long_above`` is the prompt size above which the ``long`` card applies to the whole call.
    """

    input: str
    output: str
    cache_read: str
    cache_write_5m: str | None = None
    cache_write_1h: str | None = None
    long_above: int | None = None
    long: Card | None = None


# The vendors' rate cards, as their pricing pages list them (USD per million tokens):
# https://openai.com/api/pricing, https://docs.anthropic.com/en/docs/about-claude/pricing and
# https://ai.google.dev/gemini-api/docs/pricing. OpenAI has no cache write price (caching is
# free; reads are discounted); Gemini bills thinking as output; Anthropic bills 5-minute
# writes at 1.25x, 1-hour writes at 2x and reads at 0.1x its input price, and Sonnet 4.5's
# prompts over 200K tokens at its long-context prices.
RATE_CARDS: dict[str, Card] = {
    "openai:gpt-4.1": Card(input="2.00", output="8.00", cache_read="0.50"),
    "openai:gpt-4.1-mini": Card(input="0.40", output="1.60", cache_read="0.10"),
    "openai:o4-mini": Card(input="1.10", output="4.40", cache_read="0.275"),
    "anthropic:claude-sonnet-4-5": Card(
        input="3",
        output="15",
        cache_read="0.30",
        cache_write_5m="3.75",
        cache_write_1h="6",
        long_above=200_000,
        long=Card(
            input="6", output="22.50", cache_read="0.60", cache_write_5m="7.50", cache_write_1h="12"
        ),
    ),
    "anthropic:claude-haiku-4-5": Card(
        input="1", output="5", cache_read="0.10", cache_write_5m="1.25", cache_write_1h="2"
    ),
    "gemini:gemini-2.5-flash": Card(input="0.30", output="2.50", cache_read="0.03"),
    "gemini:gemini-2.5-pro": Card(
        input="1.25",
        output="10.00",
        cache_read="0.125",
        long_above=200_000,
        long=Card(input="2.50", output="15.00", cache_read="0.25"),
    ),
}


# The batch price, as the vendors' batch pages state it: OpenAI's Batch API and Anthropic's
# Message Batches bill every token at 50% of the standard price (Anthropic: cache reads and
# writes too), Gemini's batch mode at 50% of the standard cost. Written here apart from
# frugalflow's own BATCH_DISCOUNT, so that a wrong discount there shows as a difference.
BATCH_PRICE = Decimal("0.5")


@dataclass(frozen=True)
class Billed:
    """A call's billed parts, read off its vendor's usage fields by hand."""

    uncached: int
    output: int
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0

    @property
    def prompt(self) -> int:
        return self.uncached + self.cache_read + self.cache_write_5m + self.cache_write_1h


def by_hand(model: str, billed: Billed) -> Decimal:
    """The call's price from its vendor's rate card."""
    card = RATE_CARDS[model]
    if card.long is not None and card.long_above is not None and billed.prompt > card.long_above:
        card = card.long
    return (
        billed.uncached * Decimal(card.input)
        + billed.cache_read * Decimal(card.cache_read)
        + billed.cache_write_5m * Decimal(card.cache_write_5m or card.input)
        + billed.cache_write_1h * Decimal(card.cache_write_1h or card.cache_write_5m or card.input)
        + billed.output * Decimal(card.output)
    ) / MTOK


# -- recorded replies, as each vendor documents them --------------------------------------------


def openai_body(model: str, usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1764800000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": CODE, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
    }


def openai_stream(model: str, usage: dict[str, Any]) -> str:
    """A ``chat.completion.chunk`` stream whose last chunk carries the usage
    (``stream_options.include_usage``)."""

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
        body = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1764800000}
        return f"data: {json.dumps({**body, 'model': model, 'choices': choices, **extra})}\n\n"

    return (
        chunk([{"index": 0, "delta": {"role": "assistant", "content": CODE}}])
        + chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}])
        + chunk([], usage=usage)
        + "data: [DONE]\n\n"
    )


def openai_usage(prompt: int, cached: int, completion: int, reasoning: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0},
    }


def anthropic_message(model: str, usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": CODE}],
        "model": model,
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }


def anthropic_stream(model: str, usage: dict[str, Any]) -> str:
    """``message_start`` with the input side of the usage, text deltas, then ``message_delta``
    with the cumulative output count."""
    start = anthropic_message(model, {**usage, "output_tokens": 1})
    start["content"], start["stop_reason"] = [], None
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": CODE}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        },
        {"type": "message_stop"},
    ]
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)


def gemini_usage(prompt: int, candidates: int, thoughts: int, cached: int = 0) -> dict[str, Any]:
    """A ``usageMetadata``: ``promptTokenCount`` includes ``cachedContentTokenCount``;
    ``thoughtsTokenCount`` is apart from ``candidatesTokenCount``."""
    usage = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "thoughtsTokenCount": thoughts,
        "totalTokenCount": prompt + candidates + thoughts,
    }
    return {**usage, "cachedContentTokenCount": cached} if cached else usage


def gemini_body(model: str, usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "candidates": [
            {
                "content": {"parts": [{"text": CODE}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": "bench",
    }


def gemini_stream(model: str, usage: dict[str, Any]) -> str:
    """``streamGenerateContent?alt=sse``: running usage totals, the last one the call's."""
    first = gemini_body(model, {"promptTokenCount": usage["promptTokenCount"]})
    first["candidates"][0].pop("finishReason")
    last = gemini_body(model, usage)
    return "".join(f"data: {json.dumps(chunk)}\r\n\r\n" for chunk in (first, last))


# -- the workload --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """One recorded call: what was asked, what came back, and its billed parts by hand.

    Attributes:
        case: what the call exercises.
        asked: the ``provider:model`` the step called.
        priced_as: the rate card that applies (the model that answered).
        content: the reply's HTTP body.
        stream: whether it is an event stream.
        billed: its parts, read off the usage fields above by hand.
    """

    case: str
    asked: str
    priced_as: str
    content: str
    stream: bool
    billed: Billed


def workload() -> list[Recorded]:
    """The recorded calls (the counts are typical of a coding request with its context)."""

    def body(value: dict[str, Any]) -> str:
        return json.dumps(value)

    sonnet_writes = {
        "input_tokens": 120,
        "cache_creation_input_tokens": 6_000,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 4_000, "ephemeral_1h_input_tokens": 2_000},
        "output_tokens": 800,
    }
    sonnet_hit = {
        "input_tokens": 80,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 6_000,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 650,
    }
    haiku_old = {
        "input_tokens": 300,
        "cache_creation_input_tokens": 2_500,
        "cache_read_input_tokens": 0,
        "output_tokens": 400,
    }
    return [
        Recorded(
            "OpenAI cache hit",
            "openai:gpt-4.1-mini",
            "openai:gpt-4.1-mini",
            body(openai_body("gpt-4.1-mini-2025-04-14", openai_usage(5_000, 4_096, 350))),
            False,
            Billed(uncached=904, cache_read=4_096, output=350),
        ),
        Recorded(
            "OpenAI reasoning, streamed",
            "openai:o4-mini",
            "openai:o4-mini",
            openai_stream("o4-mini-2025-04-16", openai_usage(1_800, 1_024, 2_400, 1_920)),
            True,
            Billed(uncached=776, cache_read=1_024, output=2_400),
        ),
        Recorded(
            "OpenAI fallback gpt-4.1 -> mini",
            "openai:gpt-4.1",
            "openai:gpt-4.1-mini",
            body(openai_body("gpt-4.1-mini-2025-04-14", openai_usage(3_000, 0, 500))),
            False,
            Billed(uncached=3_000, output=500),
        ),
        Recorded(
            "Anthropic 5m + 1h cache writes",
            "anthropic:claude-sonnet-4-5",
            "anthropic:claude-sonnet-4-5",
            body(anthropic_message("claude-sonnet-4-5-20250929", sonnet_writes)),
            False,
            Billed(uncached=120, cache_write_5m=4_000, cache_write_1h=2_000, output=800),
        ),
        Recorded(
            "Anthropic cache hit, streamed",
            "anthropic:claude-sonnet-4-5",
            "anthropic:claude-sonnet-4-5",
            anthropic_stream("claude-sonnet-4-5-20250929", sonnet_hit),
            True,
            Billed(uncached=80, cache_read=6_000, output=650),
        ),
        Recorded(
            "Anthropic write, no 5m/1h split",
            "anthropic:claude-haiku-4-5",
            "anthropic:claude-haiku-4-5",
            body(anthropic_message("claude-haiku-4-5-20251001", haiku_old)),
            False,
            Billed(uncached=300, cache_write_5m=2_500, output=400),
        ),
        Recorded(
            "Gemini thinking + implicit cache",
            "gemini:gemini-2.5-flash",
            "gemini:gemini-2.5-flash",
            body(gemini_body("gemini-2.5-flash", gemini_usage(14_000, 500, 1_500, cached=10_000))),
            False,
            Billed(uncached=4_000, cache_read=10_000, output=2_000),
        ),
        Recorded(
            "Gemini Pro cached, under 200K",
            "gemini:gemini-2.5-pro",
            "gemini:gemini-2.5-pro",
            body(gemini_body("gemini-2.5-pro", gemini_usage(150_000, 900, 600, cached=100_000))),
            False,
            Billed(uncached=50_000, cache_read=100_000, output=1_500),
        ),
        Recorded(
            "Gemini Pro long context, streamed",
            "gemini:gemini-2.5-pro",
            "gemini:gemini-2.5-pro",
            gemini_stream("gemini-2.5-pro", gemini_usage(240_000, 1_200, 3_000)),
            True,
            Billed(uncached=240_000, output=4_200),
        ),
    ]


# -- the replay ------------------------------------------------------------------------------


def recorded_client(content: str, *, stream: bool) -> httpx2.Client:
    """An ``httpx2`` client whose every request is answered with the recorded body."""
    content_type = "text/event-stream" if stream else "application/json"
    transport = httpx2.MockTransport(
        lambda request: httpx2.Response(
            200, content=content.encode(), headers={"content-type": content_type}
        )
    )
    return httpx2.Client(transport=transport)


def adapter_call(
    asked: str, client: httpx2.Client, *, stream: bool
) -> Callable[[Sequence[ChatMessage], int], Completion]:
    """The real adapter for ``asked`` (``provider:model``), its SDK sending through
    ``client``; streamed when ``stream``."""
    provider_name, model = asked.split(":", 1)
    provider: OpenAIProvider | AnthropicProvider | GeminiProvider
    if provider_name == "openai":
        provider = OpenAIProvider(Settings(), api_key="sk-bench-0000", http_client=client)
    elif provider_name == "anthropic":
        provider = AnthropicProvider(Settings(), api_key="sk-ant-bench-0000", http_client=client)
    else:
        options = genai_types.HttpOptions(httpx_client=client)
        provider = GeminiProvider(Settings(), api_key="AIza-bench-0000", http_options=options)
    on_text = (lambda piece: None) if stream else None
    return lambda messages, max_tokens: provider.complete(
        model, messages, max_tokens=max_tokens, temperature=0, on_text=on_text
    )


@dataclass(frozen=True)
class Row:
    """One call: what frugalflow booked and what the rate card says."""

    case: str
    asked: str
    priced_as: str
    input_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    output_tokens: int
    frugalflow_usd: Decimal
    by_hand_usd: Decimal

    @property
    def difference_usd(self) -> Decimal:
        return self.frugalflow_usd - self.by_hand_usd


def replay(home: Path) -> list[Row]:
    """Meter every recorded call into a ledger under ``home`` and compare it with the rate
    cards."""
    settings = Settings(home=home, daily_budget_usd=Decimal(100), max_output_tokens=8_000)
    rows = []
    for number, recorded in enumerate(workload()):
        request = CodeRequest(
            description="Write add(a, b)", repo=home, request_id=f"bench-{number}"
        )
        booking = Booking(request, "generate", "code_generation", None)
        client = recorded_client(recorded.content, stream=recorded.stream)
        send = adapter_call(recorded.asked, client, stream=recorded.stream)
        Meter(recorded.asked, booking, settings).call(
            prompt_of(recorded.billed.prompt), send, max_tokens=8_000
        )
        [call] = CostLedger(settings.ledger_file).calls_for_request(request.request_id)
        hand = by_hand(recorded.priced_as, recorded.billed).quantize(LEDGER_PRECISION)
        rows.append(row_of(recorded.case, recorded.asked, recorded.priced_as, call, hand))
    return rows


def row_of(case: str, asked: str, priced_as: str, call: ModelCall, by_hand_usd: Decimal) -> Row:
    """The comparison row of one booked call."""
    return Row(
        case=case,
        asked=asked,
        priced_as=priced_as,
        input_tokens=call.input_tokens,
        cached_tokens=call.cached_tokens,
        cache_write_tokens=call.cache_write_tokens or 0,
        reasoning_tokens=call.reasoning_tokens or 0,
        output_tokens=call.output_tokens,
        frugalflow_usd=call.actual_cost_usd,
        by_hand_usd=by_hand_usd,
    )


@dataclass(frozen=True)
class RecordedBatch:
    """One batch call: the vendor's routes (path suffix -> body) and its billed parts."""

    case: str
    asked: str
    priced_as: str
    routes: dict[str, Any]
    billed: Billed


def batch_workload() -> list[RecordedBatch]:
    """Batch calls in each vendor's documented shapes: the submission's reply, the ended
    batch, and its results."""
    sonnet = {
        "input_tokens": 150,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 5_000,
        "output_tokens": 700,
    }
    result = {"custom_id": "bench", "result": {"type": "succeeded"}}
    result["result"]["message"] = anthropic_message("claude-sonnet-4-5-20250929", sonnet)
    line = {
        "id": "batch_req_1",
        "custom_id": "bench",
        "response": {
            "status_code": 200,
            "request_id": "req_1",
            "body": openai_body("gpt-4.1-mini", openai_usage(3_000, 2_048, 500)),
        },
        "error": None,
    }
    gemini = gemini_body("gemini-2.5-flash", gemini_usage(4_000, 300, 200, cached=1_000))
    return [
        RecordedBatch(
            "Anthropic batch, cache hit",
            "anthropic:claude-sonnet-4-5",
            "anthropic:claude-sonnet-4-5",
            {
                "/v1/messages/batches": {"id": "msgbatch_b", "processing_status": "in_progress"},
                "/v1/messages/batches/msgbatch_b": {
                    "id": "msgbatch_b",
                    "processing_status": "ended",
                    "results_url": "https://api.anthropic.com/v1/messages/batches/msgbatch_b/results",
                },
                "/v1/messages/batches/msgbatch_b/results": json.dumps(result),
            },
            Billed(uncached=150, cache_read=5_000, output=700),
        ),
        RecordedBatch(
            "OpenAI batch, cache hit",
            "openai:gpt-4.1-mini",
            "openai:gpt-4.1-mini",
            {
                "/v1/files": {"id": "file-in"},
                "/v1/batches": {"id": "batch_b", "status": "validating"},
                "/v1/batches/batch_b": {
                    "id": "batch_b",
                    "status": "completed",
                    "output_file_id": "file-out",
                },
                "/v1/files/file-out/content": json.dumps(line),
            },
            Billed(uncached=952, cache_read=2_048, output=500),
        ),
        RecordedBatch(
            "Gemini batch, thinking",
            "gemini:gemini-2.5-flash",
            "gemini:gemini-2.5-flash",
            {
                "/v1beta/models/gemini-2.5-flash:batchGenerateContent": {"name": "batches/b"},
                "/v1beta/batches/b": {
                    "name": "batches/b",
                    "metadata": {"state": "BATCH_STATE_SUCCEEDED"},
                    "response": {
                        "inlinedResponses": {
                            "inlinedResponses": [{"response": gemini, "metadata": {"key": "bench"}}]
                        }
                    },
                },
            },
            Billed(uncached=3_000, cache_read=1_000, output=500),
        ),
    ]


def vendor_client(routes: dict[str, Any]) -> httpx.Client:
    """An ``httpx`` client whose requests are answered by path, JSON or JSONL text."""

    def answer(request: httpx.Request) -> httpx.Response:
        body = routes.get(request.url.path)
        if body is None:
            return httpx.Response(404, json={"error": "not recorded"})
        if isinstance(body, str):
            return httpx.Response(200, text=body + "\n")
        return httpx.Response(200, json=body)

    return httpx.Client(base_url="https://vendor.test", transport=httpx.MockTransport(answer))


def replay_batches(home: Path) -> list[Row]:
    """Send every recorded batch call through the batch adapters and the batch book, and
    compare what was booked with the rate cards at the batch price."""
    settings = Settings(home=home, daily_budget_usd=Decimal(100), max_output_tokens=8_000)
    ledger = CostLedger(settings.ledger_file)
    book = BatchBook(ledger, settings)
    rows = []
    for number, recorded in enumerate(batch_workload()):
        request_id = f"bench-batch-{number}"
        provider, model = recorded.asked.split(":", 1)
        adapter = batch_adapter(provider, vendor_client(recorded.routes))
        messages = tuple(prompt_of(recorded.billed.prompt))
        held = book.reserve(
            request_id=request_id,
            project="bench",
            model=recorded.asked,
            input_tokens=recorded.billed.prompt,
            max_tokens=8_000,
        )
        batch_id = adapter.submit(
            model, [BatchRequest(custom_id="bench", messages=messages, max_tokens=8_000)]
        )
        now = datetime.now(UTC)
        record = BatchRecord(
            batch_id=batch_id,
            provider=provider,
            model=model,
            request_id=request_id,
            project="bench",
            reservation_id=held.reservation_id,
            custom_id="bench",
            submitted_at=now,
            updated_at=now,
        )
        book.record(record)
        [result] = adapter.results(model, adapter.status(batch_id))
        assert result.completion is not None, result.error
        book.settle(record, result.completion)
        [call] = ledger.calls_for_request(request_id)
        hand = (by_hand(recorded.priced_as, recorded.billed) * BATCH_PRICE).quantize(
            LEDGER_PRECISION
        )
        rows.append(row_of(recorded.case, recorded.asked, recorded.priced_as, call, hand))
    return rows


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="frugalflow-accounting-") as home:
        rows = replay(Path(home)) + replay_batches(Path(home))
    header = (
        f"{'case':<34} {'priced as':<28} {'in':>7} {'cached':>7} {'written':>7} "
        f"{'reason':>6} {'out':>6} {'frugalflow':>12} {'by hand':>12} {'diff':>11}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row.case:<34} {row.priced_as:<28} {row.input_tokens:>7} {row.cached_tokens:>7} "
            f"{row.cache_write_tokens:>7} {row.reasoning_tokens:>6} {row.output_tokens:>6} "
            f"{row.frugalflow_usd:>12.8f} {row.by_hand_usd:>12.8f} {row.difference_usd:>11.8f}"
        )
    booked = sum((row.frugalflow_usd for row in rows), Decimal(0))
    hand = sum((row.by_hand_usd for row in rows), Decimal(0))
    difference = booked - hand
    print("-" * len(header))
    print(f"{len(rows)} calls: frugalflow ${booked:.8f}, by hand ${hand:.8f}")
    print(f"total difference: ${difference:.2f} (exactly {difference:.8f})")
    print(
        f"of which {len(batch_workload())} batch calls, at {BATCH_PRICE:.0%} of the rate cards "
        "(adapters and ledger; no flow sends batches yet)"
    )
    return 0 if difference == 0 and all(row.difference_usd == 0 for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

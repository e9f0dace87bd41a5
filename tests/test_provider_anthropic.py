"""The Anthropic adapter, tested at the HTTP boundary.

The real ``anthropic`` SDK builds and parses every request; only the transport underneath it
(``httpx2``, which SDK 2.x is built on) is replaced by a ``MockTransport`` answering with
bodies shaped like the documented Messages API: the message object, the SSE event sequence
``message_start``, ``content_block_start``, ``content_block_delta``, ``content_block_stop``,
``message_delta``, ``message_stop``, and the error object
``{"type": "error", "error": {"type": ..., "message": ...}}``.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator

import httpx2
import pytest

from frugalflow.core.errors import (
    AuthenticationError,
    BadRequestError,
    ContextTooLongError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
)
from frugalflow.core.settings import Settings
from frugalflow.providers.anthropic import AnthropicProvider
from frugalflow.providers.base import ChatMessage, Provider
from tests.support.anthropic_api import (
    KEY,
    MODEL,
    TIMEOUT,
    error_response,
    make,
    message_body,
    message_start,
    sse,
    streaming,
    text_delta,
)
from tests.support.http import HttpRecorder, raising

pytestmark = pytest.mark.usefixtures("anthropic_key")


def user(text: str = "Write add(a, b).") -> list[ChatMessage]:
    return [ChatMessage(role="user", content=text)]


def test_satisfies_the_provider_protocol() -> None:
    provider, _ = make(error_response(500, "api_error", "unused"))
    assert isinstance(provider, Provider)
    assert provider.name == "anthropic"
    assert provider.tier.value == "api"


def test_complete_sends_a_messages_request_and_reports_all_input_tokens() -> None:
    body = message_body(
        [
            {"type": "thinking", "thinking": "The user wants a sum.", "signature": "EqQBCgIYAh"},
            {"type": "text", "text": "def add(a, b):\n    return a + b\n"},
        ],
        {
            "input_tokens": 30,
            "cache_creation_input_tokens": 20,
            "cache_read_input_tokens": 100,
            "output_tokens": 12,
        },
    )
    provider, recorder = make(lambda request: httpx2.Response(200, json=body))
    messages = [
        ChatMessage(role="system", content="You write Python."),
        ChatMessage(role="system", content="Answer with code only."),
        ChatMessage(role="user", content="Write add(a, b)."),
        ChatMessage(role="assistant", content="def add(a, b): ..."),
        ChatMessage(role="user", content="Now with a body."),
    ]

    completion = provider.complete(MODEL, messages, max_tokens=256, temperature=0.0)

    assert completion.text == "def add(a, b):\n    return a + b\n"  # the thinking block is not text
    assert completion.model == MODEL
    assert completion.input_tokens == 150  # 30 uncached + 20 cache writes + 100 cache reads
    assert completion.cached_tokens == 100
    assert completion.output_tokens == 12
    assert completion.finish_reason == "end_turn"

    request = recorder.requests[0]
    assert request.method == "POST"
    assert request.url == "https://api.anthropic.com/v1/messages"
    assert recorder.body() == {
        "model": MODEL,
        "max_tokens": 256,
        "system": "You write Python.\n\nAnswer with code only.",
        "messages": [
            {"role": "user", "content": "Write add(a, b)."},
            {"role": "assistant", "content": "def add(a, b): ..."},
            {"role": "user", "content": "Now with a body."},
        ],
    }  # no temperature: API version 2026-10-21 rejects every sampling parameter
    assert request.headers["anthropic-version"]
    assert request.extensions["timeout"]["read"] == TIMEOUT


def test_the_key_travels_only_in_the_authorization_header() -> None:
    body = message_body([{"type": "text", "text": "ok"}], {"input_tokens": 3, "output_tokens": 1})
    provider, recorder = make(lambda request: httpx2.Response(200, json=body))

    provider.complete(MODEL, user(), max_tokens=16, temperature=0.0)

    request = recorder.requests[0]
    # SDK 2.x authenticates with "Authorization: Bearer <key>" (it no longer sends x-api-key).
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert [name for name, value in request.headers.items() if KEY in value] == ["authorization"]
    assert KEY not in str(request.url)
    assert KEY.encode() not in request.content


def test_no_system_parameter_without_system_messages() -> None:
    body = message_body([{"type": "text", "text": "ok"}], {"input_tokens": 3, "output_tokens": 1})
    provider, recorder = make(lambda request: httpx2.Response(200, json=body))

    completion = provider.complete(MODEL, user(), max_tokens=16, temperature=0.7)

    assert "system" not in recorder.body()
    assert completion.cached_tokens == 0
    assert completion.input_tokens == 3


def test_streaming_passes_text_deltas_and_reports_the_final_usage() -> None:
    body = sse(
        message_start(
            {
                "input_tokens": 25,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 10,
                "output_tokens": 1,
            }
        ),
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "A sum of two numbers."},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": "EqQBCgIYAh"},
        },
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        text_delta(1, "def add(a, b):"),
        text_delta(1, "\n    return a + b\n"),
        {"type": "content_block_stop", "index": 1},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 15},
        },
        {"type": "message_stop"},
    )
    provider, recorder = make(streaming(body))
    pieces: list[str] = []

    completion = provider.complete(
        MODEL, user(), max_tokens=64, temperature=0.0, on_text=pieces.append
    )

    assert pieces == ["def add(a, b):", "\n    return a + b\n"]
    assert completion.text == "".join(pieces)
    assert completion.input_tokens == 35  # from message_start: 25 + 10 cache reads
    assert completion.cached_tokens == 10
    assert completion.output_tokens == 15  # from the final message_delta, not message_start's 1
    assert completion.finish_reason == "end_turn"
    assert recorder.body()["stream"] is True
    assert recorder.body()["messages"] == [{"role": "user", "content": "Write add(a, b)."}]


def test_rate_limit_carries_retry_after_and_is_not_retried_by_the_sdk() -> None:
    provider, recorder = make(
        error_response(
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
            headers={"retry-after": "7"},
        )
    )

    with pytest.raises(RateLimitedError) as caught:
        provider.complete(MODEL, user(), max_tokens=16, temperature=0.0)

    assert caught.value.retry_after == 7
    assert caught.value.retryable
    assert caught.value.provider == f"anthropic:{MODEL}"
    assert len(recorder.requests) == 1  # max_retries=0: frugalflow retries, not the SDK


@pytest.mark.parametrize(
    ("status", "error_type", "message"),
    [
        (500, "api_error", "Internal server error"),
        (529, "overloaded_error", "Overloaded"),
        (503, "api_error", "Service unavailable"),
    ],
)
def test_server_errors_are_unavailable_and_retryable(
    status: int, error_type: str, message: str
) -> None:
    provider, recorder = make(error_response(status, error_type, message))

    with pytest.raises(ProviderUnavailableError) as caught:
        provider.complete(MODEL, user(), max_tokens=16, temperature=0.0)

    assert caught.value.retryable
    assert str(status) in str(caught.value)
    assert len(recorder.requests) == 1


def test_a_transport_timeout_is_a_provider_timeout() -> None:
    provider, recorder = make(raising(httpx2.ReadTimeout))

    with pytest.raises(ProviderTimeoutError) as caught:
        provider.complete(MODEL, user(), max_tokens=16, temperature=0.0)

    assert caught.value.retryable
    assert "17s" in str(caught.value)
    assert len(recorder.requests) == 1


def test_a_refused_connection_is_unavailable() -> None:
    provider, _ = make(raising(httpx2.ConnectError))

    with pytest.raises(ProviderUnavailableError):
        provider.complete(MODEL, user(), max_tokens=16, temperature=0.0)


@pytest.mark.parametrize(
    ("status", "error_type", "message"),
    [
        (401, "authentication_error", f"invalid x-api-key {KEY}"),  # even if echoed back
        (403, "permission_error", "Your API key does not have permission to use this resource."),
    ],
)
def test_a_refused_key_is_an_authentication_error_without_the_key(
    status: int, error_type: str, message: str
) -> None:
    provider, _ = make(error_response(status, error_type, message))

    with pytest.raises(AuthenticationError) as caught:
        provider.complete(MODEL, user(), max_tokens=16, temperature=0.0)

    assert not caught.value.retryable
    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)
    assert "ANTHROPIC_API_KEY" in str(caught.value)
    # Nothing chained either: a traceback of the SDK's error could carry the echoed key.
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert KEY not in "".join(traceback.format_exception(caught.value))


def test_a_prompt_that_is_too_long_is_a_context_error() -> None:
    provider, _ = make(
        error_response(
            400, "invalid_request_error", "prompt is too long: 208656 tokens > 200000 maximum"
        )
    )

    with pytest.raises(ContextTooLongError) as caught:
        provider.complete(MODEL, user(), max_tokens=16, temperature=0.0)

    assert not caught.value.retryable
    assert "208656 tokens > 200000" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "error_type", "message"),
    [
        (400, "invalid_request_error", "max_tokens: Input should be greater than or equal to 1"),
        (404, "not_found_error", "model: claude-nonexistent"),
    ],
)
def test_other_client_errors_are_bad_requests(status: int, error_type: str, message: str) -> None:
    provider, _ = make(error_response(status, error_type, message))

    with pytest.raises(BadRequestError) as caught:
        provider.complete(MODEL, user(), max_tokens=16, temperature=0.0)

    assert not caught.value.retryable
    assert message in str(caught.value)


def test_an_error_event_inside_a_stream_is_translated_by_its_type() -> None:
    body = sse(
        message_start({"input_tokens": 25, "output_tokens": 1}),
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        text_delta(0, "def "),
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    )
    provider, _ = make(streaming(body))
    pieces: list[str] = []

    with pytest.raises(ProviderUnavailableError) as caught:
        provider.complete(MODEL, user(), max_tokens=64, temperature=0.0, on_text=pieces.append)

    assert "overloaded_error" in str(caught.value)
    assert pieces == ["def "]  # what arrived before the error was already passed on


class _DroppedStream(httpx2.SyncByteStream):
    def __iter__(self) -> Iterator[bytes]:
        yield sse(message_start({"input_tokens": 25, "output_tokens": 1}))
        raise httpx2.RemoteProtocolError("peer closed connection without sending complete message")


def test_a_stream_cut_short_is_unavailable() -> None:
    provider, _ = make(
        lambda request: httpx2.Response(
            200, headers={"content-type": "text/event-stream"}, stream=_DroppedStream()
        )
    )

    with pytest.raises(ProviderUnavailableError):
        provider.complete(MODEL, user(), max_tokens=64, temperature=0.0, on_text=lambda _: None)


def test_a_missing_key_names_the_variable_and_sends_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    provider, recorder = make(error_response(500, "api_error", "must not be called"))

    availability = provider.availability()
    with pytest.raises(AuthenticationError) as caught:
        provider.complete(MODEL, user(), max_tokens=16, temperature=0.0)

    assert not availability.usable
    assert "ANTHROPIC_API_KEY" in availability.reason
    assert "ANTHROPIC_API_KEY" in str(caught.value)
    assert recorder.requests == []


def test_availability_with_a_key_makes_no_request() -> None:
    provider, recorder = make(error_response(500, "api_error", "must not be called"))

    assert provider.availability().usable
    assert recorder.requests == []


def test_an_explicit_key_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    body = message_body([{"type": "text", "text": "ok"}], {"input_tokens": 3, "output_tokens": 1})
    recorder = HttpRecorder(lambda request: httpx2.Response(200, json=body))
    provider = AnthropicProvider(
        Settings(),
        api_key="sk-ant-explicit",
        http_client=recorder.client(),
    )

    assert provider.availability().usable
    provider.complete(MODEL, user(), max_tokens=16, temperature=0.0)

    assert recorder.requests[0].headers["authorization"] == "Bearer sk-ant-explicit"


def test_a_conversation_of_system_messages_only_is_refused_locally() -> None:
    provider, recorder = make(error_response(500, "api_error", "must not be called"))

    with pytest.raises(BadRequestError):
        provider.complete(
            MODEL, [ChatMessage(role="system", content="sys")], max_tokens=16, temperature=0.0
        )

    assert recorder.requests == []


# -- prompt caching on purpose ---------------------------------------------------------------

OK_USAGE = {"input_tokens": 10, "output_tokens": 5}
BREAKPOINT = {"type": "ephemeral"}


def sent_body(messages: list[ChatMessage], model: str = MODEL) -> dict[str, object]:
    provider, recorder = make(
        lambda request: httpx2.Response(
            200, json=message_body([{"type": "text", "text": "x = 1"}], OK_USAGE)
        )
    )
    provider.complete(model, messages, max_tokens=32, temperature=0)
    return recorder.body()


def test_a_long_system_prompt_gets_a_cache_breakpoint() -> None:
    """Prompt caching: ``cache_control: {"type": "ephemeral"}`` on the last block of the
    prefix to cache, here the system text (https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching,
    "How to implement prompt caching")."""
    system = "Repository context: def helper(): ...\n" * 300  # ~11,700 characters
    body = sent_body([ChatMessage(role="system", content=system), *user()])
    assert body["system"] == [{"type": "text", "text": system, "cache_control": BREAKPOINT}]
    assert body["messages"] == [{"role": "user", "content": "Write add(a, b)."}]


def test_a_prefix_under_the_models_minimum_is_sent_as_it_was() -> None:
    # claude-sonnet-4-6 caches from 2,048 tokens: ~4,000 characters are about 1,000.
    system = "x" * 4_000
    body = sent_body([ChatMessage(role="system", content=system), *user()])
    assert body["system"] == system
    assert "cache_control" not in str(body)


def test_the_breakpoint_ends_the_stable_part_before_the_request() -> None:
    context = "def helper():\n    return 1\n" * 400
    messages = [
        ChatMessage(role="system", content="You write Python."),
        ChatMessage(role="user", content=context),
        ChatMessage(role="assistant", content="Understood."),
        *user(),
    ]
    body = sent_body(messages)
    assert body["system"] == "You write Python."
    assert body["messages"] == [
        {"role": "user", "content": context},
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "Understood.", "cache_control": BREAKPOINT}],
        },
        {"role": "user", "content": "Write add(a, b)."},
    ]


@pytest.mark.parametrize(
    ("model", "tokens"),
    [
        ("claude-sonnet-4-5", 1024),
        ("claude-sonnet-4-5-20250929", 1024),
        ("claude-opus-4-1", 1024),
        ("claude-sonnet-4-6", 2048),
        ("claude-3-5-haiku-latest", 2048),
        ("claude-haiku-4-5", 4096),
        ("claude-opus-4-5", 4096),
        ("claude-future-9", 4096),
    ],
)
def test_each_models_minimum_cacheable_length(model: str, tokens: int) -> None:
    """The minimum cacheable prompt length per model (Anthropic's prompt-caching docs,
    "Cache limitations")."""
    from frugalflow.providers.anthropic import min_cacheable_tokens

    assert min_cacheable_tokens(model) == tokens

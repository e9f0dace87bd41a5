"""A reply that comes back (a 200) without the shape its API promises is a retryable
MalformedReplyError naming the provider, the model and what was wrong, never a KeyError,
an IndexError or a pydantic error. At the HTTP boundary of each adapter: the SDKs' own HTTP
clients with mock transports (openai, openai-compatible, anthropic, gemini), and a canned
server on 127.0.0.1 for Ollama's client."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from frugalflow.core.errors import MalformedReplyError
from frugalflow.core.settings import Settings
from frugalflow.providers.base import ChatMessage, Completion
from frugalflow.providers.ollama import OllamaProvider
from frugalflow.providers.openai import OpenAIProvider
from tests.servers.canned import canned_server
from tests.support import anthropic_api, gemini_api
from tests.support.http import HttpRecorder, Responder, raw_answer
from tests.support.openai_api import CHAT_COMPLETION

MESSAGES = [ChatMessage(role="user", content="Write add(a, b).")]
# The vendors' keys, and none of their SDKs' endpoint overrides.
pytestmark = pytest.mark.usefixtures("openai_key", "anthropic_key", "gemini_key")


def ok(body: Any) -> Responder:
    return lambda request: httpx2.Response(200, json=body)


def sse(*events: str) -> Responder:
    return raw_answer(
        "".join(f"data: {event}\n\n" for event in events).encode(), "text/event-stream"
    )


def complete(provider: Any, model: str, *, stream: bool) -> Completion:
    on_text: Callable[[str], None] | None = (lambda piece: None) if stream else None
    result: Completion = provider.complete(
        model, MESSAGES, max_tokens=32, temperature=0, on_text=on_text
    )
    return result


def assert_malformed(caught: pytest.ExceptionInfo[MalformedReplyError], address: str, what: str):
    message = str(caught.value)
    assert caught.value.retryable
    assert caught.value.provider == address
    assert f"{address} answered without a usable reply" in message
    assert what in message


# -- openai and openai-compatible ----------------------------------------------------------------

NO_CONTENT = {
    **CHAT_COMPLETION,
    "choices": [{"index": 0, "message": {"role": "assistant"}, "finish_reason": "stop"}],
}
NO_MESSAGE = {**CHAT_COMPLETION, "choices": [{"index": 0, "finish_reason": "stop"}]}
OPENAI_CASES = [
    pytest.param(ok({**CHAT_COMPLETION, "choices": []}), False, "no choices", id="no-choices"),
    pytest.param(ok(NO_MESSAGE), False, "choices[0] has no message", id="no-message"),
    pytest.param(ok(NO_CONTENT), False, "choices[0].message has no content", id="no-content"),
    pytest.param(
        raw_answer(b"<html>bad gateway</html>", "text/html"), False, "not a chat", id="html"
    ),
    pytest.param(raw_answer(b"{truncated", "application/json"), False, "not JSON", id="not-json"),
    pytest.param(ok([1, 2]), False, "no list of choices", id="a-list"),
    pytest.param(sse("{not json}"), True, "JSONDecodeError", id="stream-not-json"),
    pytest.param(sse("[DONE]"), True, "the stream carried no choices", id="stream-empty"),
]


@pytest.mark.parametrize(("answer", "stream", "what"), OPENAI_CASES)
def test_openai_malformed_reply(answer: Responder, stream: bool, what: str) -> None:
    provider = OpenAIProvider(Settings(), http_client=HttpRecorder(answer).client())
    with pytest.raises(MalformedReplyError) as caught:
        complete(provider, "gpt-4o-mini", stream=stream)
    assert_malformed(caught, "openai:gpt-4o-mini", what)
    assert "https://status.openai.com" in str(caught.value)


@pytest.mark.parametrize(("answer", "stream", "what"), OPENAI_CASES)
def test_openai_compatible_malformed_reply_names_the_server(
    answer: Responder, stream: bool, what: str
) -> None:
    provider = OpenAIProvider(
        Settings(),
        name="openai-compatible",
        base_url="http://127.0.0.1:8080/v1",
        http_client=HttpRecorder(answer).client(),
    )
    with pytest.raises(MalformedReplyError) as caught:
        complete(provider, "qwen2.5-coder", stream=stream)
    assert_malformed(caught, "openai-compatible:qwen2.5-coder", what)
    assert "openai_compatible_base_url (http://127.0.0.1:8080/v1)" in str(caught.value)


def test_an_openai_reply_with_empty_content_is_not_malformed() -> None:
    cut = {
        **CHAT_COMPLETION,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": "length"}
        ],
    }
    provider = OpenAIProvider(Settings(), http_client=HttpRecorder(ok(cut)).client())
    assert complete(provider, "gpt-4o-mini", stream=False).finish_reason == "length"


# -- anthropic -----------------------------------------------------------------------------------

USAGE = {"input_tokens": 12, "output_tokens": 3}
TOOL_ONLY = anthropic_api.message_body(
    [{"type": "tool_use", "id": "t", "name": "f", "input": {}}], USAGE
)


@pytest.mark.parametrize(
    ("answer", "stream", "what"),
    [
        pytest.param(ok(anthropic_api.message_body([], USAGE)), False, "no text block", id="empty"),
        pytest.param(ok(TOOL_ONLY), False, "no text block (blocks: tool_use", id="tool-only"),
        pytest.param(raw_answer(b"<html>", "text/html"), False, "not a message", id="html"),
        pytest.param(
            raw_answer(b"{truncated", "application/json"), False, "not JSON", id="not-json"
        ),
        pytest.param(
            anthropic_api.streaming(
                anthropic_api.sse(
                    anthropic_api.message_start(USAGE),
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": "end_turn"},
                        "usage": {"output_tokens": 0},
                    },
                    {"type": "message_stop"},
                )
            ),
            True,
            "no text block",
            id="stream-without-text",
        ),
        pytest.param(
            anthropic_api.streaming(b"event: message_start\ndata: {nope}\n\n"),
            True,
            "JSONDecodeError",
            id="stream-not-json",
        ),
        pytest.param(anthropic_api.streaming(b""), True, "no message", id="stream-empty"),
    ],
)
def test_anthropic_malformed_reply(answer: Responder, stream: bool, what: str) -> None:
    provider, _ = anthropic_api.make(answer)
    with pytest.raises(MalformedReplyError) as caught:
        complete(provider, anthropic_api.MODEL, stream=stream)
    assert_malformed(caught, f"anthropic:{anthropic_api.MODEL}", what)


def test_an_anthropic_reply_cut_at_max_tokens_may_hold_no_text() -> None:
    body = {**anthropic_api.message_body([], USAGE), "stop_reason": "max_tokens"}
    provider, _ = anthropic_api.make(ok(body))
    assert complete(provider, anthropic_api.MODEL, stream=False).finish_reason == "max_tokens"


# -- gemini --------------------------------------------------------------------------------------

GEMINI_USAGE = {"promptTokenCount": 10, "candidatesTokenCount": 3, "totalTokenCount": 13}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(
    ("body", "what"),
    [
        pytest.param({"usageMetadata": GEMINI_USAGE}, "no candidates", id="no-candidates"),
        pytest.param(
            {"candidates": [], "usageMetadata": GEMINI_USAGE}, "no candidates", id="empty"
        ),
        pytest.param(
            {"candidates": [{"index": 0, "finishReason": "STOP"}], "usageMetadata": GEMINI_USAGE},
            "a candidate without text (finishReason: STOP)",
            id="no-content",
        ),
    ],
)
def test_gemini_malformed_reply(body: dict[str, Any], what: str, stream: bool) -> None:
    provider, _ = gemini_api.make(gemini_api.sse(body) if stream else ok(body))
    with pytest.raises(MalformedReplyError) as caught:
        complete(provider, gemini_api.MODEL, stream=stream)
    assert_malformed(caught, f"gemini:{gemini_api.MODEL}", what)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_gemini_body_that_is_not_json(stream: bool) -> None:
    answer = raw_answer(b"<html>", "text/event-stream" if stream else "application/json")
    provider, _ = gemini_api.make(answer)
    with pytest.raises(MalformedReplyError) as caught:
        complete(provider, gemini_api.MODEL, stream=stream)
    assert_malformed(caught, f"gemini:{gemini_api.MODEL}", "JSON")


# -- ollama --------------------------------------------------------------------------------------


OLLAMA_REPLY = {
    "model": "qwen2.5-coder:0.5b",
    "created_at": "2025-01-01T00:00:00Z",
    "message": {"role": "assistant", "content": "def add(a, b): return a + b"},
    "done": True,
    "done_reason": "stop",
    "prompt_eval_count": 20,
    "eval_count": 9,
}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(
    ("body", "what"),
    [
        pytest.param(
            {k: v for k, v in OLLAMA_REPLY.items() if k != "message"}, "message", id="no-message"
        ),
        pytest.param(
            {**OLLAMA_REPLY, "message": {"role": "assistant"}},
            "message.content is missing",
            id="no-content",
        ),
        pytest.param([1, 2], "Error", id="a-list"),
    ],
)
def test_ollama_malformed_reply(body: Any, what: str, stream: bool) -> None:
    content_type = "application/x-ndjson" if stream else "application/json"
    with (
        canned_server(json.dumps(body).encode() + b"\n", content_type) as host,
        pytest.raises(MalformedReplyError) as caught,
    ):
        complete(OllamaProvider(Settings(), host=host), "qwen2.5-coder:0.5b", stream=stream)
    assert_malformed(caught, "ollama:qwen2.5-coder:0.5b", what)
    assert f"ollama_host ({host})" in str(caught.value)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_ollama_body_that_is_not_json(stream: bool) -> None:
    with (
        canned_server(b"<html>bad gateway</html>", "text/html") as host,
        pytest.raises(MalformedReplyError) as caught,
    ):
        complete(OllamaProvider(Settings(), host=host), "qwen2.5-coder:0.5b", stream=stream)
    assert_malformed(caught, "ollama:qwen2.5-coder:0.5b", "JSONDecodeError")


def test_a_well_formed_ollama_reply_still_reads() -> None:
    with canned_server(json.dumps(OLLAMA_REPLY).encode(), "application/json") as host:
        completion = complete(
            OllamaProvider(Settings(), host=host), "qwen2.5-coder:0.5b", stream=False
        )
    assert (completion.text, completion.input_tokens, completion.output_tokens) == (
        "def add(a, b): return a + b",
        20,
        9,
    )

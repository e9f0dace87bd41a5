"""The Gemini adapter, tested at the HTTP boundary.

The real ``google-genai`` SDK builds and parses every request; only its HTTP client is
replaced, through the SDK's documented seam ``HttpOptions(httpx_client=...)``, by an
``httpx2.Client`` on a ``MockTransport`` answering with bodies shaped like the documented
Gemini API: ``generateContent`` responses (``candidates[].content.parts[].text``,
``usageMetadata``), ``streamGenerateContent?alt=sse`` chunks (``data: {...}``), and Google
API errors ``{"error": {"code", "message", "status", "details": [...]}}``.
"""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from google.genai import types

from frugalflow.core.errors import (
    AuthenticationError,
    BadRequestError,
    ContextTooLongError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
)
from frugalflow.core.settings import Settings
from frugalflow.providers.base import ChatMessage, Provider
from frugalflow.providers.gemini import GeminiProvider
from tests.support.gemini_api import (
    KEY,
    MODEL,
    TIMEOUT,
    google_error,
    make,
    ok,
    response_body,
    sse,
)
from tests.support.http import HttpRecorder, raising

pytestmark = pytest.mark.usefixtures("gemini_key")


def user(text: str = "Write add(a, b).") -> list[ChatMessage]:
    return [ChatMessage(role="user", content=text)]


def test_satisfies_the_provider_protocol() -> None:
    provider, _ = make(google_error(500, "INTERNAL", "unused"))
    assert isinstance(provider, Provider)
    assert provider.name == "gemini"
    assert provider.tier.value == "api"


def test_complete_sends_generate_content_and_reads_usage() -> None:
    body = response_body(
        [
            {"text": "The user wants a sum.", "thought": True},
            {"text": "def add(a, b):\n"},
            {"text": "    return a + b\n"},
        ],
        {
            "promptTokenCount": 120,
            "cachedContentTokenCount": 100,
            "candidatesTokenCount": 30,
            "thoughtsTokenCount": 50,
            "totalTokenCount": 200,
        },
    )
    provider, recorder = make(ok(body))
    messages = [
        ChatMessage(role="system", content="You write Python."),
        ChatMessage(role="system", content="Answer with code only."),
        ChatMessage(role="user", content="Write add(a, b)."),
        ChatMessage(role="assistant", content="def add(a, b): ..."),
        ChatMessage(role="user", content="Now with a body."),
    ]

    completion = provider.complete(MODEL, messages, max_tokens=256, temperature=0.2)

    assert completion.text == "def add(a, b):\n    return a + b\n"  # no thought parts
    assert completion.model == MODEL
    assert completion.input_tokens == 120  # promptTokenCount already includes the cached 100
    assert completion.cached_tokens == 100
    assert completion.output_tokens == 80  # 30 candidates + 50 thinking
    assert completion.finish_reason == "STOP"

    request = recorder.requests[0]
    assert request.method == "POST"
    assert request.url.host == "generativelanguage.googleapis.com"
    assert request.url.path.endswith(f"/models/{MODEL}:generateContent")
    sent = recorder.body()
    assert sent["contents"] == [
        {"role": "user", "parts": [{"text": "Write add(a, b)."}]},
        {"role": "model", "parts": [{"text": "def add(a, b): ..."}]},
        {"role": "user", "parts": [{"text": "Now with a body."}]},
    ]
    assert sent["systemInstruction"]["parts"] == [
        {"text": "You write Python.\n\nAnswer with code only."}
    ]
    assert sent["generationConfig"] == {"maxOutputTokens": 256, "temperature": 0.2}
    assert set(sent) == {"contents", "systemInstruction", "generationConfig"}
    assert request.extensions["timeout"]["read"] == TIMEOUT
    assert request.headers["x-server-timeout"] == "17"


def test_the_key_travels_only_in_the_x_goog_api_key_header() -> None:
    body = response_body([{"text": "ok"}], {"promptTokenCount": 3, "candidatesTokenCount": 1})
    provider, recorder = make(ok(body))

    provider.complete(MODEL, user(), max_tokens=16, temperature=0.0)

    request = recorder.requests[0]
    assert request.headers["x-goog-api-key"] == KEY
    assert [name for name, value in request.headers.items() if KEY in value] == ["x-goog-api-key"]
    assert KEY not in str(request.url)
    assert KEY.encode() not in request.content


def test_google_api_key_is_the_fallback_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEY")
    monkeypatch.setenv("GOOGLE_API_KEY", "AIzaSyFALLBACK")
    body = response_body([{"text": "ok"}], {"promptTokenCount": 3, "candidatesTokenCount": 1})
    provider, recorder = make(ok(body))

    provider.complete(MODEL, user(), max_tokens=16, temperature=0.0)

    assert recorder.requests[0].headers["x-goog-api-key"] == "AIzaSyFALLBACK"


def test_no_system_instruction_without_system_messages() -> None:
    body = response_body([{"text": "ok"}], {"promptTokenCount": 3, "candidatesTokenCount": 1})
    provider, recorder = make(ok(body))

    completion = provider.complete(MODEL, user(), max_tokens=16, temperature=0.0)

    assert "systemInstruction" not in recorder.body()
    assert (completion.input_tokens, completion.output_tokens, completion.cached_tokens) == (
        3,
        1,
        0,
    )


def test_streaming_passes_each_chunk_and_reports_the_last_usage() -> None:
    provider, recorder = make(
        sse(
            response_body(
                [{"text": "def add(a, b):"}],
                {"promptTokenCount": 40, "totalTokenCount": 40},
                finish_reason=None,
            ),
            response_body(
                [{"text": "\n    return a + b\n"}],
                {
                    "promptTokenCount": 40,
                    "cachedContentTokenCount": 32,
                    "candidatesTokenCount": 12,
                    "thoughtsTokenCount": 8,
                    "totalTokenCount": 60,
                },
                finish_reason="STOP",
            ),
        )
    )
    pieces: list[str] = []

    completion = provider.complete(
        MODEL, user(), max_tokens=64, temperature=0.0, on_text=pieces.append
    )

    assert pieces == ["def add(a, b):", "\n    return a + b\n"]
    assert completion.text == "".join(pieces)
    assert completion.input_tokens == 40
    assert completion.cached_tokens == 32
    assert completion.output_tokens == 20  # 12 candidates + 8 thinking, from the last chunk
    assert completion.finish_reason == "STOP"
    request = recorder.requests[0]
    assert request.url.path.endswith(f"/models/{MODEL}:streamGenerateContent")
    assert request.url.params["alt"] == "sse"
    assert recorder.body()["generationConfig"] == {"maxOutputTokens": 64, "temperature": 0.0}


RETRY_INFO = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}
QUOTA_FAILURE = {
    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
    "violations": [
        {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
        }
    ],
}


def test_rate_limit_uses_the_retry_info_delay() -> None:
    provider, recorder = make(
        google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
            details=[QUOTA_FAILURE, RETRY_INFO],
        )
    )

    with pytest.raises(RateLimitedError) as caught:
        provider.complete(MODEL, user(), max_tokens=16, temperature=0.0)

    assert caught.value.retry_after == 7
    assert caught.value.retryable
    assert caught.value.provider == f"gemini:{MODEL}"
    assert len(recorder.requests) == 1  # the SDK does not retry: frugalflow does


def test_rate_limit_falls_back_to_the_retry_after_header() -> None:
    provider, _ = make(
        google_error(429, "RESOURCE_EXHAUSTED", "Resource exhausted.", headers={"Retry-After": "7"})
    )

    with pytest.raises(RateLimitedError) as caught:
        provider.complete(MODEL, user(), max_tokens=16, temperature=0.0)

    assert caught.value.retry_after == 7


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        (500, "INTERNAL", "An internal error has occurred."),
        (503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
        (504, "DEADLINE_EXCEEDED", "The request timed out. Please try again."),
    ],
)
def test_server_errors_are_unavailable_and_retryable(code: int, status: str, message: str) -> None:
    provider, recorder = make(google_error(code, status, message))

    with pytest.raises(ProviderUnavailableError) as caught:
        provider.complete(MODEL, user(), max_tokens=16, temperature=0.0)

    assert caught.value.retryable
    assert status in str(caught.value)
    assert len(recorder.requests) == 1


def test_a_transport_timeout_is_a_provider_timeout() -> None:
    provider, recorder = make(raising(httpx2.ReadTimeout))

    with pytest.raises(ProviderTimeoutError) as caught:
        provider.complete(MODEL, user(), max_tokens=16, temperature=0.0)

    assert caught.value.retryable
    assert len(recorder.requests) == 1


def test_a_refused_connection_is_unavailable() -> None:
    provider, _ = make(raising(httpx2.ConnectError))

    with pytest.raises(ProviderUnavailableError):
        provider.complete(MODEL, user(), max_tokens=16, temperature=0.0)


API_KEY_INVALID = [
    {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"},
    },
    {
        "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
        "locale": "en-US",
        "message": "API key not valid. Please pass a valid API key.",
    },
]


@pytest.mark.parametrize(
    ("code", "status", "message", "details"),
    [
        (
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            API_KEY_INVALID,
        ),
        (401, "UNAUTHENTICATED", f"Request had invalid authentication credentials: {KEY}", None),
        (403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers.", None),
    ],
)
def test_a_refused_key_is_an_authentication_error_without_the_key(
    code: int, status: str, message: str, details: list[dict[str, Any]] | None
) -> None:
    provider, _ = make(google_error(code, status, message, details=details))

    with pytest.raises(AuthenticationError) as caught:
        provider.complete(MODEL, user(), max_tokens=16, temperature=0.0)

    assert not caught.value.retryable
    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)
    assert "GEMINI_API_KEY" in str(caught.value)


def test_a_prompt_over_the_token_limit_is_a_context_error() -> None:
    provider, _ = make(
        google_error(
            400,
            "INVALID_ARGUMENT",
            "The input token count (1200293) exceeds the maximum number of tokens allowed (1048576).",
        )
    )

    with pytest.raises(ContextTooLongError) as caught:
        provider.complete(MODEL, user(), max_tokens=16, temperature=0.0)

    assert not caught.value.retryable
    assert "1048576" in str(caught.value)


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        (400, "INVALID_ARGUMENT", "Invalid value at 'generation_config.temperature' (TYPE_FLOAT)"),
        (404, "NOT_FOUND", "models/gemini-nonexistent is not found for API version v1beta."),
    ],
)
def test_other_client_errors_are_bad_requests(code: int, status: str, message: str) -> None:
    provider, _ = make(google_error(code, status, message))

    with pytest.raises(BadRequestError) as caught:
        provider.complete(MODEL, user(), max_tokens=16, temperature=0.0)

    assert not caught.value.retryable
    assert message in str(caught.value)


def test_an_error_chunk_inside_a_stream_is_translated() -> None:
    provider, _ = make(
        sse(
            response_body([{"text": "def "}], {"promptTokenCount": 4}, finish_reason=None),
            {
                "error": {
                    "code": 503,
                    "message": "The model is overloaded.",
                    "status": "UNAVAILABLE",
                }
            },
        )
    )
    pieces: list[str] = []

    with pytest.raises(ProviderUnavailableError):
        provider.complete(MODEL, user(), max_tokens=64, temperature=0.0, on_text=pieces.append)

    assert pieces == ["def "]


def test_a_blocked_prompt_is_a_bad_request() -> None:
    body = {
        "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
        "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
        "modelVersion": MODEL,
    }
    provider, _ = make(ok(body))

    with pytest.raises(BadRequestError) as caught:
        provider.complete(MODEL, user(), max_tokens=16, temperature=0.0)

    assert "PROHIBITED_CONTENT" in str(caught.value)


def test_a_continuation_is_returned_as_is_not_followed_by_more_billed_requests() -> None:
    body = response_body(
        [{"text": "def add(a, b):"}],
        {"promptTokenCount": 10, "candidatesTokenCount": 5},
        finish_reason="CONTINUATION",
        continuationToken="Y29udGludWUtaGVyZQ==",
    )
    rest = response_body(
        [{"text": "\n    return a + b\n"}], {"promptTokenCount": 10, "candidatesTokenCount": 9}
    )
    answers = iter([body, rest])
    provider, recorder = make(lambda request: httpx2.Response(200, json=next(answers)))

    completion = provider.complete(MODEL, user(), max_tokens=16, temperature=0.0)

    assert len(recorder.requests) == 1
    assert completion.finish_reason == "CONTINUATION"
    assert completion.text == "def add(a, b):"
    assert "automaticContinuation" not in recorder.body()["generationConfig"]


def test_a_missing_key_names_the_variables_and_sends_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY")
    provider, recorder = make(google_error(500, "INTERNAL", "must not be called"))

    availability = provider.availability()
    with pytest.raises(AuthenticationError) as caught:
        provider.complete(MODEL, user(), max_tokens=16, temperature=0.0)

    assert not availability.usable
    assert "GEMINI_API_KEY" in availability.reason
    assert "GEMINI_API_KEY" in str(caught.value)
    assert "GOOGLE_API_KEY" in str(caught.value)
    assert recorder.requests == []


def test_availability_with_a_key_makes_no_request() -> None:
    provider, recorder = make(google_error(500, "INTERNAL", "must not be called"))

    assert provider.availability().usable
    assert recorder.requests == []


def test_explicit_http_options_keep_their_timeout() -> None:
    body = response_body([{"text": "ok"}], {"promptTokenCount": 3, "candidatesTokenCount": 1})
    recorder = HttpRecorder(ok(body))
    options = types.HttpOptions(timeout=5_000, httpx_client=recorder.client())
    provider = GeminiProvider(Settings(), api_key="AIzaSyEXPLICIT", http_options=options)

    provider.complete(MODEL, user(), max_tokens=16, temperature=0.0)

    assert recorder.requests[0].extensions["timeout"]["read"] == 5.0
    assert recorder.requests[0].headers["x-goog-api-key"] == "AIzaSyEXPLICIT"
    assert options.retry_options is None  # the caller's object is not modified

"""The openai providers.

* ``openai-compatible`` against the real llama-cpp-python OpenAI-compatible server serving the
  embedded model (a subprocess on 127.0.0.1).
* ``openai`` (the paid API) at the HTTP boundary: the SDK's own ``httpx2`` client with a mock
  transport answering in the shapes of OpenAI's documented responses and errors.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx2
import pytest

from frugalflow.core.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ContextTooLongError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
)
from frugalflow.core.models import parse_address
from frugalflow.core.schemas import Tier
from frugalflow.core.settings import Settings
from frugalflow.money.estimation import count_message_tokens
from frugalflow.money.metering import booked_usage
from frugalflow.money.tokens import count_tokens, get_encoding
from frugalflow.providers.base import ChatMessage, Completion, Provider
from frugalflow.providers.llamacpp import BUNDLED_MODEL
from frugalflow.providers.openai import OpenAIProvider, parse_retry_after
from tests.servers.llama_openai_server import free_port, llama_openai_server
from tests.support.http import HttpRecorder, MakeRecorder
from tests.support.openai_api import (
    CHAT_COMPLETION,
    KEY,
    MESSAGES,
    STREAM_USAGE,
    chunk,
    error,
    sse,
)

MAX_TOKENS = 32


# -- openai-compatible against the real llama.cpp server -------------------------------------


@pytest.fixture(scope="session")
def llama_server() -> Iterator[str]:
    with llama_openai_server() as base_url:
        yield base_url


@pytest.fixture(scope="module")
def compatible_replies(llama_server: str) -> tuple[Completion, Completion, list[str]]:
    """The same prompt at temperature 0, once whole and once streamed (with its pieces)."""
    provider = OpenAIProvider(
        Settings(openai_compatible_base_url=llama_server), name="openai-compatible"
    )
    plain = provider.complete(BUNDLED_MODEL, MESSAGES, max_tokens=MAX_TOKENS, temperature=0)
    pieces: list[str] = []
    streamed = provider.complete(
        BUNDLED_MODEL, MESSAGES, max_tokens=MAX_TOKENS, temperature=0, on_text=pieces.append
    )
    return plain, streamed, pieces


@pytest.mark.model
def test_compatible_chat_returns_text_and_the_servers_usage(
    compatible_replies: tuple[Completion, Completion, list[str]],
) -> None:
    plain, _, _ = compatible_replies
    assert "def add" in plain.text
    assert plain.input_tokens > 0
    assert 0 < plain.output_tokens <= MAX_TOKENS
    assert plain.finish_reason in ("stop", "length")
    assert plain.model == BUNDLED_MODEL


@pytest.mark.model
def test_compatible_stream_passes_pieces_that_make_up_the_same_text(
    compatible_replies: tuple[Completion, Completion, list[str]],
) -> None:
    plain, streamed, pieces = compatible_replies
    assert len(pieces) > 1, "the reply should arrive in several pieces"
    assert "".join(pieces) == streamed.text
    assert streamed.text == plain.text
    assert streamed.finish_reason == plain.finish_reason


@pytest.mark.model
def test_a_stream_without_usage_reports_none_and_the_meter_counts_it(
    compatible_replies: tuple[Completion, Completion, list[str]],
) -> None:
    # llama-cpp-python's server (0.3.x) ignores stream_options.include_usage. The adapter says
    # so; the meter then counts the tokens (o200k for a local model: close to, not equal to,
    # Qwen's own).
    plain, streamed, _ = compatible_replies
    assert plain.usage_reported
    assert not streamed.usage_reported
    assert (streamed.input_tokens, streamed.output_tokens) == (0, 0)
    booked = booked_usage(parse_address(f"openai-compatible:{BUNDLED_MODEL}"), MESSAGES, streamed)
    counted_in, counted_out, cached = (
        booked.input_tokens,
        booked.output_tokens,
        booked.cached_tokens,
    )
    assert counted_out == count_tokens(streamed.text)
    assert counted_in == pytest.approx(plain.input_tokens, rel=0.5)
    assert counted_out == pytest.approx(plain.output_tokens, rel=0.5)
    assert cached == 0


@pytest.mark.model
def test_compatible_prompt_beyond_the_servers_context_is_context_too_long(
    llama_server: str,
) -> None:
    provider = OpenAIProvider(Settings(), name="openai-compatible", base_url=llama_server)
    long = [ChatMessage(role="user", content="word " * 6000)]
    with pytest.raises(ContextTooLongError, match="context") as caught:
        provider.complete(BUNDLED_MODEL, long, max_tokens=8, temperature=0)
    assert caught.value.retryable is False
    assert caught.value.provider == f"openai-compatible:{BUNDLED_MODEL}"


@pytest.mark.model
def test_compatible_availability_is_usable_when_the_server_answers(llama_server: str) -> None:
    provider = OpenAIProvider(
        Settings(openai_compatible_base_url=llama_server), name="openai-compatible"
    )
    availability = provider.availability()
    assert availability.usable, availability.reason
    assert BUNDLED_MODEL in availability.reason
    assert provider.tier is Tier.LOCAL
    assert isinstance(provider, Provider)


def test_compatible_availability_with_no_server_says_how_to_start_one() -> None:
    base_url = f"http://127.0.0.1:{free_port()}/v1"
    provider = OpenAIProvider(
        Settings(openai_compatible_base_url=base_url), name="openai-compatible"
    )
    availability = provider.availability()
    assert not availability.usable
    assert f"no server answers at {base_url}" in availability.reason
    assert "python -m llama_cpp.server" in availability.reason
    with pytest.raises(ProviderUnavailableError, match="no server answers") as caught:
        provider.complete(BUNDLED_MODEL, MESSAGES, max_tokens=8, temperature=0)
    assert caught.value.retryable


# -- the HTTP boundary, with OpenAI's documented shapes --------------------------------------


def api(fake: HttpRecorder, **settings: Any) -> OpenAIProvider:
    return OpenAIProvider(Settings(**settings), http_client=fake.client())


def call(provider: OpenAIProvider, **kwargs: Any) -> Completion:
    return provider.complete("gpt-4.1-mini", MESSAGES, max_tokens=64, temperature=0, **kwargs)


def test_api_reply_carries_text_usage_and_cached_tokens(
    openai_key: str, http_recorder: MakeRecorder
) -> None:
    fake = http_recorder(lambda request: httpx2.Response(200, json=CHAT_COMPLETION))
    completion = call(api(fake))
    assert completion.text == "def add(a, b):\n    return a + b\n"
    assert (completion.input_tokens, completion.output_tokens) == (1290, 14)
    assert completion.cached_tokens == 1152
    assert completion.usage_reported
    assert completion.finish_reason == "stop"
    assert completion.model == "gpt-4.1-mini"

    request = fake.requests[0]
    assert str(request.url) == "https://api.openai.com/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    body = fake.body()
    assert body["model"] == "gpt-4.1-mini"
    assert body["messages"] == [m.model_dump() for m in MESSAGES]
    assert body["max_completion_tokens"] == 64
    assert "max_tokens" not in body
    assert body["temperature"] == 0
    assert "stream" not in body
    assert len(fake.requests) == 1


def test_api_stream_parses_deltas_and_the_final_usage_chunk(
    openai_key: str, http_recorder: MakeRecorder
) -> None:
    fake = http_recorder(
        sse(
            [
                chunk({"role": "assistant", "content": "", "refusal": None}),
                chunk({"content": "def add(a, b):"}),
                chunk({"content": "\n    return a + b"}),
                chunk({}, finish="stop"),
                chunk(None, usage=STREAM_USAGE),
                "[DONE]",
            ]
        )
    )
    pieces: list[str] = []
    completion = call(api(fake), on_text=pieces.append)
    assert pieces == ["def add(a, b):", "\n    return a + b"]
    assert completion.text == "def add(a, b):\n    return a + b"
    assert (completion.input_tokens, completion.output_tokens, completion.cached_tokens) == (
        1290,
        14,
        1024,
    )
    assert completion.finish_reason == "stop"
    body = fake.body()
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_api_stream_without_usage_reports_none_and_warns(
    openai_key: str, caplog: pytest.LogCaptureFixture, http_recorder: MakeRecorder
) -> None:
    # A proxy that strips usage must not turn a paid call into a free one in the ledger: the
    # adapter reports that no usage came (it counts nothing itself), and the meter counts it,
    # exactly for an OpenAI model (the ledger side: tests/test_generate_costs.py).
    fake = http_recorder(sse([chunk({"content": "x = 1"}), chunk({}, finish="stop"), "[DONE]"]))
    with caplog.at_level(logging.WARNING, logger="frugalflow.providers.openai"):
        completion = call(api(fake), on_text=lambda piece: None)
    assert completion.text == "x = 1"
    assert not completion.usage_reported
    assert (completion.input_tokens, completion.output_tokens, completion.cached_tokens) == (
        0,
        0,
        0,
    )
    assert "streamed no usage" in caplog.text
    prompt = [(m.role, m.content) for m in MESSAGES]
    booked = booked_usage(parse_address("openai:gpt-4.1-mini"), MESSAGES, completion)
    assert (booked.input_tokens, booked.output_tokens, booked.cached_tokens) == (
        count_message_tokens("openai:gpt-4.1-mini", prompt).tokens,
        len(get_encoding("o200k_base").encode("x = 1")),
        0,
    )


def test_api_reply_without_usage_reports_none(openai_key: str, http_recorder: MakeRecorder) -> None:
    body = {key: value for key, value in CHAT_COMPLETION.items() if key != "usage"}
    fake = http_recorder(lambda request: httpx2.Response(200, json=body))
    completion = call(api(fake))
    assert completion.text == "def add(a, b):\n    return a + b\n"
    assert not completion.usage_reported
    assert (completion.input_tokens, completion.output_tokens) == (0, 0)


def test_api_error_event_inside_a_stream_is_retryable(
    openai_key: str, http_recorder: MakeRecorder
) -> None:
    fake = http_recorder(
        sse(
            [
                chunk({"content": "def"}),
                {"error": {"message": "The server had an error while processing your request."}},
            ]
        )
    )
    with pytest.raises(ProviderUnavailableError, match="server had an error"):
        call(api(fake), on_text=lambda piece: None)


def test_api_429_is_rate_limited_with_retry_after(
    openai_key: str, http_recorder: MakeRecorder
) -> None:
    fake = http_recorder(
        error(
            429,
            "Rate limit reached for gpt-4.1-mini in organization org-abc on tokens per min "
            "(TPM): Limit 200000, Used 199000, Requested 2000. Please try again in 7s.",
            "tokens",
            "rate_limit_exceeded",
            **{"retry-after": "7"},
        )
    )
    with pytest.raises(RateLimitedError) as caught:
        call(api(fake))
    assert caught.value.retry_after == 7
    assert caught.value.retryable
    assert caught.value.provider == "openai:gpt-4.1-mini"
    assert len(fake.requests) == 1, "the SDK must not retry on its own"


def test_api_429_for_exhausted_quota_is_not_retried(
    openai_key: str, http_recorder: MakeRecorder
) -> None:
    fake = http_recorder(
        error(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        )
    )
    with pytest.raises(AuthenticationError, match="quota") as caught:
        call(api(fake))
    assert not caught.value.retryable


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({}, None),
        ({"retry-after": "soon"}, None),
    ],
)
def test_retry_after_header_forms(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_retry_after_as_an_http_date() -> None:
    when = datetime.now(tz=UTC) + timedelta(seconds=30)
    seconds = parse_retry_after({"Retry-After": format_datetime(when, usegmt=True)})
    assert seconds is not None
    assert 27 <= seconds <= 30


@pytest.mark.parametrize("status", [500, 502, 503])
def test_api_server_errors_are_unavailable_and_retryable(
    openai_key: str, status: int, http_recorder: MakeRecorder
) -> None:
    fake = http_recorder(
        error(
            status,
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        )
    )
    with pytest.raises(ProviderUnavailableError, match=f"HTTP {status}") as caught:
        call(api(fake))
    assert caught.value.retryable
    assert len(fake.requests) == 1


def test_api_401_is_authentication_error_without_the_key(
    openai_key: str, http_recorder: MakeRecorder
) -> None:
    # A careless proxy might echo the whole key back: it must still not reach the message.
    fake = http_recorder(
        error(
            401,
            f"Incorrect API key provided: {KEY}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            "invalid_api_key",
        )
    )
    with pytest.raises(AuthenticationError) as caught:
        call(api(fake))
    assert KEY not in str(caught.value)
    assert KEY[-8:] not in str(caught.value)
    assert "OPENAI_API_KEY" in str(caught.value)
    assert not caught.value.retryable


def test_api_403_is_authentication_error(openai_key: str, http_recorder: MakeRecorder) -> None:
    fake = http_recorder(
        error(
            403,
            "Country, region, or territory not supported",
            "request_forbidden",
            "unsupported_country_region_territory",
        )
    )
    with pytest.raises(AuthenticationError):
        call(api(fake))


def test_api_context_length_exceeded_is_context_too_long(
    openai_key: str, http_recorder: MakeRecorder
) -> None:
    fake = http_recorder(
        error(
            400,
            "This model's maximum context length is 1047576 tokens. However, your messages "
            "resulted in 1100000 tokens. Please reduce the length of the messages.",
            "invalid_request_error",
            "context_length_exceeded",
        )
    )
    with pytest.raises(ContextTooLongError, match="maximum context length") as caught:
        call(api(fake))
    assert not caught.value.retryable


@pytest.mark.parametrize(
    ("status", "message", "code"),
    [
        (400, "Unsupported value: 'temperature' does not support 0 with this model.", None),
        (
            404,
            "The model `gpt-9` does not exist or you do not have access to it.",
            "model_not_found",
        ),
        (422, "Unprocessable entity", None),
    ],
)
def test_api_other_4xx_are_bad_requests(
    openai_key: str,
    status: int,
    message: str,
    code: str | None,
    http_recorder: MakeRecorder,
) -> None:
    fake = http_recorder(error(status, message, "invalid_request_error", code))
    with pytest.raises(BadRequestError) as caught:
        call(api(fake))
    assert not isinstance(caught.value, ContextTooLongError)
    assert message in str(caught.value)
    assert not caught.value.retryable


def test_api_transport_timeout_is_provider_timeout(
    openai_key: str, http_recorder: MakeRecorder
) -> None:
    def hang(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("timed out", request=request)

    fake = http_recorder(hang)
    with pytest.raises(ProviderTimeoutError, match="120 s") as caught:
        call(api(fake))
    assert caught.value.retryable
    assert len(fake.requests) == 1


def test_api_connection_failure_is_unavailable(
    openai_key: str, http_recorder: MakeRecorder
) -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=request)

    with pytest.raises(ProviderUnavailableError):
        call(api(http_recorder(refuse)))


def test_api_uses_openai_base_url_from_settings(
    openai_key: str, http_recorder: MakeRecorder
) -> None:
    fake = http_recorder(lambda request: httpx2.Response(200, json=CHAT_COMPLETION))
    call(api(fake, openai_base_url="https://llm-proxy.example.test/openai/v1"))
    assert str(fake.requests[0].url) == "https://llm-proxy.example.test/openai/v1/chat/completions"


def test_missing_openai_api_key_is_an_authentication_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
    http_recorder: MakeRecorder,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    fake = http_recorder(lambda request: httpx2.Response(200, json=CHAT_COMPLETION))
    provider = api(fake)
    availability = provider.availability()
    assert not availability.usable
    assert "OPENAI_API_KEY" in availability.reason
    with pytest.raises(AuthenticationError, match="OPENAI_API_KEY"):
        call(provider)
    assert fake.requests == []


def test_api_availability_checks_the_key_without_a_request(
    openai_key: str, http_recorder: MakeRecorder
) -> None:
    fake = http_recorder(lambda request: httpx2.Response(500))
    provider = api(fake)
    assert provider.availability().model_dump() == {
        "usable": True,
        "reason": "OPENAI_API_KEY is set",
    }
    assert provider.tier is Tier.API
    assert fake.requests == []


def test_compatible_flavour_never_sends_the_openai_key(
    openai_key: str, http_recorder: MakeRecorder
) -> None:
    fake = http_recorder(lambda request: httpx2.Response(200, json=CHAT_COMPLETION))
    provider = OpenAIProvider(
        Settings(openai_compatible_base_url="http://127.0.0.1:9/v1"),
        name="openai-compatible",
        http_client=fake.client(),
    )
    completion = call(provider)
    assert completion.text.startswith("def add")
    request = fake.requests[0]
    assert str(request.url) == "http://127.0.0.1:9/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer not-needed"
    assert KEY not in request.headers["authorization"]
    assert fake.body()["max_tokens"] == 64


@pytest.mark.parametrize(
    ("status", "expected"),
    [(404, "it usually ends in /v1"), (500, "HTTP 500"), (401, "refused the key")],
)
def test_compatible_availability_explains_a_server_that_answers_wrongly(
    status: int, expected: str, http_recorder: MakeRecorder
) -> None:
    fake = http_recorder(error(status, "nope", "invalid_request_error", None))
    provider = OpenAIProvider(
        Settings(openai_compatible_base_url="http://127.0.0.1:9"),
        name="openai-compatible",
        http_client=fake.client(),
    )
    availability = provider.availability()
    assert not availability.usable
    assert expected in availability.reason
    assert str(fake.requests[0].url) == "http://127.0.0.1:9/models"


def test_without_the_sdk_the_provider_is_unusable_and_says_what_to_install(
    openai_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)  # makes `import openai` fail
    provider = OpenAIProvider(Settings())
    availability = provider.availability()
    assert not availability.usable
    assert "pip install 'frugalflow[apis]'" in availability.reason
    with pytest.raises(ConfigurationError, match="openai package is not installed"):
        call(provider)


def test_an_unknown_flavour_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="openai-compatible"):
        OpenAIProvider(Settings(), name="azure")


def test_importing_the_adapters_does_not_import_the_sdks() -> None:
    code = (
        "import sys, frugalflow.providers.openai, frugalflow.providers.ollama\n"
        "loaded = sorted({'openai', 'ollama'} & set(sys.modules))\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_a_key_from_a_prefect_secret_block_is_used_and_never_shown(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    http_recorder: MakeRecorder,
) -> None:
    from prefect.blocks.system import Secret

    from frugalflow.providers.keys import key_availability

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    secret = "sk-from-the-secret-block-0123456789abcdef"
    Secret(value=secret).save("frugalflow-test-openai-key", overwrite=True)
    settings = {"api_key_blocks": {"openai": "frugalflow-test-openai-key"}}
    fake = http_recorder(lambda request: httpx2.Response(200, json=CHAT_COMPLETION))

    with caplog.at_level(logging.DEBUG):
        completion = call(api(fake, **settings))

    assert completion.text
    assert fake.requests[0].headers["authorization"] == f"Bearer {secret}"
    availability = key_availability("openai", Settings(**settings))
    assert availability.usable and "frugalflow-test-openai-key" in availability.reason
    assert secret not in caplog.text and secret not in availability.reason
    assert secret not in repr(Settings(**settings))


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_a_missing_secret_block_says_how_to_create_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from frugalflow.providers.keys import key_availability

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    availability = key_availability(
        "openai", Settings(api_key_blocks={"openai": "no-such-block-here"})
    )
    assert not availability.usable
    assert "no-such-block-here" in availability.reason and "Secret(value=" in availability.reason


# -- prompt caching on purpose ---------------------------------------------------------------


def test_paid_calls_share_a_prompt_cache_key_per_stable_part(
    openai_key: str, http_recorder: MakeRecorder
) -> None:
    """``prompt_cache_key`` routes requests with a shared prefix to the same prompt cache
    (https://platform.openai.com/docs/guides/prompt-caching); frugalflow derives it from the
    stable part of the prompt (system text and context), so one per repository state."""
    fake = http_recorder(lambda request: httpx2.Response(200, json=CHAT_COMPLETION))
    provider = api(fake)
    system = ChatMessage(role="system", content="Repository context: def helper(): ...")
    for request in ("Write add(a, b).", "Write sub(a, b)."):
        provider.complete(
            "gpt-4.1-mini",
            [system, ChatMessage(role="user", content=request)],
            max_tokens=64,
            temperature=0,
        )
    other = ChatMessage(role="system", content="Repository context: def other(): ...")
    provider.complete(
        "gpt-4.1-mini",
        [other, ChatMessage(role="user", content="Write add(a, b).")],
        max_tokens=64,
        temperature=0,
    )
    provider.complete("gpt-4.1-mini", [MESSAGES[-1]], max_tokens=64, temperature=0)
    keys = [body.get("prompt_cache_key") for body in fake.bodies()]
    assert keys[0] == keys[1] and str(keys[0]).startswith("frugalflow-")
    assert keys[2] not in (None, keys[0])
    assert keys[3] is None  # the request alone: no stable part to share


def test_a_local_server_is_sent_no_prompt_cache_key(http_recorder: MakeRecorder) -> None:
    fake = http_recorder(lambda request: httpx2.Response(200, json=CHAT_COMPLETION))
    provider = OpenAIProvider(
        Settings(openai_compatible_base_url="http://127.0.0.1:9/v1"),
        name="openai-compatible",
        http_client=fake.client(),
    )
    provider.complete("qwen", MESSAGES, max_tokens=16, temperature=0)
    assert "prompt_cache_key" not in fake.body()

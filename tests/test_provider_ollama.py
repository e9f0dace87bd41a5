"""The ollama provider, through the official client, against a server that speaks Ollama's API
(tests/servers/ollama_api_server.py) and answers with the real embedded model."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from frugalflow.core.errors import (
    BadRequestError,
    ConfigurationError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from frugalflow.core.schemas import Tier
from frugalflow.core.settings import Settings
from frugalflow.providers.base import ChatMessage, Completion, Provider
from frugalflow.providers.ollama import OllamaProvider
from tests.servers.llama_openai_server import free_port
from tests.servers.ollama_api_server import (
    INSTALLED_MODEL,
    PULLABLE_MODEL,
    OllamaTestServer,
    ollama_api_server,
)

MESSAGES = [
    ChatMessage(role="system", content="You are a terse Python assistant. Answer with code only."),
    ChatMessage(role="user", content="Write a Python function add(a, b) that returns a + b."),
]
MAX_TOKENS = 32


@pytest.fixture(scope="module")
def server() -> Iterator[OllamaTestServer]:
    with ollama_api_server() as running:
        yield running


def provider_for(host: str, **settings: Any) -> OllamaProvider:
    return OllamaProvider(Settings(ollama_host=host, **settings))


@pytest.fixture(scope="module")
def replies(server: OllamaTestServer) -> tuple[Completion, Completion, list[str]]:
    """The same prompt at temperature 0, once whole and once streamed (with its pieces)."""
    provider = provider_for(server.host)
    plain = provider.complete(INSTALLED_MODEL, MESSAGES, max_tokens=MAX_TOKENS, temperature=0)
    pieces: list[str] = []
    streamed = provider.complete(
        INSTALLED_MODEL, MESSAGES, max_tokens=MAX_TOKENS, temperature=0, on_text=pieces.append
    )
    return plain, streamed, pieces


@pytest.mark.model
def test_chat_returns_text_and_usage(
    server: OllamaTestServer, replies: tuple[Completion, Completion, list[str]]
) -> None:
    plain, _, _ = replies
    assert "def add" in plain.text
    assert plain.input_tokens > 0
    assert 0 < plain.output_tokens <= MAX_TOKENS
    assert plain.finish_reason in ("stop", "length")
    assert plain.model == INSTALLED_MODEL
    chats = [body for method, path, body in server.requests if path == "/api/chat"]
    assert chats[0]["stream"] is False
    assert chats[0]["options"] == {"temperature": 0, "num_predict": MAX_TOKENS}
    assert chats[0]["messages"] == [m.model_dump() for m in MESSAGES]


@pytest.mark.model
def test_stream_passes_pieces_and_takes_usage_from_the_final_chunk(
    server: OllamaTestServer, replies: tuple[Completion, Completion, list[str]]
) -> None:
    plain, streamed, pieces = replies
    assert len(pieces) > 1
    assert "".join(pieces) == streamed.text == plain.text
    assert (streamed.input_tokens, streamed.output_tokens) == (
        plain.input_tokens,
        plain.output_tokens,
    )
    assert streamed.input_tokens > 0
    assert streamed.finish_reason == plain.finish_reason
    chats = [body for method, path, body in server.requests if path == "/api/chat"]
    assert chats[-1]["stream"] is True


@pytest.mark.parametrize("stream", [False, True])
def test_a_model_the_server_lacks_is_a_bad_request_that_says_how_to_pull_it(
    server: OllamaTestServer, stream: bool
) -> None:
    provider = provider_for(server.host)
    on_text = (lambda piece: None) if stream else None
    with pytest.raises(BadRequestError) as caught:
        provider.complete("qwen-nope:7b", MESSAGES, max_tokens=8, temperature=0, on_text=on_text)
    message = str(caught.value)
    assert "frugalflow models pull qwen-nope:7b" in message
    assert "ollama pull qwen-nope:7b" in message
    assert not caught.value.retryable
    assert caught.value.provider == "ollama:qwen-nope:7b"


@pytest.mark.parametrize("stream", [False, True])
def test_no_server_is_unavailable_and_says_to_start_ollama(stream: bool) -> None:
    host = f"http://127.0.0.1:{free_port()}"
    provider = provider_for(host)
    on_text = (lambda piece: None) if stream else None
    with pytest.raises(ProviderUnavailableError) as caught:
        provider.complete(INSTALLED_MODEL, MESSAGES, max_tokens=8, temperature=0, on_text=on_text)
    assert str(caught.value) == f"no Ollama server answers at {host}; start it with `ollama serve`"
    assert caught.value.retryable
    availability = provider.availability()
    assert not availability.usable
    assert "no Ollama server answers" in availability.reason


def test_a_server_that_does_not_answer_in_time_is_a_timeout() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never replies
        host = f"http://127.0.0.1:{silent.getsockname()[1]}"
        provider = provider_for(host, provider_timeout_seconds=0.5)
        with pytest.raises(ProviderTimeoutError, match=r"0\.5 s") as caught:
            provider.complete(INSTALLED_MODEL, MESSAGES, max_tokens=8, temperature=0)
    assert caught.value.retryable


class _Crashing:
    name = "broken"
    tier = Tier.LOCAL

    def complete(self, model: str, messages: Sequence[ChatMessage], **kwargs: Any) -> Completion:
        raise RuntimeError("llama runner process has terminated: signal: killed")

    def availability(self) -> Any:
        raise NotImplementedError


def test_a_server_error_is_retryable() -> None:
    with ollama_api_server(_Crashing()) as crashing:
        provider = provider_for(crashing.host)
        with pytest.raises(ProviderUnavailableError, match="runner process has terminated") as e:
            provider.complete(INSTALLED_MODEL, MESSAGES, max_tokens=8, temperature=0)
    assert e.value.retryable


def test_availability_lists_the_servers_models(server: OllamaTestServer) -> None:
    provider = provider_for(server.host)
    availability = provider.availability()
    assert availability.usable, availability.reason
    assert INSTALLED_MODEL in availability.reason
    assert INSTALLED_MODEL in provider.installed_models()
    assert provider.tier is Tier.LOCAL
    assert isinstance(provider, Provider)


def test_host_argument_overrides_the_setting(server: OllamaTestServer) -> None:
    provider = OllamaProvider(Settings(ollama_host="http://127.0.0.1:9"), host=server.host)
    assert provider.availability().usable


def test_pull_reports_progress_and_ends_in_success() -> None:
    with ollama_api_server() as fresh:
        provider = provider_for(fresh.host)
        assert PULLABLE_MODEL not in provider.installed_models()
        events: list[tuple[str, int | None, int | None]] = []
        provider.pull(PULLABLE_MODEL, lambda *event: events.append(event))
        installed = provider.installed_models()
    assert events[0] == ("pulling manifest", None, None)
    assert events[-1] == ("success", None, None)
    downloads = [
        (done, total) for status, done, total in events if status.startswith("downloading")
    ]
    assert len(downloads) > 1
    assert [done for done, _ in downloads] == sorted(done or 0 for done, _ in downloads)
    assert downloads[-1][0] == downloads[-1][1]
    assert PULLABLE_MODEL in installed


def test_pulling_a_name_the_library_lacks_is_a_bad_request(server: OllamaTestServer) -> None:
    events: list[tuple[str, int | None, int | None]] = []
    with pytest.raises(BadRequestError, match="no model 'nonexistent:1b'"):
        provider_for(server.host).pull("nonexistent:1b", lambda *event: events.append(event))
    assert events == [("pulling manifest", None, None)]


def test_without_the_client_the_provider_is_unusable_and_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "ollama", None)  # makes `import ollama` fail
    provider = provider_for("http://127.0.0.1:9")
    availability = provider.availability()
    assert not availability.usable
    assert "pip install 'frugalflow[apis]'" in availability.reason
    with pytest.raises(ConfigurationError, match="ollama package is not installed"):
        provider.complete(INSTALLED_MODEL, MESSAGES, max_tokens=8, temperature=0)

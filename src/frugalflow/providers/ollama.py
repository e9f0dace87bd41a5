"""Ollama: local models served by ``ollama serve``, through the official ``ollama`` client, $0.

Usage is what Ollama reported on the final chunk (``prompt_eval_count``, ``eval_count``).
``max_tokens`` and ``temperature`` go to Ollama's ``options`` as ``num_predict`` and
``temperature``. The client (and ``httpx`` under it) is imported only when the provider is
first used.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from frugalflow.core.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
)
from frugalflow.core.schemas import Tier
from frugalflow.core.settings import Settings
from frugalflow.providers.base import (
    MALFORMED_REPLY_ERRORS,
    Availability,
    ChatMessage,
    Completion,
    malformed_reply,
    read_chunks,
    shape_error,
)

if TYPE_CHECKING:
    import ollama

AVAILABILITY_TIMEOUT_SECONDS = 2.0
_INSTALL_HINT = "install it with: pip install 'frugalflow[apis]'"
_DETAIL_CHARS = 500

ProgressCallback = Callable[[str, int | None, int | None], None]
"""Receives each pull progress event: status, bytes completed, bytes in total (when known)."""


def _sdk() -> Any:
    """The ``ollama`` module, imported on first use."""
    try:
        import ollama
    except ImportError as exc:
        raise ConfigurationError(
            f"the ollama package is not installed, so the ollama provider cannot run; "
            f"{_INSTALL_HINT}"
        ) from exc
    return ollama


class OllamaProvider:
    """Chat with models on an Ollama server.

    Args:
        settings: the server (``ollama_host``) and the call timeout.
        host: another server, instead of ``settings.ollama_host``.
    """

    name = "ollama"
    tier = Tier.LOCAL

    def __init__(self, settings: Settings, *, host: str | None = None) -> None:
        self._settings = settings
        self.host = host or settings.ollama_host
        self._client: ollama.Client | None = None
        self._client_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OllamaProvider(host={self.host!r})"

    def _sdk_client(self) -> ollama.Client:
        with self._client_lock:
            if self._client is None:
                self._client = self._new_client(self._settings.provider_timeout_seconds)
            return self._client

    def _new_client(self, timeout: float) -> ollama.Client:
        client: ollama.Client = _sdk().Client(host=self.host, timeout=timeout)
        return client

    # -- Provider ----------------------------------------------------------------------------

    def availability(self) -> Availability:
        """Usable when the server lists its models within 2 seconds."""
        if importlib.util.find_spec("ollama") is None:
            return Availability(
                usable=False, reason=f"the ollama package is not installed; {_INSTALL_HINT}"
            )
        try:
            with self._new_client(AVAILABILITY_TIMEOUT_SECONDS) as client:
                names = _model_names(client.list())
        except Exception as exc:
            try:
                self._translate(exc, "ollama")
            except ProviderError as error:
                return Availability(usable=False, reason=str(error))
        if not names:
            return Availability(
                usable=True,
                reason=f"Ollama answers at {self.host} but has no models; pull one with "
                "`frugalflow models pull <model>` or `ollama pull <model>`",
            )
        return Availability(
            usable=True, reason=f"Ollama answers at {self.host} with: {', '.join(names)}"
        )

    def complete(
        self,
        model: str,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        on_text: Callable[[str], None] | None = None,
        seed: int | None = None,
    ) -> Completion:
        """Run one chat completion (see :class:`~frugalflow.providers.base.Provider`).

        Raises:
            frugalflow.core.errors.BadRequestError: the model is not installed on the server (the
                message says how to pull it), or the request was refused.
            frugalflow.core.errors.ProviderUnavailableError: no server answers at the host.
            frugalflow.core.errors.ProviderTimeoutError: the call took too long.
        """
        address = f"{self.name}:{model}"
        client = self._sdk_client()
        request: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "options": {"temperature": temperature, "num_predict": max_tokens},
        }
        if seed is not None:
            request["options"]["seed"] = seed
        started = time.perf_counter()
        final: ollama.ChatResponse | None = None
        endpoint = f"that ollama_host ({self.host}) is an Ollama server"
        try:
            if on_text is None:
                try:
                    final = client.chat(**request, stream=False)
                except MALFORMED_REPLY_ERRORS as exc:  # not JSON, or not a chat response
                    raise malformed_reply(address, shape_error(exc), endpoint=endpoint) from exc
                if final.message.content is None:
                    raise malformed_reply(address, "message.content is missing", endpoint=endpoint)
                text = final.message.content
            else:
                pieces: list[str] = []
                answered = False  # a chunk carried message.content, even an empty one
                for chunk in read_chunks(
                    client.chat(**request, stream=True), address, endpoint=endpoint
                ):
                    content = chunk.message.content
                    answered = answered or content is not None
                    if content:
                        pieces.append(content)
                        on_text(content)
                    if chunk.done:
                        final = chunk
                if final is not None and not answered:
                    raise malformed_reply(address, "message.content is missing", endpoint=endpoint)
                text = "".join(pieces)
        except self._client_errors() as exc:
            self._translate(exc, address, model=model)
        if final is None:
            raise ProviderUnavailableError(
                f"{address}: the stream ended before Ollama said it was done", provider=address
            )
        return Completion(
            text=text,
            model=model,
            input_tokens=final.prompt_eval_count or 0,
            output_tokens=final.eval_count or 0,
            finish_reason=final.done_reason,
            seconds=time.perf_counter() - started,
        )

    # -- model management --------------------------------------------------------------------

    def installed_models(self) -> list[str]:
        """The models the server has, as Ollama names them (``name:tag``).

        Raises:
            frugalflow.core.errors.ProviderError: the server cannot be asked.
        """
        try:
            return _model_names(self._sdk_client().list())
        except self._client_errors() as exc:
            self._translate(exc, "ollama")

    def pull(self, model: str, on_progress: ProgressCallback) -> None:
        """Download ``model`` onto the server, reporting each progress event.

        Args:
            model: an Ollama library name, e.g. ``qwen2.5-coder:0.5b``.
            on_progress: called with (status, completed bytes, total bytes) per event; the
                last event's status is ``success``.

        Raises:
            frugalflow.core.errors.BadRequestError: the library has no such model.
            frugalflow.core.errors.ProviderError: the server failed or cannot be reached.
        """
        address = f"{self.name}:{model}"
        last_status = ""
        try:
            events: Iterator[Any] = self._sdk_client().pull(model, stream=True)
            for event in events:
                last_status = event.status or ""
                on_progress(last_status, event.completed, event.total)
        except self._client_errors() as exc:
            self._translate(exc, address, model=model, pulling=True)
        if last_status != "success":
            raise ProviderUnavailableError(
                f"pulling {model} stopped before it succeeded (last status: "
                f"{last_status or 'none'}); run it again",
                provider=address,
            )

    # -- errors ------------------------------------------------------------------------------

    @staticmethod
    def _client_errors() -> tuple[type[BaseException], ...]:
        """What the client and httpx raise (and nothing a caller's callback raises)."""
        import httpx

        sdk = _sdk()
        return (httpx.HTTPError, httpx.StreamError, ConnectionError, sdk.ResponseError)

    def _no_server(self) -> str:
        return f"no Ollama server answers at {self.host}; start it with `ollama serve`"

    def _translate(
        self, exc: BaseException, address: str, *, model: str = "", pulling: bool = False
    ) -> NoReturn:
        """Raise the frugalflow error for a client or transport error, chained to it."""
        import httpx

        sdk = _sdk()
        if isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError | ConnectionError):
            raise ProviderUnavailableError(self._no_server(), provider=address) from exc
        if isinstance(exc, httpx.TimeoutException):
            raise ProviderTimeoutError(
                f"{address} did not answer within {self._settings.provider_timeout_seconds:g} s "
                "(provider_timeout_seconds)",
                provider=address,
            ) from exc
        if isinstance(exc, httpx.TransportError):
            raise ProviderUnavailableError(
                f"{address}: the connection to {self.host} failed: {type(exc).__name__}: {exc}",
                provider=address,
            ) from exc
        if isinstance(exc, sdk.ResponseError):
            status: int = exc.status_code
            detail = str(exc.error)[:_DETAIL_CHARS]
            not_found = status == 404 or "not found" in detail or "does not exist" in detail
            if pulling and not_found:
                raise BadRequestError(
                    f"the Ollama library has no model {model!r} ({detail}); check the name at "
                    "https://ollama.com/library",
                    provider=address,
                ) from exc
            if status == 404:
                raise BadRequestError(
                    f"{address}: Ollama at {self.host} does not have {model!r} ({detail}); "
                    f"run `frugalflow models pull {model}` or `ollama pull {model}`",
                    provider=address,
                ) from exc
            if status in (401, 403):
                raise AuthenticationError(
                    f"{address}: Ollama at {self.host} refused the request (HTTP {status}); "
                    "check OLLAMA_API_KEY",
                    provider=address,
                ) from exc
            if status == 429:
                raise RateLimitedError(
                    f"{address} is rate limited (HTTP 429): {detail}", provider=address
                ) from exc
            if status >= 500 or status == -1:  # -1: an error event inside a stream
                raise ProviderUnavailableError(
                    f"{address} failed on the server: {detail}", provider=address
                ) from exc
            raise BadRequestError(
                f"{address}: Ollama rejected the request (HTTP {status}): {detail}",
                provider=address,
            ) from exc
        raise ProviderError(
            f"{address}: the ollama client failed: {type(exc).__name__}: {exc}",
            provider=address,
        ) from exc


def _model_names(listing: Any) -> list[str]:
    return [model.model for model in listing.models if model.model]

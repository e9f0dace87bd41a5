"""OpenAI's Chat Completions API, and any OpenAI-compatible server, through the official SDK.

Two flavours share this adapter:

* ``openai`` (paid API tier): the key comes from :func:`require_api_key` (``OPENAI_API_KEY`` or
  a Prefect Secret block), the endpoint from ``openai_base_url`` (the SDK's default when unset).
* ``openai-compatible`` (free local tier): a llama.cpp server, vLLM or LM Studio at
  ``openai_compatible_base_url``. A key is sent only when a Secret block is configured for
  ``openai-compatible``; otherwise a placeholder. ``OPENAI_API_KEY`` is never sent to it: a
  local server has no business seeing the real OpenAI key.

Paid calls carry a ``prompt_cache_key`` derived from the prompt's stable part
(:func:`prompt_cache_key`), so that calls on the same repository state share OpenAI's prompt
cache; local servers are sent none.

The SDK is imported only when the provider is first used, and its own retries are off
(``max_retries=0``): frugalflow retries, with its budget and circuit breaker in the loop.
Usage is what the server reported. A reply whose server sends no usage (llama-cpp-python's
server does not honour ``stream_options.include_usage``; a proxy may strip it) is reported as
such (``usage_reported`` False, with a warning in the log), and the meter
(:mod:`frugalflow.money.metering`) counts it: a call that cost money is never recorded as free.

One module over 400 lines on purpose, like every adapter that grew one: one vendor's API
(streamed and not), its errors and its usage fields, translated at one edge.
"""

from __future__ import annotations

import email.utils
import importlib.util
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

from pydantic import SecretStr

from frugalflow.core.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ContextTooLongError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
)
from frugalflow.core.redaction import redact, remember_secret
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
    stable_part_digest,
)
from frugalflow.providers.keys import find_api_key, key_availability, require_api_key

if TYPE_CHECKING:
    import httpx2
    import openai
    from openai.types import CompletionUsage

logger = logging.getLogger(__name__)

OPENAI = "openai"
OPENAI_COMPATIBLE = "openai-compatible"
_TIERS = {OPENAI: Tier.API, OPENAI_COMPATIBLE: Tier.LOCAL}
# Sent to a local server that needs no key (the SDK refuses to run without one).
PLACEHOLDER_KEY = "not-needed"
AVAILABILITY_TIMEOUT_SECONDS = 2.0
_INSTALL_HINT = "install it with: pip install 'frugalflow[apis]'"
_CONTEXT_MESSAGE = re.compile(
    r"context[ _](length|window)|maximum context|prompt is too long|too many tokens",
    re.IGNORECASE,
)
_DETAIL_CHARS = 500


def _sdk() -> Any:
    """The ``openai`` module, imported on first use."""
    try:
        import openai
    except ImportError as exc:
        raise ConfigurationError(
            f"the openai package is not installed, so the openai providers cannot run; "
            f"{_INSTALL_HINT}"
        ) from exc
    return openai


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``Retry-After`` in seconds or as an HTTP date.

    Returns None when neither header is present or readable.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    for header, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = lowered.get(header)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    value = lowered.get("retry-after")
    if value:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - datetime.now(tz=UTC)).total_seconds())
    return None


class OpenAIProvider:
    """Chat completions through the official ``openai`` SDK.

    Args:
        settings: timeouts, endpoints and where keys come from.
        name: ``openai`` (paid API) or ``openai-compatible`` (a local server, $0).
        base_url: another endpoint; by default ``settings.openai_base_url`` (``openai``) or
            ``settings.openai_compatible_base_url`` (``openai-compatible``).
        api_key: a key to use instead of the configured one.
        http_client: an ``httpx2.Client`` for the SDK (a proxy, a test transport).

    Raises:
        ConfigurationError: ``name`` is not one of the two flavours.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        name: str = OPENAI,
        base_url: str | None = None,
        api_key: str | SecretStr | None = None,
        http_client: httpx2.Client | None = None,
    ) -> None:
        if name not in _TIERS:
            raise ConfigurationError(
                f"OpenAIProvider serves {OPENAI!r} or {OPENAI_COMPATIBLE!r}, not {name!r}"
            )
        self.name = name
        self.tier = _TIERS[name]
        self._settings = settings
        if base_url is None:
            base_url = (
                settings.openai_base_url if name == OPENAI else settings.openai_compatible_base_url
            )
        self.base_url = base_url
        self._api_key = SecretStr(api_key) if isinstance(api_key, str) else api_key
        self._http_client = http_client
        self._client: openai.OpenAI | None = None
        self._client_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OpenAIProvider(name={self.name!r}, base_url={self.base_url!r})"

    # -- the SDK client --------------------------------------------------------------------

    def _key(self) -> SecretStr:
        if self._api_key is not None:
            return self._api_key
        if self.name == OPENAI:
            return require_api_key(OPENAI, self._settings)
        return find_api_key(OPENAI_COMPATIBLE, self._settings) or SecretStr(PLACEHOLDER_KEY)

    def _sdk_client(self) -> openai.OpenAI:
        """The SDK client, built on first use (so that a missing key or SDK only fails here)."""
        with self._client_lock:
            if self._client is None:
                key = self._key()
                if key.get_secret_value() != PLACEHOLDER_KEY:
                    remember_secret(key.get_secret_value())  # errors echoing it are redacted
                self._client = _sdk().OpenAI(
                    api_key=key.get_secret_value(),
                    base_url=self.base_url,
                    timeout=self._settings.provider_timeout_seconds,
                    max_retries=0,
                    http_client=self._http_client,
                )
            return self._client

    # -- Provider ----------------------------------------------------------------------------

    def availability(self) -> Availability:
        """``openai``: whether a key is configured (no network call). ``openai-compatible``:
        whether a server answers ``GET {base_url}/models`` within 2 seconds."""
        if importlib.util.find_spec("openai") is None:
            return Availability(
                usable=False, reason=f"the openai package is not installed; {_INSTALL_HINT}"
            )
        if self.name == OPENAI:
            return key_availability(OPENAI, self._settings, given=self._api_key is not None)
        return self._server_availability()

    def _server_availability(self) -> Availability:
        sdk = _sdk()
        try:
            client = self._sdk_client().with_options(timeout=AVAILABILITY_TIMEOUT_SECONDS)
            models = [model.id for model in client.models.list()]
        except sdk.APIConnectionError:  # timeouts included
            return Availability(usable=False, reason=self._no_server_message())
        except sdk.InternalServerError as exc:
            return Availability(
                usable=False,
                reason=f"the server at {self.base_url} fails (GET /models: HTTP "
                f"{exc.status_code}); see its log",
            )
        except (sdk.AuthenticationError, sdk.PermissionDeniedError):
            return Availability(
                usable=False,
                reason=f"the server at {self.base_url} refused the key; put the right one in a "
                f"Prefect Secret block named in api_key_blocks[{OPENAI_COMPATIBLE!r}]",
            )
        except sdk.APIStatusError as exc:
            return Availability(
                usable=False,
                reason=f"a server answers at {self.base_url} but not as an OpenAI-compatible "
                f"API (GET /models: HTTP {exc.status_code}); check openai_compatible_base_url "
                "(it usually ends in /v1)",
            )
        except sdk.APIError as exc:
            return Availability(
                usable=False,
                reason=f"the server at {self.base_url} does not answer like an OpenAI-compatible "
                f"API ({type(exc).__name__}); check openai_compatible_base_url",
            )
        except ConfigurationError as exc:
            return Availability(usable=False, reason=str(exc))
        listed = ", ".join(models[:10]) or "none listed"
        return Availability(
            usable=True, reason=f"an OpenAI-compatible server answers at {self.base_url} ({listed})"
        )

    def _no_server_message(self) -> str:
        parts = urlsplit(self.base_url or "")
        host = parts.hostname or "127.0.0.1"
        port = parts.port or 8080
        return (
            f"no server answers at {self.base_url}; start one (e.g. python -m llama_cpp.server "
            f"--model PATH.gguf --host {host} --port {port}) or fix openai_compatible_base_url"
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
            frugalflow.core.errors.ProviderError: the SDK's error translated (see :meth:`_translate`).
            frugalflow.core.errors.AuthenticationError: no key is configured for ``openai``.
        """
        address = f"{self.name}:{model}"
        client = self._sdk_client()
        sdk = _sdk()
        payload: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "temperature": temperature,
        }
        if seed is not None:
            payload["seed"] = seed
        if self.name == OPENAI and (key := prompt_cache_key(messages)) is not None:
            payload["prompt_cache_key"] = key
        # OpenAI deprecated max_tokens (its reasoning models refuse it); local servers
        # (llama-cpp-python's among them) only know max_tokens.
        payload["max_completion_tokens" if self.name == OPENAI else "max_tokens"] = max_tokens
        started = time.perf_counter()
        try:
            if on_text is None:
                response = client.chat.completions.create(**payload)
                return self._from_response(response, model, started)
            stream = client.chat.completions.create(
                **payload, stream=True, stream_options={"include_usage": True}
            )
            with stream:
                chunks = read_chunks(stream, address, endpoint=self._endpoint())
                return self._from_stream(chunks, model, started, on_text)
        except sdk.OpenAIError as exc:
            self._translate(exc, address)
        except ValueError as exc:  # the SDK could not parse the body as JSON
            raise self._malformed(address, f"the body is not JSON: {exc}") from exc

    def _endpoint(self) -> str:
        if self.name == OPENAI_COMPATIBLE:
            return f"that openai_compatible_base_url ({self.base_url}) is an OpenAI-compatible API"
        if self.base_url:
            return f"that openai_base_url ({self.base_url}) is an OpenAI-compatible API"
        return "https://status.openai.com"

    def _malformed(self, address: str, what: str) -> ProviderError:
        return malformed_reply(address, what, endpoint=self._endpoint())

    def _from_response(self, response: Any, model: str, started: float) -> Completion:
        """The completion in a reply, or MalformedReplyError when it has none (no choices, no
        message, no content, not a chat completion at all)."""
        address = f"{self.name}:{model}"
        choices = getattr(response, "choices", None)
        if isinstance(response, str | bytes):  # the SDK hands over a body it could not parse
            raise self._malformed(address, f"not a chat completion: {response[:80]!r}")
        if not isinstance(choices, list):
            raise self._malformed(address, "no list of choices")
        if not choices:
            raise self._malformed(address, "no choices")
        try:
            choice = choices[0]
            message = choice.message
            if message is None:
                raise self._malformed(address, "choices[0] has no message")
            if message.content is None and not message.refusal:
                raise self._malformed(address, "choices[0].message has no content")
            text = message.content or ""
            reported = response.usage is not None
            usage = _usage(response.usage)
            finish_reason = choice.finish_reason
            answered = _model_named(response)
        except MALFORMED_REPLY_ERRORS as exc:
            raise self._malformed(address, shape_error(exc)) from exc
        return Completion(
            text=text,
            model=model,
            **usage,
            answered_model=answered,
            usage_reported=reported,
            finish_reason=finish_reason,
            seconds=time.perf_counter() - started,
        )

    def _from_stream(
        self,
        stream: Any,
        model: str,
        started: float,
        on_text: Callable[[str], None],
    ) -> Completion:
        address = f"{self.name}:{model}"
        pieces: list[str] = []
        finish_reason: str | None = None
        usage: CompletionUsage | None = None
        answered = False  # a chunk carried the first choice
        answering: str | None = None  # the model the chunks name
        for chunk in stream:
            try:
                # The usage comes in the last chunk (stream_options.include_usage), whose
                # choices are empty.
                usage = chunk.usage if chunk.usage is not None else usage
                answering = _model_named(chunk) or answering
                firsts = [choice for choice in chunk.choices if choice.index == 0]
                piece = next(
                    (c.delta.content for c in firsts if c.delta is not None and c.delta.content),
                    None,
                )
                finish_reason = next(
                    (c.finish_reason for c in firsts if c.finish_reason is not None),
                    finish_reason,
                )
            except MALFORMED_REPLY_ERRORS as exc:
                raise self._malformed(address, f"a stream chunk: {shape_error(exc)}") from exc
            answered = answered or bool(firsts)
            if piece:
                pieces.append(piece)
                on_text(piece)
        if not answered:
            raise self._malformed(address, "the stream carried no choices")
        text = "".join(pieces)
        if usage is None:
            logger.warning(
                "%s:%s streamed no usage (the server ignores stream_options.include_usage); "
                "its tokens will be counted instead",
                self.name,
                model,
            )
        return Completion(
            text=text,
            model=model,
            **_usage(usage),
            answered_model=answering,
            usage_reported=usage is not None,
            finish_reason=finish_reason,
            seconds=time.perf_counter() - started,
        )

    # -- errors ------------------------------------------------------------------------------

    def _translate(self, exc: BaseException, address: str) -> NoReturn:
        """Raise the frugalflow error for an SDK error, chained to it."""
        sdk = _sdk()
        if isinstance(exc, sdk.APITimeoutError):
            raise ProviderTimeoutError(
                f"{address} did not answer within {self._settings.provider_timeout_seconds:g} s "
                "(provider_timeout_seconds)",
                provider=address,
            ) from exc
        if isinstance(exc, sdk.APIConnectionError):
            where = self.base_url or "the OpenAI API"
            hint = (
                self._no_server_message()
                if self.name == OPENAI_COMPATIBLE
                else f"cannot reach {where}"
            )
            raise ProviderUnavailableError(f"{address}: {hint}", provider=address) from exc
        if isinstance(exc, sdk.APIStatusError):
            self._translate_status(exc, address)
        if isinstance(exc, sdk.APIResponseValidationError):
            raise self._malformed(address, self._detail(exc)) from exc
        if isinstance(exc, sdk.APIError):
            # An error event inside a stream, or a reply the SDK could not read.
            detail = self._detail(exc)
            if _is_context_error(exc.code, detail):
                raise ContextTooLongError(
                    f"{address}: the prompt does not fit the model's context: {detail}",
                    provider=address,
                ) from exc
            raise ProviderUnavailableError(
                f"{address} failed mid-reply: {detail}", provider=address
            ) from exc
        raise ProviderError(
            f"{address}: the openai SDK failed: {redact(str(exc))[:_DETAIL_CHARS]}",
            provider=address,
        ) from exc

    def _detail(self, exc: openai.APIError) -> str:
        message = exc.message
        body = exc.body
        if isinstance(body, Mapping) and isinstance(body.get("message"), str):
            message = body["message"]
        return redact(str(message))[:_DETAIL_CHARS]

    def _translate_status(self, exc: openai.APIStatusError, address: str) -> NoReturn:
        status = exc.status_code
        code = exc.code
        detail = self._detail(exc)
        tag = f"HTTP {status}" + (f", {code}" if code else "")
        retry_after = parse_retry_after(exc.response.headers)
        if status in (401, 403):
            # The server's message may quote part of the key: it is left out.
            where = (
                "OPENAI_API_KEY (or the Secret block in api_key_blocks['openai'])"
                if self.name == OPENAI
                else f"the Secret block in api_key_blocks[{OPENAI_COMPATIBLE!r}]"
            )
            what = "refused the key" if status == 401 else "denied the key access"
            # from None: the SDK's own error may echo the key back into a traceback.
            raise AuthenticationError(
                f"{address} {what} ({tag}); check {where}", provider=address
            ) from None
        if status == 429:
            if code == "insufficient_quota":
                raise AuthenticationError(
                    f"{address}: the account has no quota left ({tag}); check its plan and "
                    "billing, or remove openai models from the 'models' setting",
                    provider=address,
                ) from exc
            wait = f"; retry after {retry_after:g} s" if retry_after is not None else ""
            raise RateLimitedError(
                f"{address} is rate limited ({tag}){wait}: {detail}",
                provider=address,
                retry_after=retry_after,
            ) from exc
        if status == 408:
            raise ProviderTimeoutError(
                f"{address} timed out on the server ({tag})",
                provider=address,
                retry_after=retry_after,
            ) from exc
        if status == 409 or status >= 500:
            raise ProviderUnavailableError(
                f"{address} failed on the server ({tag}): {detail}",
                provider=address,
                retry_after=retry_after,
            ) from exc
        if _is_context_error(code, detail):
            raise ContextTooLongError(
                f"{address}: the prompt does not fit the model's context ({tag}): {detail}; "
                "shorten the request or use a model with a larger context",
                provider=address,
            ) from exc
        if status == 404:
            raise BadRequestError(
                f"{address}: no such model or endpoint at {self.base_url or 'OpenAI'} "
                f"({tag}): {detail}",
                provider=address,
            ) from exc
        raise BadRequestError(
            f"{address} rejected the request ({tag}): {detail}", provider=address
        ) from exc


def _is_context_error(code: str | None, message: str) -> bool:
    return code == "context_length_exceeded" or bool(_CONTEXT_MESSAGE.search(message))


def prompt_cache_key(messages: Sequence[ChatMessage]) -> str | None:
    """The ``prompt_cache_key`` of a prompt: one per stable part (the system text and every
    message before the last, the request), so per repository state and system prompt.

    OpenAI caches prompt prefixes by itself; the key routes requests that share one to the
    same cache, so that a repair or a later request on the same repository state reads the
    context back at the cached-input rate. None when the prompt has no stable part (the
    request alone: nothing to share).
    """
    digest = stable_part_digest([(message.role, message.content) for message in messages])
    return None if digest is None else f"frugalflow-{digest}"


def _model_named(reply: Any) -> str | None:
    """The model a completion or a chunk says answered, when it names one."""
    named = getattr(reply, "model", None)
    return named if isinstance(named, str) and named else None


def _usage(usage: CompletionUsage | None) -> dict[str, int]:
    """The Completion's counts from Chat Completions' ``usage``; zeros when there is none.

    ``prompt_tokens_details.cached_tokens`` is a part of ``prompt_tokens`` (billed at the
    cached-input rate), ``completion_tokens_details.reasoning_tokens`` a part of
    ``completion_tokens`` (billed as output). OpenAI reports no cache writes: a prompt is
    cached at no extra cost.
    """
    if usage is None:
        return {"input_tokens": 0, "output_tokens": 0}
    prompt = usage.prompt_tokens or 0
    completion = usage.completion_tokens or 0
    prompt_details = usage.prompt_tokens_details
    cached = (prompt_details.cached_tokens or 0) if prompt_details is not None else 0
    completion_details = usage.completion_tokens_details
    reasoning = (completion_details.reasoning_tokens or 0) if completion_details is not None else 0
    return {
        "input_tokens": prompt,
        "output_tokens": completion,
        "cached_tokens": min(cached, prompt),
        "reasoning_tokens": min(reasoning, completion),
    }

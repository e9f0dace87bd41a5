"""Anthropic's Claude models through the official ``anthropic`` SDK (Messages API).

The SDK is imported when the first call needs it, so that a missing or broken SDK only
affects this provider. The SDK's own retries are off (``max_retries=0``): frugalflow retries
and escalates, and an SDK retrying underneath would multiply both the wait and the bill.

Choices worth knowing:

* **System prompt.** ``system`` messages go, joined by a blank line, to the ``system``
  parameter; the others are sent in order as ``messages``.
* **Temperature is not sent.** SDK 2.x removed ``temperature``/``top_p``/``top_k`` from
  ``messages.create``, and the API version it speaks (``anthropic-version: 2026-10-21``)
  answers 400 to any sampling parameter, even at its default. The ``temperature`` argument of
  :meth:`AnthropicProvider.complete` is therefore accepted and ignored.
* **Usage.** Anthropic reports ``input_tokens`` *excluding* prompt-cache reads and writes.
  frugalflow's pricing wants the whole prompt, so ``input_tokens`` here is
  ``input_tokens + cache_read_input_tokens + cache_creation_input_tokens``;
  ``cached_tokens`` is ``cache_read_input_tokens`` (billed at 0.1x the input rate) and
  ``cache_write_tokens`` is ``cache_creation_input_tokens``, of which
  ``cache_creation.ephemeral_1h_input_tokens`` (when the reply breaks the writes down) were
  written for one hour (2x) and the rest for five minutes (1.25x). Thinking is inside
  ``output_tokens``: Anthropic does not count it apart, so ``reasoning_tokens`` stays 0.
  When streaming, the counts come from ``message_start`` and the last ``message_delta``
  (whose counts are cumulative and win when present), as the SDK's accumulator merges them.
* **Model.** The reply's ``model`` is the model that answered; the call is priced on it.
* **Prompt caching.** The stable part of the prompt (the system text, and every message before
  the last one) gets a ``cache_control`` breakpoint when it is at least the model's minimum
  cacheable length (:func:`cache_breakpoint`), so that a repair or a later request on the
  same repository state reads it back at 0.1x instead of paying it in full; writing it costs
  1.25x once. The length is estimated from characters: a prefix marked below the minimum is
  simply not cached (the API says so and bills it as plain input), so an error either way
  costs nothing.
* **Over 400 lines on purpose**, like every adapter that grew one: one vendor's API (streamed
  and not), its errors, its usage fields and its cache breakpoints, translated at one edge.
* **Errors** are translated at the edge, by HTTP status and, for errors that arrive inside an
  already-accepted stream (HTTP 200), by the error ``type`` in the body. The API key never
  appears in a message.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import SecretStr

from frugalflow.core.errors import (
    AuthenticationError,
    BadRequestError,
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
    transport_failure,
)
from frugalflow.providers.keys import KEY_VARIABLES, key_availability, require_api_key

if TYPE_CHECKING:
    import anthropic
    import httpx2
    from anthropic.types import (
        CacheControlEphemeralParam,
        Message,
        MessageParam,
        TextBlockParam,
        Usage,
    )

PROVIDER = "anthropic"
_KEY_VARIABLES = " or ".join(KEY_VARIABLES[PROVIDER])

# The HTTP status each documented error type stands for, used when the error arrives as an
# ``event: error`` inside a stream whose HTTP status was already 200.
_STATUS_OF_ERROR_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
_TOO_LONG_MARKERS = ("prompt is too long", "context limit", "context window", "too many tokens")


class AnthropicProvider:
    """Claude through the Messages API.

    Args:
        settings: the call timeout and where keys come from.
        api_key: the key to use; by default ``ANTHROPIC_API_KEY`` or the configured Prefect
            Secret block, looked up at the first call.
        http_client: an ``httpx2.Client`` for the SDK to send requests with (a proxy, custom
            TLS, or a mock transport in tests).
    """

    name = PROVIDER
    tier = Tier.API

    def __init__(
        self,
        settings: Settings,
        *,
        api_key: str | SecretStr | None = None,
        http_client: httpx2.Client | None = None,
    ) -> None:
        self._settings = settings
        self._api_key = SecretStr(api_key) if isinstance(api_key, str) else api_key
        self._http_client = http_client
        self._client: anthropic.Anthropic | None = None
        self._client_lock = threading.Lock()

    def availability(self) -> Availability:
        """Usable when a key is configured; nothing is sent over the network."""
        return key_availability(PROVIDER, self._settings, given=self._api_key is not None)

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

        ``temperature`` and ``seed`` are ignored: the Messages API version this SDK speaks
        rejects the one and has no other.

        Raises:
            frugalflow.core.errors.ProviderError: translated from the SDK's errors.
        """
        del temperature, seed  # see the module docstring
        address = f"{PROVIDER}:{model}"
        system_text = "\n\n".join(m.content for m in messages if m.role == "system")
        conversation: list[MessageParam] = [
            {"role": "user", "content": m.content}
            if m.role == "user"
            else {"role": "assistant", "content": m.content}
            for m in messages
            if m.role != "system"
        ]
        if not conversation:
            raise BadRequestError(
                "an Anthropic request needs at least one user or assistant message",
                provider=address,
            )
        system = cache_breakpoint(model, system_text, conversation)
        client = self._get_client()
        from anthropic import omit

        started = time.perf_counter()
        try:
            if on_text is None:
                try:
                    message = client.messages.create(
                        model=model,
                        max_tokens=max_tokens,
                        messages=conversation,
                        system=system if system else omit,
                    )
                except ValueError as exc:  # the SDK could not parse the body as JSON
                    raise malformed_reply(
                        address, f"the body is not JSON: {exc}", endpoint=_ENDPOINT
                    ) from exc
            else:
                with client.messages.stream(
                    model=model,
                    max_tokens=max_tokens,
                    messages=conversation,
                    system=system if system else omit,
                ) as stream:
                    for piece in read_chunks(stream.text_stream, address, endpoint=_ENDPOINT):
                        on_text(piece)
                    try:
                        message = stream.get_final_message()
                    except MALFORMED_REPLY_ERRORS as exc:  # the SDK asserts a message began
                        raise malformed_reply(
                            address,
                            f"the stream carried no message: {shape_error(exc)}",
                            endpoint=_ENDPOINT,
                        ) from exc
        except ProviderError:
            raise
        except Exception as exc:
            translated = self._translate(exc, address)
            if translated is None:
                raise
            if isinstance(translated, AuthenticationError):
                # The SDK's own error may echo the key back; it must not reach a traceback.
                raise translated from None
            raise translated from exc
        return _completion(message, address, time.perf_counter() - started)

    def _get_client(self) -> anthropic.Anthropic:
        with self._client_lock:
            if self._client is None:
                import anthropic

                key = self._api_key or require_api_key(PROVIDER, self._settings)
                remember_secret(key.get_secret_value())  # errors echoing it are redacted
                self._client = anthropic.Anthropic(
                    api_key=key.get_secret_value(),
                    timeout=self._settings.provider_timeout_seconds,
                    max_retries=0,
                    http_client=self._http_client,
                )
            return self._client

    def _translate(self, exc: Exception, address: str) -> ProviderError | None:
        """The frugalflow error for an SDK or transport error, or None to let it through."""
        import anthropic

        if isinstance(exc, anthropic.APITimeoutError):
            return ProviderTimeoutError(
                f"Anthropic did not answer within {self._settings.provider_timeout_seconds:g}s "
                "(FRUGALFLOW_PROVIDER_TIMEOUT_SECONDS)",
                provider=address,
            )
        if isinstance(exc, anthropic.APIConnectionError):
            return ProviderUnavailableError(
                f"cannot reach Anthropic: {redact(str(exc.__cause__ or exc))}", provider=address
            )
        if isinstance(exc, anthropic.APIStatusError):
            return _translate_status(exc, address)
        if isinstance(exc, anthropic.APIResponseValidationError):
            return malformed_reply(address, redact(exc.message), endpoint=_ENDPOINT)
        return _translate_transport(exc, address)


def _translate_status(exc: anthropic.APIStatusError, address: str) -> ProviderError:
    error_type = exc.type or ""
    status = exc.status_code
    if status < 400:  # an `event: error` inside a stream that had started with 200
        status = _STATUS_OF_ERROR_TYPE.get(error_type, 500)
    detail = redact(exc.api_message or exc.message)
    label = f"{status} {error_type}".strip()
    request_id = f" (request id {exc.request_id})" if exc.request_id else ""
    if status == 429:
        return RateLimitedError(
            f"Anthropic rate limit ({label}): {detail}{request_id}",
            provider=address,
            retry_after=_retry_after(exc.response.headers),
        )
    if status in (401, 402, 403):
        what = "billing problem" if status == 402 else "the API key was refused"
        return AuthenticationError(
            f"Anthropic: {what} ({label}): {detail}; check {_KEY_VARIABLES} and the "
            "account's plan and credits",
            provider=address,
        )
    if status in (400, 413) and (
        status == 413 or any(marker in detail.lower() for marker in _TOO_LONG_MARKERS)
    ):
        return ContextTooLongError(
            f"the prompt does not fit {address}'s context ({label}): {detail}",
            provider=address,
        )
    if status == 408:
        return ProviderTimeoutError(f"Anthropic timed out ({label}): {detail}", provider=address)
    if status >= 500:
        return ProviderUnavailableError(
            f"Anthropic is unavailable ({label}): {detail}{request_id}", provider=address
        )
    return BadRequestError(f"Anthropic rejected the request ({label}): {detail}", provider=address)


def _translate_transport(exc: Exception, address: str) -> ProviderError | None:
    """httpx/httpx2 errors that escape the SDK (for instance while a stream is read)."""
    failure = transport_failure(exc)
    if failure == "timeout":
        return ProviderTimeoutError(f"Anthropic timed out: {redact(str(exc))}", provider=address)
    if failure == "connection":
        return ProviderUnavailableError(
            f"the connection to Anthropic failed: {redact(str(exc))}", provider=address
        )
    return None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / scale)
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    return None


# Stop reasons with which a reply may rightly hold no text: it was cut short, or refused.
_TEXTLESS_STOP_REASONS = frozenset({"max_tokens", "refusal"})
_ENDPOINT = "https://status.anthropic.com"


def _completion(message: Message, address: str, seconds: float) -> Completion:
    """The completion in a Messages reply, or MalformedReplyError when it holds none."""
    model = address.split(":", 1)[1]
    if isinstance(message, str | bytes):  # the SDK hands over a body it could not parse
        raise malformed_reply(address, f"not a message: {message[:80]!r}", endpoint=_ENDPOINT)
    try:
        blocks = list(message.content or [])
        texts = [block.text for block in blocks if block.type == "text"]
        stop_reason = message.stop_reason
        usage = message.usage
        counts = _usage(usage)
        answered = message.model if isinstance(message.model, str) and message.model else None
    except MALFORMED_REPLY_ERRORS as exc:
        raise malformed_reply(address, shape_error(exc), endpoint=_ENDPOINT) from exc
    if not texts and stop_reason not in _TEXTLESS_STOP_REASONS:
        kinds = ", ".join(str(getattr(block, "type", "?")) for block in blocks) or "none"
        raise malformed_reply(
            address,
            f"no text block (blocks: {kinds}; stop_reason: {stop_reason})",
            endpoint=_ENDPOINT,
        )
    return Completion(
        text="".join(texts),
        model=model,
        **counts,
        answered_model=answered,
        usage_reported=usage is not None,
        finish_reason=stop_reason,
        seconds=seconds,
    )


def _usage(usage: Usage | None) -> dict[str, int]:
    """The Completion's counts from a Messages ``usage`` (see the module docstring)."""
    if usage is None:
        return {"input_tokens": 0, "output_tokens": 0}
    uncached = usage.input_tokens or 0
    read = usage.cache_read_input_tokens or 0
    written = usage.cache_creation_input_tokens or 0
    split = usage.cache_creation
    one_hour = (split.ephemeral_1h_input_tokens or 0) if split is not None else 0
    if split is not None and not written:  # only the breakdown was sent
        written = (split.ephemeral_5m_input_tokens or 0) + one_hour
    return {
        "input_tokens": uncached + read + written,
        "output_tokens": usage.output_tokens or 0,
        "cached_tokens": read,
        "cache_write_tokens": written,
        "cache_write_1h_tokens": min(one_hour, written),
    }


# The shortest prefix each model caches, in tokens (Anthropic's prompt-caching documentation,
# "Cache limitations"), by model name prefix; a model not listed is given the largest.
_MIN_CACHEABLE_TOKENS = (
    ("claude-opus-4-6", 4096),
    ("claude-opus-4-5", 4096),
    ("claude-haiku-4-5", 4096),
    ("claude-sonnet-4-6", 2048),
    ("claude-3-5-haiku", 2048),
    ("claude-3-haiku", 2048),
    ("claude-sonnet-4", 1024),
    ("claude-opus-4", 1024),
    ("claude-3-7-sonnet", 1024),
    ("claude-3-opus", 1024),
)
_LARGEST_MIN_CACHEABLE_TOKENS = 4096
_CHARS_PER_TOKEN = 4  # English and code average 3.5-4.5 characters a token
_BREAKPOINT: CacheControlEphemeralParam = {"type": "ephemeral"}


def min_cacheable_tokens(model: str) -> int:
    """The shortest prompt prefix ``model`` caches, in tokens."""
    name = model.lower()
    for prefix, tokens in _MIN_CACHEABLE_TOKENS:
        if name.startswith(prefix):
            return tokens
    return _LARGEST_MIN_CACHEABLE_TOKENS


def cache_breakpoint(
    model: str, system: str, conversation: list[MessageParam]
) -> str | list[TextBlockParam]:
    """Mark the end of the prompt's stable part for caching when it is long enough.

    The stable part is the system text and every message before the last one (the request,
    which changes from call to call, comes last). When it reaches the model's minimum
    cacheable length, its last block gets ``cache_control: {"type": "ephemeral"}`` (the
    5-minute cache): the last message before the request when there is one (``conversation``
    is changed in place), else the system text.

    Returns:
        The ``system`` parameter: the text as it is, or as one text block carrying the
        breakpoint; empty when there is no system text.
    """
    stable = len(system) + sum(len(str(m["content"])) for m in conversation[:-1])
    if stable // _CHARS_PER_TOKEN < min_cacheable_tokens(model):
        return system
    if len(conversation) > 1:
        before = conversation[-2]
        before["content"] = [
            {"type": "text", "text": str(before["content"]), "cache_control": _BREAKPOINT}
        ]
        return system
    return [{"type": "text", "text": system, "cache_control": _BREAKPOINT}]

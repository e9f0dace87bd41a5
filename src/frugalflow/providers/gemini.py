"""Google's Gemini models through Google's current SDK, ``google-genai`` (Gemini Developer API).

The SDK is imported when the first call needs it. Each :meth:`GeminiProvider.complete` is
exactly one HTTP request:

* the SDK's retries stay off (``HttpRetryOptions(attempts=1)``): frugalflow retries and
  escalates itself;
* the SDK's *automatic continuation* is off: with it, a reply that stops with
  ``finish_reason=CONTINUATION`` would be followed up by further billed requests, each with its
  own timeout, beyond what ``max_tokens`` was meant to bound. Such a reply is returned as is,
  with ``finish_reason="CONTINUATION"``.

Usage follows the API's documented meaning: ``promptTokenCount`` already includes the
``cachedContentTokenCount`` read from the cache (so ``cached_tokens`` is a part of
``input_tokens``, as frugalflow's pricing expects); ``toolUsePromptTokenCount`` is input too;
``thoughtsTokenCount`` (thinking) is billed as output but is *not* part of
``candidatesTokenCount``, so it is added to it and reported as ``reasoning_tokens`` (a part of
``output_tokens``). Gemini reports no cache writes (explicit caches are created, and their
storage billed, outside a generateContent call). When streaming, each chunk's usage is a
running total, so the last one reported is used. The reply's ``modelVersion`` is the model
that answered; the call is priced on it (with its long-context tier: 2.5 Pro's rates change
above 200K prompt tokens).
"""

from __future__ import annotations

import email.utils
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

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
    Availability,
    ChatMessage,
    Completion,
    malformed_reply,
    read_chunks,
    transport_failure,
)
from frugalflow.providers.keys import KEY_VARIABLES, key_availability, require_api_key

if TYPE_CHECKING:
    from google import genai
    from google.genai import errors as genai_errors
    from google.genai import types

PROVIDER = "gemini"
_KEY_VARIABLES = " or ".join(KEY_VARIABLES[PROVIDER])
_TOO_LONG_MARKERS = (
    "input token count",
    "exceeds the maximum number of tokens",
    "context window",
    "too long",
)
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?)s\s*$")


class GeminiProvider:
    """Gemini through the Gemini Developer API (``generativelanguage.googleapis.com``).

    Args:
        settings: the call timeout and where keys come from.
        api_key: the key to use; by default ``GEMINI_API_KEY`` or ``GOOGLE_API_KEY`` or the
            configured Prefect Secret block, looked up at the first call.
        http_options: ``google.genai.types.HttpOptions`` to start from (``httpx_client`` for
            a proxy or a mock transport in tests, ``base_url``...). frugalflow sets
            ``timeout`` (from ``provider_timeout_seconds``) and ``retry_options`` (one
            attempt) unless they are given here.
    """

    name = PROVIDER
    tier = Tier.API

    def __init__(
        self,
        settings: Settings,
        *,
        api_key: str | SecretStr | None = None,
        http_options: types.HttpOptions | None = None,
    ) -> None:
        self._settings = settings
        self._api_key = SecretStr(api_key) if isinstance(api_key, str) else api_key
        self._http_options = http_options
        self._client: genai.Client | None = None
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

        Raises:
            frugalflow.core.errors.ProviderError: translated from the SDK's and httpx's errors.
        """
        address = f"{PROVIDER}:{model}"
        if not any(m.role != "system" for m in messages):
            raise BadRequestError(
                "a Gemini request needs at least one user or model message", provider=address
            )
        client = self._get_client()
        from google.genai import types

        system = "\n\n".join(m.content for m in messages if m.role == "system")
        contents: list[types.Content] = [
            types.Content(
                role="user" if m.role == "user" else "model",
                parts=[types.Part(text=m.content)],
            )
            for m in messages
            if m.role != "system"
        ]
        config = types.GenerateContentConfig(
            system_instruction=system or None,
            max_output_tokens=max_tokens,
            temperature=temperature,
            seed=seed,
            automatic_continuation=False,
        )
        started = time.perf_counter()
        text: list[str] = []
        usage: types.GenerateContentResponseUsageMetadata | None = None
        finish_reason: str | None = None
        answering: str | None = None  # the modelVersion the reply names
        answered = False  # a response or chunk carried a candidate
        try:
            if on_text is None:
                try:
                    response = client.models.generate_content(
                        model=model, contents=contents, config=config
                    )
                except ValueError as exc:  # the SDK could not parse the body as JSON
                    raise malformed_reply(
                        address, f"the body is not JSON: {exc}", endpoint=_ENDPOINT
                    ) from exc
                _check_not_blocked(response, address)
                answered = bool(response.candidates)
                text.extend(_texts(response))
                usage = response.usage_metadata
                finish_reason = _finish_reason(response)
                answering = response.model_version
            else:
                chunks = client.models.generate_content_stream(
                    model=model, contents=contents, config=config
                )
                for chunk in read_chunks(chunks, address, endpoint=_ENDPOINT):
                    _check_not_blocked(chunk, address)
                    answered = answered or bool(chunk.candidates)
                    for piece in _texts(chunk):
                        text.append(piece)
                        on_text(piece)
                    usage = chunk.usage_metadata or usage
                    finish_reason = _finish_reason(chunk) or finish_reason
                    answering = chunk.model_version or answering
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
        if not answered:
            raise malformed_reply(address, "no candidates", endpoint=_ENDPOINT)
        if not text and finish_reason in _FINISHED:
            raise malformed_reply(
                address,
                f"a candidate without text (finishReason: {finish_reason})",
                endpoint=_ENDPOINT,
            )
        return Completion(
            text="".join(text),
            model=model,
            **_usage(usage),
            answered_model=answering or None,
            usage_reported=usage is not None,
            finish_reason=finish_reason,
            seconds=time.perf_counter() - started,
        )

    def _get_client(self) -> genai.Client:
        with self._client_lock:
            if self._client is None:
                from google import genai
                from google.genai import types

                key = self._api_key or require_api_key(PROVIDER, self._settings)
                options = (
                    self._http_options.model_copy()
                    if self._http_options is not None
                    else types.HttpOptions()
                )
                if options.timeout is None:
                    options.timeout = round(self._settings.provider_timeout_seconds * 1000)
                if options.retry_options is None:
                    options.retry_options = types.HttpRetryOptions(attempts=1)
                remember_secret(key.get_secret_value())  # errors echoing it are redacted
                self._client = genai.Client(
                    vertexai=False, api_key=key.get_secret_value(), http_options=options
                )
            return self._client

    def _translate(self, exc: Exception, address: str) -> ProviderError | None:
        """The frugalflow error for an SDK or transport error, or None to let it through."""
        from google.genai import errors

        if isinstance(exc, errors.APIError):
            return _translate_api_error(exc, address)
        failure = transport_failure(exc)
        if failure == "timeout":
            return ProviderTimeoutError(
                f"Gemini did not answer within {self._settings.provider_timeout_seconds:g}s "
                f"(FRUGALFLOW_PROVIDER_TIMEOUT_SECONDS): {redact(str(exc))}",
                provider=address,
            )
        if failure == "connection":
            return ProviderUnavailableError(
                f"cannot reach Gemini: {redact(str(exc))}", provider=address
            )
        if isinstance(exc, errors.UnknownApiResponseError):
            return malformed_reply(address, redact(str(exc)), endpoint=_ENDPOINT)
        return None


def _translate_api_error(exc: genai_errors.APIError, address: str) -> ProviderError:
    code = exc.code
    status = exc.status or ""
    detail = redact(str(exc.message or status or "no message"))
    details = _error_details(exc.details)
    reasons = {str(item.get("reason", "")) for item in details}
    label = f"{code} {status}".strip()
    if code == 429:
        return RateLimitedError(
            f"Gemini rate limit or quota ({label}): {detail}",
            provider=address,
            retry_after=_retry_delay(details) or _retry_after_header(exc),
        )
    if code in (401, 403) or "API_KEY_INVALID" in reasons or status == "UNAUTHENTICATED":
        return AuthenticationError(
            f"Gemini refused the API key ({label}): {detail}; check {_KEY_VARIABLES}",
            provider=address,
        )
    if code == 400 and any(marker in detail.lower() for marker in _TOO_LONG_MARKERS):
        return ContextTooLongError(
            f"the prompt does not fit {address}'s context ({label}): {detail}", provider=address
        )
    if code == 408:
        return ProviderTimeoutError(f"Gemini timed out ({label}): {detail}", provider=address)
    if isinstance(code, int) and code >= 500:
        return ProviderUnavailableError(
            f"Gemini is unavailable ({label}): {detail}", provider=address
        )
    if isinstance(code, int) and 400 <= code < 500:
        return BadRequestError(f"Gemini rejected the request ({label}): {detail}", provider=address)
    return ProviderError(f"Gemini call failed ({label}): {detail}", provider=address)


def _error_details(body: Any) -> list[dict[str, Any]]:
    """The ``error.details`` list of a Google API error body (``[]`` when absent)."""
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    if not isinstance(body, dict):
        return []
    error = body.get("error", body)
    details = error.get("details") if isinstance(error, dict) else None
    if not isinstance(details, list):
        return []
    return [item for item in details if isinstance(item, dict)]


def _retry_delay(details: list[dict[str, Any]]) -> float | None:
    """Seconds from a ``google.rpc.RetryInfo`` detail's ``retryDelay`` (a Duration, "7s")."""
    for item in details:
        if item.get("@type") == _RETRY_INFO:
            match = _DURATION.match(str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _retry_after_header(exc: genai_errors.APIError) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if not isinstance(headers, Mapping):
        return None
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


# A candidate that says it finished normally (or says nothing) yet holds no text is malformed;
# one stopped for MAX_TOKENS, SAFETY, RECITATION... may rightly hold none.
_FINISHED = frozenset({None, "STOP"})
_ENDPOINT = "https://aistudio.google.com/status"


def _check_not_blocked(response: types.GenerateContentResponse, address: str) -> None:
    """A prompt the API refused outright comes back as 200 with no candidates."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None and not response.candidates:
        reason = getattr(feedback.block_reason, "value", feedback.block_reason)
        message = f": {feedback.block_reason_message}" if feedback.block_reason_message else ""
        raise BadRequestError(f"Gemini blocked the prompt ({reason}){message}", provider=address)


def _texts(response: types.GenerateContentResponse) -> list[str]:
    """The reply's text parts, without thought summaries."""
    if not response.candidates:
        return []
    content = response.candidates[0].content
    if content is None or not content.parts:
        return []
    return [part.text for part in content.parts if part.text and not part.thought]


def _finish_reason(response: types.GenerateContentResponse) -> str | None:
    if not response.candidates or response.candidates[0].finish_reason is None:
        return None
    reason = response.candidates[0].finish_reason
    return str(getattr(reason, "value", reason))


def _usage(usage: types.GenerateContentResponseUsageMetadata | None) -> dict[str, int]:
    """The Completion's counts from ``usageMetadata`` (see the module docstring)."""
    if usage is None:
        return {"input_tokens": 0, "output_tokens": 0}
    input_tokens = (usage.prompt_token_count or 0) + (usage.tool_use_prompt_token_count or 0)
    thoughts = usage.thoughts_token_count or 0
    return {
        "input_tokens": input_tokens,
        "output_tokens": (usage.candidates_token_count or 0) + thoughts,
        "cached_tokens": min(usage.cached_content_token_count or 0, input_tokens),
        "reasoning_tokens": thoughts,
    }

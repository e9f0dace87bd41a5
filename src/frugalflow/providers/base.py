"""The provider interface: one small protocol that every model tier implements.

A provider speaks one vendor's wire format and reports the usage the vendor measured. It
translates that vendor's errors into :mod:`frugalflow.core.errors` at the edge, marking each one
retryable or not, so that the router never needs to know which SDK failed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict

from frugalflow.core.errors import MalformedReplyError
from frugalflow.core.schemas import Tier

_HTTP_LIBRARIES = ("httpx", "httpx2", "httpcore", "httpcore2")
_DETAIL_CHARS = 200
T = TypeVar("T")

# What reading a reply raises when it does not have its API's shape: SDKs parse JSON lazily
# (JSONDecodeError is a ValueError, so is pydantic's ValidationError) and build their response
# objects without validating them, so a missing field surfaces as an AttributeError, a
# TypeError or an IndexError in whoever reads it, or an AssertionError inside an SDK's stream
# accumulator.
MALFORMED_REPLY_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    AttributeError,
    KeyError,
    IndexError,
    AssertionError,
)


class ChatMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    role: Literal["system", "user", "assistant"]
    content: str


class Completion(BaseModel):
    """A model's reply and the usage the provider reported for it.

    Adapters report usage as the provider gave it and count nothing themselves: a reply that
    carried no usage has ``usage_reported`` False and zero tokens, and the meter
    (:mod:`frugalflow.money.metering`) counts it offline, so that a paid call is never booked
    as free.

    The counts are two totals and parts of them, as the meter prices them (see
    :class:`frugalflow.money.pricing.CallUsage`): ``input_tokens`` is the whole prompt, of which
    ``cached_tokens`` were read from the vendor's prompt cache and ``cache_write_tokens``
    written to it (``cache_write_1h_tokens`` of those for one hour, the rest for five minutes);
    ``output_tokens`` is the whole reply, of which ``reasoning_tokens`` were thinking. Each
    adapter maps its vendor's fields onto these (Anthropic's ``input_tokens`` excludes the
    cache parts, Gemini's ``candidatesTokenCount`` excludes the thoughts).

    Attributes:
        model: the model asked for.
        answered_model: the model the reply says answered (OpenAI's and Anthropic's ``model``,
            Gemini's ``modelVersion``): a dated snapshot of an alias, or another model a proxy
            fell back to. None when the reply names none. Paid calls are priced on it.
    """

    model_config = ConfigDict(frozen=True)

    text: str
    model: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    reasoning_tokens: int = 0
    answered_model: str | None = None
    usage_reported: bool = True
    finish_reason: str | None = None
    seconds: float = 0.0


class Availability(BaseModel):
    """Whether a provider can be used right now, and if not, what to do about it."""

    model_config = ConfigDict(frozen=True)

    usable: bool
    reason: str


@runtime_checkable
class Provider(Protocol):
    """What the router needs from a model provider."""

    name: str
    tier: Tier

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
        """Run one chat completion.

        Args:
            model: the vendor's model name.
            messages: the conversation.
            max_tokens: the most tokens the reply may have (bounds the worst-case cost).
            temperature: sampling temperature.
            seed: another sample than the default one, for a retry that must not repeat the
                previous answer; a provider that cannot seed its sampling ignores it. Passed
                only when set, and only to a ``complete`` that has the argument: a provider
                written before it existed keeps working.
            on_text: when given, the reply is streamed and each piece of text is passed to it
                as it arrives; the returned Completion still carries the whole text and the
                usage the provider reported at the end of the stream.

        Raises:
            frugalflow.core.errors.ProviderError: the call failed; ``retryable`` says whether
                trying again can help, ``retry_after`` how long the provider asked to wait.
        """
        ...

    def availability(self) -> Availability:
        """Tell whether the provider is usable now (key present, server answering, CLI
        logged in), cheaply and without spending money."""
        ...


def transport_failure(exc: BaseException) -> Literal["timeout", "connection"] | None:
    """Classify an HTTP-library error that escaped a vendor SDK (for instance mid-stream).

    SDKs sit on ``httpx`` or ``httpx2``; both are recognised by class name so that neither has
    to be imported.

    Returns:
        ``"timeout"``, ``"connection"`` (any other transport failure), or None when ``exc`` is
        not a transport error of those libraries.
    """
    names = {
        cls.__name__ for cls in type(exc).__mro__ if cls.__module__.split(".")[0] in _HTTP_LIBRARIES
    }
    if "TimeoutException" in names:
        return "timeout"
    if "TransportError" in names:
        return "connection"
    return None


def malformed_reply(address: str, what: str, *, endpoint: str) -> MalformedReplyError:
    """The error for a reply that came back (often a 200) but not in the API's shape.

    Args:
        address: the ``provider:model`` that answered.
        what: what was wrong (``no choices``, ``the body is not JSON``...).
        endpoint: what to check if it keeps happening (the setting naming the server).
    """
    return MalformedReplyError(
        f"{address} answered without a usable reply ({what[:_DETAIL_CHARS]}); frugalflow "
        f"retries it, then hands the request to the next allowed model. If it keeps "
        f"happening, check {endpoint}",
        provider=address,
    )


def shape_error(exc: BaseException) -> str:
    """``exc`` as the ``what`` of :func:`malformed_reply`."""
    return f"{type(exc).__name__}: {exc}"


def read_chunks(chunks: Iterable[T], address: str, *, endpoint: str) -> Iterator[T]:
    """Iterate a stream, turning a chunk that cannot be parsed into a MalformedReplyError.

    Only the stream's own iteration is guarded: whatever the caller does with each chunk
    (its ``on_text`` callback) raises as it would.
    """
    iterator = iter(chunks)
    while True:
        try:
            chunk = next(iterator)
        except StopIteration:
            return
        except MALFORMED_REPLY_ERRORS as exc:
            raise malformed_reply(address, shape_error(exc), endpoint=endpoint) from exc
        yield chunk


def stable_part_digest(prompt: Sequence[tuple[str, str]]) -> str | None:
    """A digest of a prompt's stable part, given as (role, content) pairs: every message
    before the last one (the request), so one per repository state and system prompt. None
    when the prompt is the request alone (nothing a prompt cache could share).

    The OpenAI adapter's ``prompt_cache_key`` and the ledger's record of it
    (:func:`frugalflow.money.estimation.stable_part_key`) are both this digest.
    """
    stable = list(prompt[:-1])
    if not stable:
        return None
    digest = hashlib.sha256()
    for role, content in stable:
        digest.update(f"{role}\0{content}\0".encode())
    return digest.hexdigest()[:32]

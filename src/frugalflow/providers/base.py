"""The provider interface: one small protocol that every model tier implements.

A provider speaks one vendor's wire format and reports the usage the vendor measured. It
translates that vendor's errors into :mod:`frugalflow.errors` at the edge, marking each one
retryable or not, so that the router never needs to know which SDK failed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from frugalflow.schemas import Tier

_HTTP_LIBRARIES = ("httpx", "httpx2", "httpcore", "httpcore2")


class ChatMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    role: Literal["system", "user", "assistant"]
    content: str


class Completion(BaseModel):
    """A model's reply and the usage the provider reported for it."""

    model_config = ConfigDict(frozen=True)

    text: str
    model: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
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
    ) -> Completion:
        """Run one chat completion.

        Args:
            model: the vendor's model name.
            messages: the conversation.
            max_tokens: the most tokens the reply may have (bounds the worst-case cost).
            temperature: sampling temperature.
            on_text: when given, the reply is streamed and each piece of text is passed to it
                as it arrives; the returned Completion still carries the whole text and the
                usage the provider reported at the end of the stream.

        Raises:
            frugalflow.errors.ProviderError: the call failed; ``retryable`` says whether
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

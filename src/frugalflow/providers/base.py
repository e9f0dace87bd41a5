"""The provider interface: one small protocol that every model tier implements.

A provider speaks one vendor's wire format and reports the usage the vendor measured. It
translates that vendor's errors into :mod:`frugalflow.errors` at the edge, marking each one
retryable or not, so that the router never needs to know which SDK failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from frugalflow.schemas import Tier


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
    ) -> Completion:
        """Run one chat completion.

        Raises:
            frugalflow.errors.ProviderError: the call failed; ``retryable`` says whether
                trying again can help.
        """
        ...

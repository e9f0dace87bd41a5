"""Fake models for flow tests, registered with the ``use_providers`` fixture."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from frugalflow.core.schemas import Tier
from frugalflow.providers import Availability, ChatMessage, Completion


class ReplyingModel:
    """A local model that answers every prompt with the same reply, and counts its calls and
    the sampling (temperature, seed) each asked for."""

    name = "llamacpp"
    tier = Tier.LOCAL

    def __init__(self, reply: str, *, input_tokens: int = 50, output_tokens: int = 20) -> None:
        self.reply = reply
        self.usage = (input_tokens, output_tokens)
        self.calls = 0
        self.sampling: list[tuple[float, int | None]] = []

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
        self.calls += 1
        self.sampling.append((temperature, seed))
        return Completion(
            text=self.reply, model=model, input_tokens=self.usage[0], output_tokens=self.usage[1]
        )

    def availability(self) -> Availability:
        return Availability(usable=True, reason="fake")

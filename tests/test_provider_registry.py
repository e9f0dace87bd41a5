"""The provider registry: how a plugin (or a test) adds a provider, and what it refuses."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from frugalflow.core.errors import ConfigurationError
from frugalflow.core.models import PROVIDER_TIERS, parse_address
from frugalflow.core.schemas import Tier
from frugalflow.core.settings import Settings
from frugalflow.providers import (
    Availability,
    ChatMessage,
    Completion,
    get_provider,
    register_provider,
    unregister_provider,
)
from frugalflow.providers.openai import OpenAIProvider


class EchoProvider:
    """Answers with the last message; the kind of model a plugin registers."""

    name = "echo"
    tier = Tier.LOCAL

    def __init__(self, repo: Path | None) -> None:
        self.repo = repo

    def complete(
        self,
        model: str,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        on_text: Callable[[str], None] | None = None,
    ) -> Completion:
        return Completion(text=messages[-1].content, model=model, input_tokens=1, output_tokens=1)

    def availability(self) -> Availability:
        return Availability(usable=True, reason="always")


def test_a_registered_provider_resolves_its_addresses_and_is_gone_once_unregistered(
    tmp_path: Path,
) -> None:
    register_provider("echo", lambda settings, repo: EchoProvider(repo), tier=Tier.LOCAL)
    try:
        assert parse_address("echo:any").tier is Tier.LOCAL
        provider = get_provider("echo", Settings(), repo=tmp_path)
        assert isinstance(provider, EchoProvider)
        assert provider.repo == tmp_path  # the repository reaches the factory
    finally:
        unregister_provider("echo")
    with pytest.raises(ConfigurationError, match="unknown provider 'echo'"):
        parse_address("echo:any")
    with pytest.raises(ConfigurationError, match="unknown provider 'echo'"):
        get_provider("echo", Settings())


def test_a_name_that_is_taken_or_not_a_word_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="registered already"):
        register_provider("openai", lambda settings, repo: EchoProvider(repo), tier=Tier.LOCAL)
    with pytest.raises(ConfigurationError, match="without ':'"):
        register_provider("a:b", lambda settings, repo: EchoProvider(repo), tier=Tier.LOCAL)
    assert PROVIDER_TIERS["openai"] is Tier.API


def test_replacing_a_built_in_provider_is_undone_by_unregistering_it() -> None:
    register_provider(
        "openai", lambda settings, repo: EchoProvider(repo), tier=Tier.LOCAL, replace=True
    )
    try:
        assert isinstance(get_provider("openai", Settings()), EchoProvider)
        assert parse_address("openai:gpt-4o").tier is Tier.LOCAL
    finally:
        unregister_provider("openai")
    assert isinstance(get_provider("openai", Settings()), OpenAIProvider)
    assert parse_address("openai:gpt-4o").tier is Tier.API

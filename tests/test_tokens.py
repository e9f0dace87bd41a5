"""Offline token counts with the bundled tiktoken encodings."""

from __future__ import annotations

import pytest

from frugalflow.core.errors import ConfigurationError
from frugalflow.money.tokens import DEFAULT_ENCODING, count_tokens, get_encoding, openai_encoding


def test_cl100k_known_token_ids() -> None:
    encoding = get_encoding("cl100k_base")
    assert encoding.encode("hello world") == [15339, 1917]
    assert encoding.decode([15339, 1917]) == "hello world"
    assert count_tokens("hello world", "cl100k_base") == 2


def test_o200k_is_the_default_and_has_known_token_ids() -> None:
    assert DEFAULT_ENCODING == "o200k_base"
    encoding = get_encoding("o200k_base")
    assert encoding.encode("hello world") == [24912, 2375]
    assert count_tokens("hello world") == 2
    assert count_tokens("") == 0


def test_vocabulary_sizes_include_the_special_tokens() -> None:
    assert get_encoding("cl100k_base").n_vocab == 100_277
    assert get_encoding("o200k_base").n_vocab == 200_019


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_code_round_trips_and_is_counted(name: str) -> None:
    text = "def fibonacci(n):\n    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)\n"
    encoding = get_encoding(name)
    tokens = encoding.encode(text)
    assert encoding.decode(tokens) == text
    assert count_tokens(text, name) == len(tokens)
    assert 10 < len(tokens) < len(text)


@pytest.mark.parametrize(("name", "special_id"), [("cl100k_base", 100257), ("o200k_base", 199999)])
def test_special_token_text_is_counted_as_plain_text(name: str, special_id: int) -> None:
    text = "<|endoftext|>"
    encoding = get_encoding(name)
    # tiktoken itself refuses this text by default ...
    with pytest.raises(ValueError, match="disallowed special token"):
        encoding.encode(text)
    # ... and as a special token it would be a single id
    assert encoding.encode(text, allowed_special="all") == [special_id]
    # count_tokens counts the characters as ordinary text instead
    assert count_tokens(text, name) > 1
    assert count_tokens(f"before {text} after", name) > count_tokens("before  after", name)


def test_encoding_is_built_once() -> None:
    assert get_encoding("cl100k_base") is get_encoding("cl100k_base")


@pytest.mark.parametrize("name", ["p50k_base", "gpt2", ""])
def test_unknown_encoding_is_a_configuration_error(name: str) -> None:
    with pytest.raises(ConfigurationError, match="unknown token encoding"):
        get_encoding(name)
    with pytest.raises(ConfigurationError):
        count_tokens("hello", name)


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("chatgpt-4o-latest", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("gpt-5-mini", "o200k_base"),
        ("o1", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("ft:gpt-4o-mini:acme::abc123", "o200k_base"),
        ("GPT-4o", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-0613", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("gpt-oss-120b", None),
        ("o1x", None),
        ("text-embedding-3-small", None),
        ("claude-3-5-haiku-latest", None),
    ],
)
def test_openai_model_families_map_to_their_encoding(model: str, encoding: str | None) -> None:
    assert openai_encoding(model) == encoding

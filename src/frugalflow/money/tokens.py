"""Token counts, offline.

tiktoken downloads its BPE rank files on first use, which fails on a machine without internet.
frugalflow ships the two encodings it needs (gzip, inside the package) and builds
``tiktoken.Encoding`` objects from them, checking the same sha256 that tiktoken itself checks.
The patterns and special tokens below are tiktoken's own (``tiktoken_ext/openai_public.py``,
MIT licence).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
import threading
from functools import cache
from importlib import resources

import tiktoken

from frugalflow.core.errors import ConfigurationError

_ENDOFTEXT = "<|endoftext|>"
_FIM_PREFIX = "<|fim_prefix|>"
_FIM_MIDDLE = "<|fim_middle|>"
_FIM_SUFFIX = "<|fim_suffix|>"
_ENDOFPROMPT = "<|endofprompt|>"

_SPECS: dict[str, dict[str, object]] = {
    "cl100k_base": {
        "sha256": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        "pat_str": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
        "special_tokens": {
            _ENDOFTEXT: 100257,
            _FIM_PREFIX: 100258,
            _FIM_MIDDLE: 100259,
            _FIM_SUFFIX: 100260,
            _ENDOFPROMPT: 100276,
        },
    },
    "o200k_base": {
        "sha256": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        "pat_str": "|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        "special_tokens": {_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
    },
}

DEFAULT_ENCODING = "o200k_base"
_lock = threading.Lock()

# Which bundled encoding each OpenAI model family uses (tiktoken's own model table, restricted
# to the two encodings frugalflow ships). First match wins, so "gpt-4o" comes before "gpt-4".
_OPENAI_FAMILIES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5)"), "o200k_base"),
    (re.compile(r"(o1|o3|o4)(-|$)"), "o200k_base"),
    (re.compile(r"(gpt-4|gpt-3\.5|gpt-35)(-|$)"), "cl100k_base"),
)


@cache
def _load_encoding(name: str) -> tiktoken.Encoding:
    spec = _SPECS[name]
    raw = gzip.decompress(
        resources.files("frugalflow.data").joinpath(f"{name}.tiktoken.gz").read_bytes()
    )
    if hashlib.sha256(raw).hexdigest() != spec["sha256"]:
        raise ConfigurationError(
            f"the bundled {name} encoding is corrupt (sha256 mismatch); reinstall frugalflow"
        )
    ranks = {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in raw.splitlines() if line)
    }
    return tiktoken.Encoding(
        name=name,
        pat_str=str(spec["pat_str"]),
        mergeable_ranks=ranks,
        special_tokens=dict(spec["special_tokens"]),  # type: ignore[call-overload]
    )


def get_encoding(name: str = DEFAULT_ENCODING) -> tiktoken.Encoding:
    """Return a bundled tiktoken encoding, built once per process.

    Args:
        name: ``cl100k_base`` or ``o200k_base``.

    Raises:
        ConfigurationError: the name is unknown or the bundled file is damaged.
    """
    if name not in _SPECS:
        raise ConfigurationError(
            f"unknown token encoding {name!r}; frugalflow ships {', '.join(sorted(_SPECS))}"
        )
    with _lock:  # the first build takes ~0.5 s; do it once even when threads race
        return _load_encoding(name)


def count_tokens(text: str, encoding: str = DEFAULT_ENCODING) -> int:
    """Count the tokens of ``text``; special-token strings are counted as plain text.

    Example:
        >>> count_tokens("hello world")
        2
    """
    return len(get_encoding(encoding).encode(text, disallowed_special=()))


def openai_encoding(model: str) -> str | None:
    """The bundled encoding an OpenAI model tokenizes with, or None when it is not known.

    ``o200k_base`` for gpt-4o, chatgpt-4o, gpt-4.1, gpt-4.5, gpt-5 and the o1/o3/o4 reasoning
    models; ``cl100k_base`` for gpt-4, gpt-4-turbo and gpt-3.5. A fine-tune (``ft:gpt-4o-mini:
    org::id``) uses its base model's encoding. Anything else (gpt-oss, embeddings, legacy
    completions models) is None.

    Example:
        >>> openai_encoding("gpt-4o-mini"), openai_encoding("gpt-4-turbo")
        ('o200k_base', 'cl100k_base')
    """
    name = model.strip().lower().removeprefix("ft:")
    for pattern, encoding in _OPENAI_FAMILIES:
        if pattern.match(name):
            return encoding
    return None

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
import threading
from functools import cache
from importlib import resources

import tiktoken

from frugalflow.errors import ConfigurationError

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

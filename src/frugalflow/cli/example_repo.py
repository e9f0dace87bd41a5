"""A small example repository to try frugalflow on (``frugalflow example-repo PATH``)."""

from __future__ import annotations

from pathlib import Path

from frugalflow.core.errors import RequestError
from frugalflow.placement.git import init_with_commit

FILES = {
    "README.md": "# textkit\n\nSmall text utilities.\n",
    "pyproject.toml": (
        '[project]\nname = "textkit"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
    ),
    "src/textkit/__init__.py": '"""Small text utilities."""\n',
    "src/textkit/strings.py": '''"""String helpers."""

import re

_WHITESPACE = re.compile(r"\\s+")


def normalize_whitespace(text: str) -> str:
    """Collapse runs of whitespace into single spaces and trim the ends."""
    return _WHITESPACE.sub(" ", text).strip()


def truncate(text: str, width: int, suffix: str = "...") -> str:
    """Shorten ``text`` to at most ``width`` characters, ending with ``suffix`` if cut."""
    if len(text) <= width:
        return text
    return text[: max(width - len(suffix), 0)] + suffix
''',
    "tests/test_strings.py": """from textkit.strings import normalize_whitespace, truncate


def test_normalize_whitespace():
    assert normalize_whitespace("  a \\n b  ") == "a b"


def test_truncate():
    assert truncate("abcdef", 5) == "ab..."
""",
}


def create_example_repo(path: Path) -> Path:
    """Create the example repository at ``path`` with one initial commit.

    Raises:
        RequestError: ``path`` exists and is not empty.
    """
    if path.exists() and any(path.iterdir()):
        raise RequestError(f"{path} already exists and is not empty; choose another path")
    for relative, text in FILES.items():
        target = path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    init_with_commit(
        path, "textkit: initial version", name="frugalflow example", email="example@localhost"
    )
    return path

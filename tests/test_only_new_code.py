"""Only new code is committed: copies of the repository's own definitions are dropped and
imported instead, and the module is named after the requested definition (issue 10)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from frugalflow.cli.example_repo import create_example_repo
from frugalflow.core.schemas import CodeRequest, CodeResult, RunStatus
from frugalflow.flows.codegen import codegen
from frugalflow.generation.replies import drop_known_definitions
from frugalflow.placement.targets import main_definition
from tests.support.git import git
from tests.support.models import ReplyingModel

# What the 0.5B answered when tried as a new user would: the related module's functions
# copied into the answer, before the one that was asked for.
COPYING_REPLY = '''```python
import re

_WHITESPACE = re.compile(r"\\s+")


def normalize_whitespace(text: str) -> str:
    """Collapse runs of whitespace into single spaces and trim the ends."""
    return _WHITESPACE.sub(" ", text).strip()


def truncate(text: str, width: int, suffix: str = "...") -> str:
    """Shorten text."""
    return text[:width]


def is_palindrome(text: str) -> bool:
    """Whether text reads the same backwards, ignoring case and spaces."""
    letters = normalize_whitespace(text).replace(" ", "").lower()
    return letters == letters[::-1]
```'''


def test_copied_definitions_are_dropped_and_imported_where_used() -> None:
    code = COPYING_REPLY.removeprefix("```python\n").removesuffix("```")
    known = {"normalize_whitespace": "textkit.strings", "truncate": "textkit.strings"}

    kept = drop_known_definitions(code, known, keep={"is_palindrome"})

    assert "def normalize_whitespace" not in kept and "def truncate" not in kept
    assert "def is_palindrome" in kept
    # Asked for by name, a definition stays even when the repository has one of that name.
    assert "def truncate" in drop_known_definitions(code, known, keep={"truncate"})
    # An answer with nothing new is left whole, for validation to judge.
    only_copies = "def truncate(text, width):\n    return text[:width]\n"
    assert drop_known_definitions(only_copies, known, keep=set()) == only_copies


def test_the_module_is_named_after_the_requested_definition() -> None:
    code = "def helper():\n    pass\n\n\ndef is_palindrome(text):\n    return True\n"
    assert main_definition(code, "python", {"is_palindrome"}) == "is_palindrome"
    assert main_definition(code, "python") == "helper"


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_a_reply_that_copies_the_related_module_commits_only_the_new_function(
    tmp_path: Path, ledger_path: Path, use_providers: Callable[..., None]
) -> None:
    use_providers({"llamacpp": ReplyingModel(COPYING_REPLY)})
    repo = create_example_repo(tmp_path / "textkit")
    request = CodeRequest(
        description=(
            "Add a function is_palindrome(text) that returns True when text reads the same "
            "backwards, ignoring case and spaces (copying model)"  # a prompt, and cache key, of its own
        ),
        repo=repo,
        examples=('assert is_palindrome("Never odd or even")',),
    )

    async def go() -> CodeResult:
        state = await codegen(request, return_state=True)
        return await state.aresult(raise_on_failure=False)  # type: ignore[no-any-return]

    result = asyncio.run(go())

    assert result.status is RunStatus.COMPLETED, result.reason
    assert result.files == ("src/textkit/is_palindrome.py",)
    committed = git(repo, "show", f"{result.branch}:src/textkit/is_palindrome.py")
    assert "from textkit.strings import normalize_whitespace" in committed
    assert "def normalize_whitespace" not in committed and "def truncate" not in committed
    assert git(repo, "show", f"{result.branch}:src/textkit/strings.py") == git(
        repo, "show", "HEAD:src/textkit/strings.py"
    )

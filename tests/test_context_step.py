"""The context fetch step's Prefect cache key covers everything its answer depends on: a
change of the context budget made outside the repository (the user's settings or the
environment) is a new key, so another process never reuses a context sized for the old budget
(found by a review); so is the request's target, which the step passes on to the bridge."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from frugalflow.core.schemas import CodeRequest
from frugalflow.tasks.context import context_cache_key, fetch_context

MakeRepo = Callable[..., Path]

STRINGS = '''"""Strings."""


def normalize_whitespace(text: str) -> str:
    """Collapse runs of whitespace."""
    return " ".join(text.split())
'''


def test_the_key_changes_with_the_budget_the_settings_give(
    make_git_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_git_repo({"src/textkit/__init__.py": "", "src/textkit/strings.py": STRINGS})
    request = CodeRequest(description="Add a function slugify(text)", repo=repo)
    monkeypatch.setenv("FRUGALFLOW_LOCAL_CONTEXT_TOKENS", "4096")
    small = context_cache_key(None, {"request": request})  # type: ignore[arg-type]
    assert context_cache_key(None, {"request": request}) == small  # type: ignore[arg-type]
    monkeypatch.setenv("FRUGALFLOW_LOCAL_CONTEXT_TOKENS", "16384")
    assert context_cache_key(None, {"request": request}) != small  # type: ignore[arg-type]


def test_a_target_is_part_of_the_key(make_git_repo: MakeRepo) -> None:
    repo = make_git_repo({"src/textkit/__init__.py": "", "src/textkit/strings.py": STRINGS})
    plain = CodeRequest(description="Add a function collapse_text(text)", repo=repo)
    targeted = plain.model_copy(update={"target": "src/textkit/strings.py"})
    assert fetch_context(targeted).related_path == "src/textkit/strings.py"
    key = context_cache_key(None, {"request": plain})  # type: ignore[arg-type]
    assert context_cache_key(None, {"request": targeted}) != key  # type: ignore[arg-type]

"""The names renaming keeps: those the examples call, and those the target already binds."""

from __future__ import annotations

from pathlib import Path

from frugalflow.conform.protected import protected_names
from frugalflow.core.schemas import CodeRequest
from tests.support.git import git


def repository(tmp_path: Path, files: dict[str, str]) -> Path:
    repo = tmp_path / "repo"
    for relative, text in files.items():
        (repo / relative).parent.mkdir(parents=True, exist_ok=True)
        (repo / relative).write_text(text)
    git(tmp_path, "init", "--quiet", "repo")
    return repo


def test_the_examples_names_and_the_targets_top_level_names_are_kept(tmp_path: Path) -> None:
    repo = repository(tmp_path, {"pkg/text.py": "def makeSlug(t):\n    return t\nLIMIT = 3\n"})
    request = CodeRequest(
        description="Add countWords(text)",
        repo=repo,
        target="pkg/text.py",
        examples=('assert countWords("a b") == 2',),
    )
    assert protected_names(request) == {"countWords", "makeSlug", "LIMIT"}


def test_a_target_outside_the_repository_or_not_python_is_not_read(tmp_path: Path) -> None:
    repo = repository(tmp_path, {"notes.txt": "def kept(): pass\n"})
    (tmp_path / "outside.py").write_text("def outsideName():\n    pass\n")
    for target in ("../outside.py", "notes.txt", "missing.py"):
        request = CodeRequest(description="Add f()", repo=repo, target=target)
        assert protected_names(request) == set(), target

"""A file whose name is not UTF-8, anywhere in the repository, does not break a request.

Linux file names are bytes; git stores them as bytes. Such a name cannot go into a prompt, a
JSON result or a Prefect parameter, so the listing leaves it out (the file itself is never
touched), and a --target with such a name is refused with a message.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from frugalflow.cli.app import EXIT_USAGE, app
from frugalflow.context import build_context
from frugalflow.context.analysis import list_repository_files
from frugalflow.placement.repository import WorkRepository
from frugalflow.validation.project import project_copy
from tests.support.git import git

COMMITTED = b"src/pkg/caf\xe9.py"
UNTRACKED = b"src/pkg/na\xefve-\xff.py"


@pytest.fixture
def repo(make_git_repo: Callable[..., Path]) -> Path:
    repo = make_git_repo(
        {"src/pkg/__init__.py": "", "src/pkg/words.py": "def words():\n    pass\n"}
    )
    root = os.fsencode(repo)
    with open(root + b"/" + COMMITTED, "w") as handle:
        handle.write("def cafe():\n    return 1\n")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "a Latin-1 file name")
    with open(root + b"/" + UNTRACKED, "w") as handle:
        handle.write("X = 1\n")
    return repo


def test_the_listing_leaves_out_names_that_are_not_utf8(repo: Path) -> None:
    files = list_repository_files(repo)

    assert files == ["src/pkg/__init__.py", "src/pkg/words.py"]
    for path in files:
        path.encode("utf-8")  # every listed name can go into a prompt


def test_the_context_of_such_a_repository_can_be_stored_as_json(repo: Path) -> None:
    context = build_context(repo, "Add a function count_words(text)", "python")

    # The context step persists its result as JSON (Prefect cache): a surrogate broke that.
    assert "words.py" in context.model_dump_json()
    assert "src/pkg/words.py" in context.file_layout


def test_the_sandbox_copy_of_the_project_leaves_them_out_too(repo: Path) -> None:
    assert sorted(project_copy(repo)) == ["project/src/pkg/__init__.py", "project/src/pkg/words.py"]


def test_placement_in_such_a_repository_works_and_keeps_the_file(
    repo: Path, tmp_path: Path
) -> None:
    work = WorkRepository(repo)
    try:
        placement = work.place(
            files={"src/pkg/count.py": "def count(text):\n    return len(text)\n"},
            branch="frugalflow/latin1",
            message="Add count",
            trailers={},
            workdir=tmp_path / "run",
        )
    finally:
        work.close()
    listing = subprocess.run(
        ["git", "ls-tree", "-r", "-z", "--name-only", placement.commit],
        cwd=repo,
        capture_output=True,
        check=True,
    )
    committed = listing.stdout.split(b"\0")
    assert b"src/pkg/count.py" in committed
    assert COMMITTED in committed  # still there, unchanged
    assert os.path.exists(os.fsencode(repo) + b"/" + UNTRACKED)


def test_a_target_that_is_not_utf8_is_refused_with_a_message(repo: Path) -> None:
    target = os.fsdecode(COMMITTED)
    result = CliRunner().invoke(
        app, ["generate", "Add a function f() returning 1", "--repo", str(repo), "--target", target]
    )
    assert result.exit_code == EXIT_USAGE, result.output
    assert "is not valid UTF-8" in result.output
    assert "Traceback" not in result.output

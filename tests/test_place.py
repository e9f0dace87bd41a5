"""The place step: where generated code goes, name clashes, and the optional fast-forward.

Everything runs against real temporary git repositories; every refusal is checked to leave the
user's files, index and HEAD byte-for-byte as they were (see ``user_state``).
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from frugalflow.context.analysis import find_source_dir, list_repository_files
from frugalflow.core.errors import NameClashError, RequestError, UnsafePathError
from frugalflow.core.schemas import CodeRequest, GenerationContext, NamingConventions, Placement
from frugalflow.core.settings import Settings
from frugalflow.placement.targets import GeneratedFile, choose_target, choose_targets, is_test_code
from frugalflow.tasks.place import place_code
from tests.support.git import git, user_state

MakeRepo = Callable[..., Path]
TEXT = (
    '"""Text helpers."""\n\nimport re\n\n\ndef words(text):\n    return re.findall(r"\\w+", text)\n'
)
SLUGIFY = "import re\n\n\ndef slugify(text):\n    return re.sub(r'\\W+', '-', text).strip('-')\n"
TESTS = (
    "import pytest\n\nfrom demo.slugify import slugify\n\n\n"
    "def test_slugify():\n    assert slugify('a b') == 'a-b'\n"
)
LAYOUT = {
    "pyproject.toml": "[project]\nname = 'demo'\n",
    "src/demo/__init__.py": "",
    "src/demo/text.py": TEXT,
    "tests/__init__.py": "",
    "tests/test_text.py": "from demo.text import words\n\n\ndef test_words():\n    assert words('a b')\n",
    "README.md": "# Demo\n",
}


def context_for(repo: Path, related: str | None = None) -> GenerationContext:
    files = list_repository_files(repo)
    return GenerationContext(
        language="python",
        file_layout=tuple(files),
        source_dir=find_source_dir(files, "python"),
        related_path=related,
        naming=NamingConventions(),
    )


def layout_context(*paths: str, related: str | None = None) -> GenerationContext:
    return GenerationContext(
        language="python",
        file_layout=paths,
        source_dir=find_source_dir(paths, "python"),
        related_path=related,
    )


# Choosing a target reads only the layout it is given, never the repository.
NO_REPO = Path("/nonexistent/project")


def request(repo: Path, description: str = "Add slugify(text)", **options: object) -> CodeRequest:
    return CodeRequest(description=description, repo=repo, request_id="r1", **options)  # type: ignore[arg-type]


@pytest.fixture
def repo(make_git_repo: MakeRepo) -> Path:
    return make_git_repo(LAYOUT)


@pytest.fixture
def run(tmp_path: Path) -> Callable[..., Placement]:
    settings = Settings(home=tmp_path / "home")
    count = iter(range(1000))

    def go(req: CodeRequest, code: str, related: str | None = None) -> Placement:
        context = context_for(Path(req.repo), related)
        workdir = tmp_path / f"run{next(count)}"
        return place_code(req, context, code, "local:qwen", Decimal("0.0012"), settings, workdir)

    return go


def committed(repo: Path, path: str, branch: str = "frugalflow/r1") -> str:
    return git(repo, "show", f"{branch}:{path}") + "\n"


def assert_nothing_placed(repo: Path, before: str) -> None:
    assert user_state(repo) == before
    assert git(repo, "branch", "--list", "frugalflow/*") == ""


# Choosing targets from the repository's structure.


def test_new_module_in_the_source_dir_named_in_the_module_style() -> None:
    context = layout_context("src/demo/__init__.py", "src/demo/text.py")
    req = request(NO_REPO)
    assert choose_target(req, context, SLUGIFY) == "src/demo/slugify.py"
    assert choose_target(req, context, "class SlugMaker:\n    pass\n") == "src/demo/slug_maker.py"
    assert choose_target(request(NO_REPO, target="lib/x.py"), context, SLUGIFY) == "lib/x.py"
    with pytest.raises(RequestError, match="pass --target"):
        choose_target(req, context, "X = 1\n")


def test_generated_tests_go_where_the_project_keeps_its_tests() -> None:
    context = layout_context("src/demo/__init__.py", "src/demo/slugify.py", "tests/test_text.py")
    assert choose_target(request(NO_REPO), context, TESTS) == "tests/test_slugify.py"
    # No tests yet: tests/ all the same.
    bare = layout_context("src/demo/__init__.py", "src/demo/slugify.py")
    assert choose_target(request(NO_REPO), bare, TESTS) == "tests/test_slugify.py"


def test_the_project_test_naming_and_directory_are_followed() -> None:
    context = layout_context(
        "demo/__init__.py", "demo/slugify.py", "test/text_test.py", "test/words_test.py"
    )
    assert choose_target(request(NO_REPO), context, TESTS) == "test/slugify_test.py"


def test_tests_go_beside_the_module_when_the_project_keeps_them_there() -> None:
    context = layout_context(
        "demo/__init__.py",
        "demo/text.py",
        "demo/test_text.py",
        "demo/web/__init__.py",
        "demo/web/slugify.py",
        "demo/web/test_urls.py",
        "demo/test_words.py",
    )
    code = TESTS.replace("demo.slugify", "demo.web.slugify")
    assert choose_target(request(NO_REPO), context, code) == "demo/web/test_slugify.py"


def test_multi_file_result_source_and_tests() -> None:
    context = layout_context("src/demo/__init__.py", "src/demo/text.py", "tests/test_text.py")
    files = [GeneratedFile(SLUGIFY, "slug.py"), GeneratedFile(TESTS, "test_slug.py")]

    assert choose_targets(request(NO_REPO), context, files) == [
        "src/demo/slugify.py",
        "tests/test_slugify.py",
    ]
    with_target = choose_targets(request(NO_REPO, target="src/demo/text.py"), context, files)
    assert with_target == ["src/demo/text.py", "tests/test_text.py"]


def test_what_counts_as_test_code() -> None:
    assert is_test_code(TESTS)
    assert is_test_code(
        "def test_a():\n    assert 1\n\n\ndef helper():\n    pass\n\n\ndef test_b():\n    assert 2\n"
    )
    assert not is_test_code(SLUGIFY)
    assert not is_test_code(SLUGIFY + "\n\ndef test_slugify():\n    assert slugify('a')\n")
    assert not is_test_code("def test_connection(host):\n    return host.ping()\n")
    assert not is_test_code("def broken(:\n")


# The commit subject says what was asked, in one line (issue 10).

PROMPT_WITH_CODE = (
    "from typing import List\n\n\n"
    "def below_threshold(l: List[int], t: int) -> bool:\n"
    '    """Return True if all numbers in the list l are below threshold t. More text."""\n'
)


@pytest.mark.parametrize(
    ("description", "subject"),
    [
        ("Add slugify(text) that makes URL slugs", "Add slugify(text) that makes URL slugs"),
        (PROMPT_WITH_CODE, "Return True if all numbers in the list l are below threshold t"),
        ("Write a function. It must be fast.\nMore lines.", "Write a function"),
        ('Run "black" on it', 'Run "black" on it'),
        ("import os\ndef f(x):\n    pass", "add slugify"),
        (
            "Write a python function that takes a very long list of words and returns palindromes",
            "Write a python function that takes a very long list of words...",
        ),
    ],
)
def test_the_commit_subject_summarises_the_request_in_one_line(
    description: str, subject: str
) -> None:
    from frugalflow.placement.plan import commit_subject

    assert commit_subject(description, "slugify") == subject


def test_a_request_that_starts_with_code_is_not_committed_under_its_import_line(
    repo: Path, run: Callable[..., Placement]
) -> None:
    placement = run(request(repo, PROMPT_WITH_CODE), SLUGIFY)

    subject = git(repo, "log", "-1", "--format=%s", placement.branch)
    assert subject == "frugalflow: Return True if all numbers in the list l are below threshold t"


# Placing: new modules, merges into an existing module, name clashes.


def test_new_module_is_committed_with_what_was_asked(
    repo: Path, run: Callable[..., Placement]
) -> None:
    before = user_state(repo)

    placement = run(request(repo, "Add slugify(text) that makes URL slugs"), SLUGIFY)

    assert placement.files == ("src/demo/slugify.py",)
    assert not placement.merged and not placement.merged_into_existing
    assert committed(repo, "src/demo/slugify.py") == SLUGIFY
    message = git(repo, "log", "-1", "--format=%B", placement.branch)
    assert message.startswith("frugalflow: Add slugify(text) that makes URL slugs\n\nRequested:")
    for trailer in ("Frugalflow-Request: r1", "Frugalflow-Model: local:qwen"):
        assert trailer in message
    assert "Frugalflow-Cost: $0.001200" in message
    assert user_state(repo) == before


def test_merge_into_an_existing_module_needs_the_target(
    repo: Path, run: Callable[..., Placement]
) -> None:
    placement = run(request(repo, target="src/demo/text.py"), SLUGIFY)

    assert placement.merged_into_existing
    text = committed(repo, "src/demo/text.py")
    assert text.startswith(TEXT.rstrip("\n"))
    assert text.count("import re\n") == 1 and "def slugify(text):" in text


def test_a_repeated_identical_definition_is_skipped(
    repo: Path, run: Callable[..., Placement]
) -> None:
    copied = TEXT + "\n\n" + SLUGIFY.replace("import re\n\n\n", "")  # the model copied the module

    placement = run(request(repo, target="src/demo/text.py"), copied)

    text = committed(repo, "src/demo/text.py")
    assert placement.merged_into_existing
    assert text.count("def words(") == 1 and text.count("def slugify(") == 1


def test_name_clash_stops_with_what_to_do(repo: Path, run: Callable[..., Placement]) -> None:
    before = user_state(repo)
    different = "def words(text):\n    return text.split()\n"

    with pytest.raises(NameClashError, match=r"`words`.*another --target.*--on-name-clash beside"):
        run(request(repo, target="src/demo/text.py"), different)

    assert_nothing_placed(repo, before)


def test_name_clash_beside_puts_the_code_in_a_new_module(
    repo: Path, run: Callable[..., Placement]
) -> None:
    different = "def words(text):\n    return text.split()\n"
    req = request(repo, target="src/demo/text.py", on_name_clash="beside")

    placement = run(req, different)

    assert placement.files == ("src/demo/text_words.py",)
    assert committed(repo, "src/demo/text_words.py") == different
    assert committed(repo, "src/demo/text.py") == TEXT  # never touched
    assert "went beside it into src/demo/text_words.py" in git(
        repo, "log", "-1", "--format=%B", placement.branch
    )


def test_beside_falls_back_to_generated_when_that_name_is_taken(
    make_git_repo: MakeRepo, run: Callable[..., Placement]
) -> None:
    repo = make_git_repo({**LAYOUT, "src/demo/text_words.py": "X = 1\n"})
    req = request(repo, target="src/demo/text.py", on_name_clash="beside")

    placement = run(req, "def words(text):\n    return text.split()\n")

    assert placement.files == ("src/demo/text_generated.py",)


def test_a_chosen_module_that_exists_is_never_merged_into(
    make_git_repo: MakeRepo, run: Callable[..., Placement]
) -> None:
    repo = make_git_repo({**LAYOUT, "src/demo/slugify.py": "OLD = 1\n"})
    before = user_state(repo)

    with pytest.raises(
        NameClashError, match=r"slugify\.py already exists.*--target src/demo/slugify\.py"
    ):
        run(request(repo), SLUGIFY)
    assert_nothing_placed(repo, before)

    placement = run(request(repo, on_name_clash="beside"), SLUGIFY)
    assert placement.files == ("src/demo/slugify_generated.py",)
    assert committed(repo, "src/demo/slugify.py") == "OLD = 1\n"


def test_a_request_naming_a_module_is_told_why_the_code_went_elsewhere(
    repo: Path, run: Callable[..., Placement], caplog: pytest.LogCaptureFixture
) -> None:
    req = request(repo, "Add a slugify(text) function to the text module")

    with caplog.at_level(logging.INFO, logger="frugalflow.tasks.place"):
        placement = run(req, SLUGIFY, related="src/demo/text.py")

    assert placement.files == ("src/demo/slugify.py",)
    note = "To add it to src/demo/text.py instead, run the request again with --target src/demo/text.py"
    assert note in git(repo, "log", "-1", "--format=%B", placement.branch).replace("\n", " ")
    assert "--target src/demo/text.py" in caplog.text


def test_generated_tests_are_placed_in_tests(repo: Path, run: Callable[..., Placement]) -> None:
    placement = run(request(repo), TESTS)

    assert placement.files == ("tests/test_slugify.py",)
    assert committed(repo, "tests/test_slugify.py") == TESTS


# The user's state: untouched whatever it is, and refusals that change nothing.


def test_dirty_tree_with_a_merge_in_progress_commits_but_does_not_fast_forward(
    repo: Path, run: Callable[..., Placement], caplog: pytest.LogCaptureFixture
) -> None:
    git(repo, "checkout", "-qb", "other")
    (repo / "README.md").write_text("# Other\n")
    git(repo, "commit", "-qam", "other")
    git(repo, "checkout", "-q", "main")
    (repo / "README.md").write_text("# Main\n")
    git(repo, "commit", "-qam", "main")
    with pytest.raises(subprocess.CalledProcessError):
        git(repo, "merge", "-q", "other")  # conflicts on README.md
    (repo / "src/demo/text.py").write_text(TEXT + "# unsaved\n")
    (repo / "tests/test_text.py").write_text("# staged\n")
    git(repo, "add", "tests/test_text.py")
    (repo / "notes.txt").write_text("untracked\n")
    assert (repo / ".git/MERGE_HEAD").exists()
    git(repo, "status")
    before = user_state(repo)

    with caplog.at_level(logging.WARNING, logger="frugalflow.tasks.place"):
        placement = run(request(repo, merge=True), SLUGIFY)

    assert not placement.merged
    assert "a merge is in progress" in caplog.text and "git merge --abort" in caplog.text
    assert git(repo, "rev-parse", "frugalflow/r1") == placement.commit
    assert user_state(repo) == before


def test_merge_fast_forwards_a_clean_tree(repo: Path, run: Callable[..., Placement]) -> None:
    placement = run(request(repo, merge=True), SLUGIFY)

    assert placement.merged
    assert git(repo, "rev-parse", "main") == placement.commit
    assert (repo / "src/demo/slugify.py").read_text() == SLUGIFY
    assert git(repo, "status", "--porcelain") == ""


def test_merge_is_refused_when_the_target_file_is_dirty(
    repo: Path, run: Callable[..., Placement], caplog: pytest.LogCaptureFixture
) -> None:
    (repo / "src/demo/text.py").write_text(TEXT + "# my edit\n")
    git(repo, "status")
    head, before = git(repo, "rev-parse", "HEAD"), user_state(repo)

    with caplog.at_level(logging.WARNING, logger="frugalflow.tasks.place"):
        placement = run(request(repo, target="src/demo/text.py", merge=True), SLUGIFY)

    assert not placement.merged
    assert any("src/demo/text.py has uncommitted changes" in note for note in placement.notes)
    assert "src/demo/text.py has uncommitted changes" in caplog.text
    assert "git merge --ff-only frugalflow/r1" in caplog.text
    assert user_state(repo) == before and git(repo, "rev-parse", "HEAD") == head
    assert "def slugify" in committed(repo, "src/demo/text.py")


@pytest.mark.parametrize("target", ["../outside.py", "/tmp/outside.py", "src/../../outside.py"])
def test_path_traversal_is_refused(repo: Path, run: Callable[..., Placement], target: str) -> None:
    before = user_state(repo)

    with pytest.raises(UnsafePathError, match="must be inside the repository"):
        run(request(repo, target=target), SLUGIFY)

    assert_nothing_placed(repo, before)
    assert not (repo.parent / "outside.py").exists()


def test_symlink_out_is_refused(repo: Path, run: Callable[..., Placement], tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (repo / "src/demo/linked").symlink_to(outside, target_is_directory=True)
    before = user_state(repo)

    with pytest.raises(UnsafePathError, match="symlink"):
        run(request(repo, target="src/demo/linked/slugify.py"), SLUGIFY)

    assert_nothing_placed(repo, before)
    assert list(outside.iterdir()) == []

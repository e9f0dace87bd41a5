"""The context fetch: what the model is shown about the user's repository."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from frugalflow.context import build_context
from frugalflow.context.analysis import (
    find_related_module,
    find_source_dir,
    list_repository_files,
)
from frugalflow.core.errors import NotAGitRepositoryError

MakeRepo = Callable[..., Path]

SLUGIFY_REQUEST = "Add a function slugify(text) that turns a title into a URL slug"

TEXT_UTILS = '''"""Helpers for cleaning up user-facing text."""

import re


def normalize_whitespace(text: str) -> str:
    """Collapse runs of whitespace in text to single spaces."""
    return re.sub(r"\\s+", " ", text).strip()


def title_case(title: str) -> str:
    """Capitalise each word of a title."""
    return " ".join(word.capitalize() for word in title.split())
'''

BILLING = '''"""Invoices and payments."""

from decimal import Decimal


def invoice_total(amounts: list[Decimal], tax_rate: Decimal) -> Decimal:
    """Sum the invoice amounts and add tax."""
    subtotal = sum(amounts, Decimal(0))
    return subtotal + subtotal * tax_rate


def apply_discount(total: Decimal, percent: int) -> Decimal:
    """Take a percentage off a payment total."""
    return total * (100 - percent) / 100
'''


def test_layout_lists_tracked_and_untracked_files_but_not_ignored_ones(
    make_git_repo: MakeRepo,
) -> None:
    repo = make_git_repo({".gitignore": "secrets.env\nbuild/\n", "app/main.py": "x = 1\n"})
    (repo / "app" / "draft.py").write_text("y = 2\n")
    (repo / "secrets.env").write_text("TOKEN=abc\n")
    (repo / "build").mkdir()
    (repo / "build" / "out.py").write_text("z = 3\n")
    (repo / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0")

    files = list_repository_files(repo)

    assert files == [".gitignore", "app/draft.py", "app/main.py"]


def test_layout_skips_files_too_large_to_be_useful(make_git_repo: MakeRepo) -> None:
    repo = make_git_repo({"small.py": "x = 1\n", "data.csv": "a,b\n" * 200_000})

    assert list_repository_files(repo) == ["small.py"]


def test_not_a_repository_says_how_to_fix_it(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()

    with pytest.raises(NotAGitRepositoryError, match="git init") as caught:
        list_repository_files(plain)

    assert "give the path" in str(caught.value)


def test_source_dir_of_a_src_layout_is_the_package() -> None:
    files = [
        "pyproject.toml",
        "setup.py",
        "src/shop/__init__.py",
        "src/shop/cart.py",
        "src/shop/prices.py",
        "tests/test_cart.py",
        "tests/test_prices.py",
        "tests/test_more.py",
        "tests/test_even_more.py",
        "docs/conf.py",
    ]

    assert find_source_dir(files, "python") == "src/shop"


def test_source_dir_of_a_flat_layout_is_the_top_level_package() -> None:
    files = [
        "conftest.py",
        "noxfile.py",
        "setup.py",
        "shop/__init__.py",
        "shop/cart.py",
        "examples/demo_one.py",
        "examples/demo_two.py",
        "examples/demo_three.py",
    ]

    assert find_source_dir(files, "python") == "shop"


def test_source_dir_of_loose_scripts_is_the_top_level() -> None:
    assert find_source_dir(["README.md", "fetch.py", "report.py"], "python") == "."


def test_source_dir_without_any_file_of_the_language_is_the_top_level() -> None:
    files = ["README.md", "web/index.js", "web/app.js"]

    assert find_source_dir(files, "python") == "."
    assert find_source_dir(files, "javascript") == "web"


def test_related_module_is_the_text_utilities_for_a_slugify_request(
    make_git_repo: MakeRepo,
) -> None:
    repo = make_git_repo(
        {
            "src/site/__init__.py": "",
            "src/site/billing.py": BILLING,
            "src/site/text_utils.py": TEXT_UTILS,
        }
    )
    files = list_repository_files(repo)

    assert find_related_module(repo, files, SLUGIFY_REQUEST, "python") == "src/site/text_utils.py"


def test_related_module_prefers_source_over_its_tests(make_git_repo: MakeRepo) -> None:
    tests_of_text = (
        "from site.text import title_case\n\n\n"
        "def test_title_case_of_a_title_with_text():\n"
        "    text = 'a url slug title'\n"
        "    assert title_case(text) == 'A Url Slug Title'\n"
    )
    repo = make_git_repo(
        {
            "site/__init__.py": "",
            "site/text.py": TEXT_UTILS,
            "tests/test_text.py": tests_of_text,
        }
    )
    files = list_repository_files(repo)

    assert find_related_module(repo, files, SLUGIFY_REQUEST, "python") == "site/text.py"


def test_related_module_is_none_when_nothing_shares_a_word(make_git_repo: MakeRepo) -> None:
    repo = make_git_repo({"billing.py": BILLING})

    related = find_related_module(repo, ["billing.py"], "Render a starfield galaxy", "python")

    assert related is None


def test_context_carries_layout_source_dir_and_related_source(make_git_repo: MakeRepo) -> None:
    repo = make_git_repo(
        {
            "README.md": "# site\n",
            "src/site/__init__.py": "",
            "src/site/billing.py": BILLING,
            "src/site/text_utils.py": TEXT_UTILS,
        }
    )

    context = build_context(repo, SLUGIFY_REQUEST)

    assert context.language == "python"
    assert "src/site/billing.py" in context.file_layout
    assert context.source_dir == "src/site"
    assert context.related_path == "src/site/text_utils.py"
    assert context.related_source == TEXT_UTILS
    assert context.naming.function_style == "snake_case"
    assert context.token_count > 0


def test_related_source_is_cut_at_a_line_boundary_to_fit_the_budget(
    make_git_repo: MakeRepo,
) -> None:
    long_module = "".join(
        f'def slug_part_{n}(text: str) -> str:\n    """Slug piece {n}."""\n    return text\n\n\n'
        for n in range(400)
    )
    repo = make_git_repo({"slugs.py": long_module})

    small = build_context(repo, SLUGIFY_REQUEST, budget_tokens=700)
    roomy = build_context(repo, SLUGIFY_REQUEST)

    assert small.related_source is not None and roomy.related_source is not None
    assert 0 < len(small.related_source) < len(roomy.related_source) < len(long_module)
    assert long_module.startswith(small.related_source)
    assert small.related_source.endswith("\n")
    assert small.token_count <= 700 < roomy.token_count <= roomy.budget_tokens


def test_layout_of_a_big_repository_keeps_the_files_nearest_the_source_dir(
    make_git_repo: MakeRepo,
) -> None:
    files = {"pkg/__init__.py": ""}
    files |= {f"pkg/mod_{n:03}.py": f"VALUE_{n} = {n}\n" for n in range(150)}
    files |= {f"assets/notes/note_{n:03}.txt": "note\n" for n in range(150)}
    repo = make_git_repo(files)

    context = build_context(repo, "Add a helper")

    assert len(context.file_layout) == 200
    assert {f"pkg/mod_{n:03}.py" for n in range(150)} <= set(context.file_layout)
    assert list(context.file_layout) == sorted(context.file_layout)


def test_context_for_another_language_still_finds_layout_and_related_file(
    make_git_repo: MakeRepo,
) -> None:
    repo = make_git_repo(
        {
            "package.json": "{}\n",
            "src/slug.js": "export function slugify(title) { return title.toLowerCase(); }\n",
            "src/cart.js": "export function cartTotal(items) { return items.length; }\n",
        }
    )

    context = build_context(repo, SLUGIFY_REQUEST, language="JavaScript")

    assert context.language == "javascript"
    assert context.source_dir == "src"
    assert context.related_path == "src/slug.js"


def test_layout_leaves_out_virtualenvs_and_hidden_directories(make_git_repo: MakeRepo) -> None:
    repo = make_git_repo({"pkg/__init__.py": "", "pkg/core.py": "def run():\n    pass\n"})
    # An un-ignored virtualenv, as in a repository without a .gitignore.
    (repo / ".venv/lib/site-packages/dep").mkdir(parents=True)
    (repo / ".venv/lib/site-packages/dep/mod.py").write_text("def helper():\n    pass\n")
    (repo / "node_modules/x").mkdir(parents=True)
    (repo / "node_modules/x/index.js").write_text("module.exports = 1;\n")

    context = build_context(repo, "Add a function that runs things")

    assert context.file_layout == ("pkg/__init__.py", "pkg/core.py")

"""The semantic bridge (issue 13): what it finds in repositories with known conventions, how it
fits the budget, and what its caches reuse."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from frugalflow.context import ContextBridge, ContextRequest, build_context, context_for_state
from frugalflow.context.bridge import (
    PROMPT_RESERVE_TOKENS,
    REMOTE_CONTEXT_TOKENS,
    budget_for,
    context_budget,
)
from frugalflow.context.render import EXAMPLES, PART_NAMES, RELATED, render_context
from frugalflow.context.snapshot import take_snapshot
from frugalflow.core.errors import NotAGitRepositoryError, RequestError
from frugalflow.core.schemas import CodeRequest
from frugalflow.core.settings import Settings
from frugalflow.generation.prompts import build_messages, importable_names
from frugalflow.money.tokens import count_tokens
from frugalflow.tasks.name import apply_naming
from tests.support.git import git

MakeRepo = Callable[..., Path]

STRINGS = '''"""Cleaning up user-facing text."""

import re

MAX_SLUG_LENGTH = 60


def normalize_whitespace(text: str) -> str:
    """Collapse runs of whitespace to single spaces.

    Args:
        text: the text to clean.

    Returns:
        The text with single spaces.
    """
    return re.sub(r"\\s+", " ", text).strip()


def strip_accents(text: str) -> str:
    """Replace accented letters by plain ones.

    Args:
        text: the text to clean.

    Returns:
        The text without accents.
    """
    return text


def truncate_words(text: str, limit: int) -> str:
    """Cut text after ``limit`` words.

    Args:
        text: the text to cut.
        limit: the most words kept.

    Returns:
        The first words.
    """
    return " ".join(text.split()[:limit])


def wordCount(text):
    """Count the words of text."""
    return len(text.split())
'''

ORDERS = '''"""Orders and their totals."""

from decimal import Decimal


class OrderLine:
    """One line of an order."""

    def __init__(self, price: Decimal, quantity: int) -> None:
        self.price = price
        self.quantity = quantity


def compute_total(lines: list[OrderLine]) -> Decimal:
    """Sum an order's lines.

    Args:
        lines: the order's lines.

    Returns:
        The total.
    """
    return sum((line.price * line.quantity for line in lines), Decimal(0))


def apply_discount(total: Decimal, percent: int) -> Decimal:
    """Take a percentage off a total.

    Args:
        total: the total.
        percent: the discount.

    Returns:
        The discounted total.
    """
    return total * (100 - percent) / 100
'''

PYPROJECT = """[project]
name = "shop"
requires-python = ">=3.10"

[tool.ruff]
line-length = 88

[tool.ruff.lint]
select = ["E", "F", "B"]

[tool.mypy]
strict = true
"""

TESTS = """from shop.text.strings import normalize_whitespace


def test_normalize_whitespace_collapses_runs():
    assert normalize_whitespace("a  b") == "a b"
"""

SHOP = {
    "pyproject.toml": PYPROJECT,
    ".editorconfig": "root = true\n\n[*.py]\nindent_style = space\nindent_size = 4\n",
    "src/shop/__init__.py": "",
    "src/shop/text/__init__.py": "",
    "src/shop/text/strings.py": STRINGS,
    "src/shop/orders.py": ORDERS,
    "tests/test_strings.py": TESTS,
    "tests/test_orders.py": "def test_nothing():\n    pass\n",
}
SLUG_REQUEST = "Add a function slugify(title) that makes a URL slug: collapse the whitespace"


def shares(context: object) -> dict[str, tuple[str, float]]:
    patterns = context.naming_patterns  # type: ignore[attr-defined]
    return {s.kind: (s.style, s.share) for s in patterns.shares}


def test_the_analysis_finds_a_repository_s_known_conventions(make_git_repo: MakeRepo) -> None:
    repo = make_git_repo(SHOP)

    context = build_context(repo, SLUG_REQUEST)

    # 6 multi-word function names (methods included, dunders not): one is camelCase.
    found = shares(context)
    assert found["function"] == ("snake_case", pytest.approx(5 / 6, abs=0.001))
    assert found["class"] == ("PascalCase", 1.0)
    assert found["constant"] == ("UPPER_SNAKE_CASE", 1.0)
    assert found["test_file"] == ("test_*.py", 1.0)
    # normalize, strip, truncate, compute, apply start with a verb; word_count does not.
    assert context.naming_patterns.verb_first_share == pytest.approx(5 / 6, abs=0.001)
    assert "whitespace" in context.naming_patterns.vocabulary
    structure = context.structure
    assert (structure.layout, structure.package, structure.tests_dir) == ("src", "shop", "tests")
    assert structure.test_file_pattern == "test_*.py" and structure.tests_mirror_modules
    standards = context.standards
    assert (standards.line_length, standards.target_version) == (88, "py310")
    assert standards.lint_rules == ("E", "F", "B") and standards.type_checking == "mypy strict"
    assert standards.indent == "4 spaces"
    assert standards.docstring_style == "google"
    # Type hints: every function but wordCount (OrderLine.__init__ counts: it is annotated).
    assert standards.type_hint_share == pytest.approx(6 / 7, abs=0.001)
    assert standards.sources == ("pyproject.toml", ".editorconfig")


def test_reuse_hints_name_the_helper_and_where_to_import_it_from(
    make_git_repo: MakeRepo,
) -> None:
    repo = make_git_repo(SHOP)

    context = build_context(repo, SLUG_REQUEST)

    hint = context.hints[0]
    assert hint.name == "normalize_whitespace"
    assert hint.import_line == "from shop.text.strings import normalize_whitespace"
    assert hint.signature == "def normalize_whitespace(text: str) -> str:"
    assert hint.summary == "Collapse runs of whitespace to single spaces."
    assert all(not h.path.startswith("tests/") for h in context.hints)
    assert context.related_path == "src/shop/text/strings.py"
    assert context.examples[0].name == "normalize_whitespace"
    # The generation step adds the import when the model calls the helper without it.
    assert importable_names(context)["normalize_whitespace"] == "shop.text.strings"


def test_the_prompt_shows_the_fitted_context_and_the_name_step_keeps_reused_names(
    make_git_repo: MakeRepo,
) -> None:
    repo = make_git_repo(SHOP)
    context = build_context(repo, SLUG_REQUEST)
    request = CodeRequest(description=SLUG_REQUEST, repo=repo)

    prompt = "\n".join(m.content for m in build_messages(request, context))

    assert "functions snake_case 83%" in prompt
    assert f"The most related existing module, {context.related_path}" in prompt
    # The reuse hints stay in the context, out of the generation prompt (measured to make the
    # 0.5B copy them: generation.prompts.GENERATION_LEAVES_OUT).
    assert context.hints[0].import_line == "from shop.text.strings import normalize_whitespace"
    assert "Existing code to reuse" not in prompt
    assert "Import and call the existing code listed" not in prompt
    # A generated camelCase wrapper is renamed, the helper it calls is not.
    code = "def makeSlug(title):\n    return normalize_whitespace(title).lower()\n"
    renamed, _ = apply_naming(code, context, "Add a slug function")
    assert "def make_slug(title)" in renamed and "normalize_whitespace(title)" in renamed


@pytest.mark.parametrize("budget", [150, 400, 900, 2500])
def test_the_context_never_exceeds_its_budget_and_reports_each_part(
    make_git_repo: MakeRepo, budget: int
) -> None:
    files = dict(SHOP)
    files["src/shop/text/long.py"] = "".join(
        f'def slug_piece_{n}(title: str) -> str:\n    """Slug piece {n}."""\n    return title\n\n\n'
        for n in range(300)
    )
    repo = make_git_repo(files)

    context = build_context(repo, SLUG_REQUEST, budget_tokens=budget)

    shown = "\n\n".join(render_context(context))
    assert context.token_count == count_tokens(shown) <= budget
    assert [p.name for p in context.parts] == list(PART_NAMES)
    assert all(p.tokens == 0 for p in context.parts if not p.included)
    assert sum(p.tokens for p in context.parts) <= budget


def test_a_small_budget_cuts_the_related_module_first_and_keeps_signatures_before_bodies(
    make_git_repo: MakeRepo,
) -> None:
    repo = make_git_repo(SHOP)

    small = build_context(repo, SLUG_REQUEST, budget_tokens=450)
    roomy = build_context(repo, SLUG_REQUEST, budget_tokens=4000)

    parts = {p.name: p for p in small.parts}
    assert not parts[RELATED].included and parts[EXAMPLES].included
    assert roomy.related_source == STRINGS
    text = "\n\n".join(render_context(roomy))
    first = roomy.examples[0]
    # Every example's signature is listed before the first body is shown.
    assert text.index(roomy.examples[-1].signature) < text.index(first.code)
    assert "return re.sub" in first.code


def test_javascript_naming_and_layout_are_measured(make_git_repo: MakeRepo) -> None:
    repo = make_git_repo(
        {
            "package.json": "{}\n",
            "src/text-utils.js": (
                "export function slugifyTitle(title) {\n  return title.toLowerCase();\n}\n"
                "export const countWords = (text) => text.split(' ').length;\n"
                "export const MAX_LENGTH = 60;\n"
            ),
            "src/cart-total.ts": (
                "export class CartTotal {}\n"
                "export function addItem(cart: string[], item: string): string[] {\n"
                "  return [...cart, item];\n}\n"
            ),
            "src/text-utils.test.js": "import { slugifyTitle } from './text-utils';\n",
        }
    )

    context = build_context(repo, "Add a function that truncates a title", language="javascript")

    found = shares(context)
    assert found["function"] == ("camelCase", 1.0)
    assert found["module"] == ("kebab-case", 1.0)
    assert found["test_file"] == ("*.test.js", 1.0)
    assert context.naming.function_style == "camelCase"
    assert context.structure.new_module_dir == "src"
    assert context.hints[0].import_line == 'import { slugifyTitle } from "./src/text-utils";'


def test_a_broken_configuration_file_is_skipped_not_fatal(make_git_repo: MakeRepo) -> None:
    repo = make_git_repo(
        {
            "pyproject.toml": "[tool.ruff\nline-length = ",
            "setup.cfg": "[flake8]\nmax-line-length = 120\nselect = E,W\n",
            "app.py": "def run_app() -> None:\n    pass\n",
        }
    )

    standards = build_context(repo, "Add a helper").standards

    assert standards.line_length == 120 and standards.lint_rules == ("E", "W")
    assert standards.sources == ("setup.cfg",)


def test_the_snapshot_hashes_files_as_git_does_committed_or_not(make_git_repo: MakeRepo) -> None:
    repo = make_git_repo({"a.py": "A = 1\n", "b.py": "B = 2\n", "c.py": "C = 3\n"})
    (repo / "a.py").write_text("A = 10\n")  # edited
    (repo / "d.py").write_text("D = 4\n")  # untracked
    (repo / "c.py").write_text("C = 30\n")
    git(repo, "add", "c.py")  # staged: the index has what is on disk
    (repo / "b.py").unlink()  # deleted

    snapshot = take_snapshot(repo)

    assert sorted(snapshot.hashes) == ["a.py", "c.py", "d.py"]
    for path, blob in snapshot.hashes.items():
        assert blob == git(repo, "hash-object", path)


def test_the_fingerprint_follows_the_content_not_the_commits(make_git_repo: MakeRepo) -> None:
    repo = make_git_repo({"a.py": "A = 1\n"})
    before = take_snapshot(repo).fingerprint

    (repo / "a.py").write_text("A = 2\n")
    edited = take_snapshot(repo).fingerprint
    git(repo, "commit", "--quiet", "-am", "edit")
    committed = take_snapshot(repo).fingerprint
    (repo / "a.py").write_text("A = 1\n")
    undone = take_snapshot(repo).fingerprint

    assert before != edited == committed != undone == before


def test_a_warm_request_is_a_memory_hit_and_one_edit_rereads_one_file(
    make_git_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_git_repo(SHOP)
    bridge = ContextBridge(cache_dir=tmp_path / "cache")
    request = ContextRequest(repo=repo, description=SLUG_REQUEST)

    first = bridge.context(request)
    read_cold = bridge.stats.files_read
    again = bridge.context(request)
    (repo / "src/shop/orders.py").write_text(ORDERS + "\n\ndef refund_order() -> None:\n    pass\n")
    edited = bridge.context(request)

    assert again is first and bridge.stats.memory_hits == 1
    assert read_cold == len(set(SHOP.values()))  # the two empty __init__.py are one content
    assert bridge.stats.files_read == read_cold + 1
    assert edited.repository_state != first.repository_state
    assert bridge.cached()[0].repository_state == edited.repository_state
    assert bridge.cached()[1].hits == 1


def test_a_new_process_reuses_the_disk_caches(make_git_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_git_repo(SHOP)
    request = ContextRequest(repo=repo, description=SLUG_REQUEST)
    built = ContextBridge(cache_dir=tmp_path / "cache").context(request)

    later = ContextBridge(cache_dir=tmp_path / "cache")
    same = later.context(request)
    other = later.context(ContextRequest(repo=repo, description="Add a refund to an order"))

    assert same == built and later.stats.disk_hits == 1
    assert later.stats.files_read == 0  # the other request's analysis came from the facts
    assert other.hints[0].name in ("apply_discount", "compute_total", "OrderLine")


def test_a_damaged_disk_cache_is_rebuilt(make_git_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_git_repo(SHOP)
    request = ContextRequest(repo=repo, description=SLUG_REQUEST)
    built = ContextBridge(cache_dir=tmp_path / "cache").context(request)
    for entry in (tmp_path / "cache").rglob("*.json*"):
        entry.write_text("{not json")

    rebuilt = ContextBridge(cache_dir=tmp_path / "cache")

    assert rebuilt.context(request) == built
    assert rebuilt.stats.files_read == len(set(SHOP.values()))


def test_the_bridge_refuses_paths_outside_its_repositories(
    make_git_repo: MakeRepo, tmp_path: Path
) -> None:
    served = make_git_repo({"a.py": "A = 1\n"}, name="served")
    other = make_git_repo({"b.py": "B = 1\n"}, name="other")
    (served / "escape").symlink_to(other)
    bridge = ContextBridge(roots=[served])

    for path in (other, served / ".." / "other", served / "escape"):
        with pytest.raises(RequestError, match="outside the repositories"):
            bridge.context(ContextRequest(repo=path, description="Add a helper"))
    with pytest.raises(NotAGitRepositoryError):
        bridge.context(ContextRequest(repo=served / "missing", description="Add a helper"))
    with pytest.raises(ValueError, match="absolute"):
        ContextRequest(repo=Path("relative/repo"), description="Add a helper")


def test_this_project_s_own_conventions_are_found() -> None:
    root = Path(__file__).resolve().parents[1]

    context = build_context(root, "Add a function that sums the cost of model calls")

    found = shares(context)
    assert found["function"][0] == "snake_case" and found["function"][1] > 0.95
    assert found["test_file"][0] == "test_*.py"
    assert (context.structure.layout, context.structure.package) == ("src", "frugalflow")
    standards = context.standards
    assert (standards.line_length, standards.target_version) == (100, "py311")
    assert standards.type_checking == "mypy strict" and standards.docstring_style == "google"
    assert standards.type_hint_share > 0.9
    assert any(h.import_line.startswith("from frugalflow.") for h in context.hints)
    assert context.token_count <= context.budget_tokens  # type: ignore[operator]


def test_a_large_installed_package_tree(tmp_path: Path) -> None:
    import shutil

    import prefect

    repo = tmp_path / "prefect-tree"
    shutil.copytree(
        Path(prefect.__file__).parent,
        repo / "prefect",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    git(repo, "init", "--quiet", "--initial-branch", "main")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "prefect as installed")
    bridge = ContextBridge()

    context = bridge.context(
        ContextRequest(repo=repo, description="Add a function that retries a crashed flow run")
    )

    assert bridge.stats.files_read > 800
    found = shares(context)
    assert found["function"][0] == "snake_case" and found["class"][0] == "PascalCase"
    assert context.structure.layout == "flat" and context.structure.package == "prefect"
    assert context.standards.docstring_style == "google"
    assert context.hints and all(h.import_line.startswith("from prefect") for h in context.hints)
    assert context.token_count <= context.budget_tokens  # type: ignore[operator]


def test_not_a_repository_is_refused_with_how_to_fix_it(tmp_path: Path) -> None:
    with pytest.raises(NotAGitRepositoryError, match="git init"):
        build_context(tmp_path, "Add a helper")


def test_the_flow_s_budget_is_what_the_local_window_leaves(make_git_repo: MakeRepo) -> None:
    files = {**SHOP, "frugalflow.toml": "local_context_tokens = 2048\nmax_output_tokens = 512\n"}
    repo = make_git_repo(files)

    context = context_for_state(repo, SLUG_REQUEST, "python")

    assert context.budget_tokens == 2048 - 512 - PROMPT_RESERVE_TOKENS
    assert context.token_count <= context.budget_tokens
    # Only remote models: the window is not the limit any more, the price is.
    remote = Settings(models=["openai:gpt-4o-mini"])
    assert budget_for(remote) == context_budget(REMOTE_CONTEXT_TOKENS, remote.max_output_tokens)


def test_a_written_out_signature_s_parameters_do_not_pick_the_hints(
    make_git_repo: MakeRepo,
) -> None:
    repo = make_git_repo(SHOP)

    # "text" is every string helper's parameter: it says nothing about reversing digits.
    unrelated = build_context(repo, "Add a function reverse_digits(text)")
    related = build_context(repo, "Add a function truncate_title(text) that cuts words")

    assert unrelated.hints == () and unrelated.related_path is None
    assert related.hints[0].name == "truncate_words"

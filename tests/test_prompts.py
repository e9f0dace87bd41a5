"""What each attempt's prompt holds (issue 10): a repair shows the model its failed code and
what failed; an escalation asks the stronger model afresh, with what failed summarised, and the
failed code only when ``escalation_shows_failed_code`` asks for it."""

from __future__ import annotations

from pathlib import Path

from frugalflow.core.schemas import (
    CodeRequest,
    GenerationContext,
    Retry,
    ValidationIssue,
    ValidationReport,
)
from frugalflow.core.settings import Settings
from frugalflow.generation.imports import expand_star_imports
from frugalflow.generation.prompts import build_messages, generation_fingerprint, importable_names
from frugalflow.generation.replies import add_missing_imports

FAILED = "def add(a, b):\n    return a - b\n"
REPORT = ValidationReport(
    passed=False,
    checks=("examples",),
    issues=(
        ValidationIssue(check="examples", message="assert add(2, 3) == 5 -> got -1, expected 5"),
        ValidationIssue(check="ruff", message="E741 Ambiguous variable name: `l`", blocking=False),
    ),
)


def prompt(retry: Retry | None, tmp_path: Path) -> str:
    request = CodeRequest(
        description="Add a function add(a, b) that adds two numbers",
        repo=tmp_path,
        examples=("assert add(2, 3) == 5",),
    )
    context = GenerationContext(language="python", file_layout=(), source_dir=".")
    return "\n".join(m.content for m in build_messages(request, context, retry))


def test_a_repair_shows_the_failed_code_and_what_failed(tmp_path: Path) -> None:
    text = prompt(Retry(code=FAILED, report=REPORT, repair=True, seed=2), tmp_path)
    assert FAILED.rstrip() in text
    assert "got -1, expected 5" in text
    assert "E741" not in text  # advisory: the model is not asked to change a demanded name


def test_an_escalation_summarises_the_failure_without_the_code(tmp_path: Path) -> None:
    first = prompt(None, tmp_path)
    text = prompt(Retry(code=FAILED, report=REPORT, repair=False), tmp_path)
    assert text.startswith(first)  # the task afresh, as the first attempt had it
    assert "got -1, expected 5" in text
    assert "return a - b" not in text


def test_an_escalation_shows_the_code_when_asked(tmp_path: Path) -> None:
    text = prompt(Retry(code=FAILED, report=REPORT, repair=False, show_code=True), tmp_path)
    assert "return a - b" in text
    assert "got -1, expected 5" in text


def test_the_cache_key_tells_samples_apart(tmp_path: Path) -> None:
    request = CodeRequest(description="Add a function add(a, b)", repo=tmp_path)
    context = GenerationContext(language="python", file_layout=(), source_dir=".")
    messages = build_messages(request, context)
    settings = Settings()
    keys = {
        generation_fingerprint("m", messages, settings, temperature=t, seed=s)
        for t, s in [(0.0, None), (0.7, 2), (0.7, 3)]
    }
    assert len(keys) == 3


def test_a_wildcard_import_of_a_standard_module_becomes_the_names_used() -> None:
    # The 0.5B's plain-form replies open with these (issue 10); ruff's F403 rejected them.
    reply = (
        "from typing import *\nfrom collections import *\n\n"
        "def most_common(items: List[int]) -> Optional[int]:\n"
        "    return Counter(items).most_common(1)[0][0] if items else None\n"
    )
    code = expand_star_imports(reply)
    assert "import *" not in code
    assert "from typing import List, Optional\n" in code
    assert "from collections import Counter\n" in code  # the later wildcard's, as at run time
    assert "Counter" not in code.split("\n")[0]
    namespace: dict[str, object] = {}
    exec(compile(code, "<reply>", "exec"), namespace)
    assert namespace["most_common"]([3, 1, 3]) == 3  # type: ignore[operator]


def test_a_wildcard_import_of_anything_else_is_left_for_validation() -> None:
    assert expand_star_imports("from textkit import *\n") == "from textkit import *\n"


def test_a_typing_name_used_but_not_imported_is_imported() -> None:
    code = add_missing_imports("def f(l: List[int]) -> int:\n    return len(l)\n", {})
    assert code.startswith("from typing import List\n")


def test_names_of_a_related_module_cut_to_fit_are_still_importable(tmp_path: Path) -> None:
    # The bridge cuts a long related module at a line boundary, maybe inside a docstring.
    cut = 'def normalize(text):\n    """Collapse.\n\n    More.\n    """\n\n\ndef helper(x):\n    """Cut he'
    context = GenerationContext(
        language="python",
        file_layout=(),
        source_dir=".",
        related_path="src/textkit/strings.py",
        related_source=cut,
    )

    names = importable_names(context)

    assert names == {"normalize": "textkit.strings", "helper": "textkit.strings"}

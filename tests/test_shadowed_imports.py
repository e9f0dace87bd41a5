"""An answer that imports the very name it then defines (``from textkit.strings import
slugify`` above ``def slugify``) loses the dead import instead of failing ruff's F811; an
import the code still needs, or reads before its own definition, stays. Seen on the embedded
0.5B in tests/test_codegen_flow.py, where the whole answer was rejected for it."""

from __future__ import annotations

import ast

from frugalflow.generation.replies import drop_shadowed_imports

SLUGIFY = """from textkit.strings import normalize_whitespace, slugify


def slugify(text: str) -> str:
    return normalize_whitespace(text).lower().replace(" ", "-")
"""


def test_the_import_of_a_name_the_code_defines_is_dropped_alone() -> None:
    fixed = drop_shadowed_imports(SLUGIFY)
    assert fixed.splitlines()[0] == "from textkit.strings import normalize_whitespace"
    assert "def slugify(text: str) -> str:" in fixed
    ast.parse(fixed)


def test_a_whole_import_statement_goes_when_every_name_is_redefined() -> None:
    code = "import json\nfrom pkg import slugify as slugify\n\n\ndef slugify(t):\n    return t\n"
    fixed = drop_shadowed_imports(code)
    assert fixed == "import json\n\n\ndef slugify(t):\n    return t\n"


def test_imports_that_are_used_first_or_not_redefined_stay() -> None:
    used_first = "from pkg import slugify\n\nOLD = slugify\n\n\ndef slugify(t):\n    return t\n"
    assert drop_shadowed_imports(used_first) == used_first
    plain = "from pkg import clean\n\n\ndef slugify(t):\n    return clean(t)\n"
    assert drop_shadowed_imports(plain) == plain
    broken = "from pkg import slugify\ndef slugify(:\n"
    assert drop_shadowed_imports(broken) == broken

"""Merging generated code into existing modules: additions only, never a change."""

from __future__ import annotations

import ast
import difflib

import pytest

from frugalflow.core.errors import NameClashError, PlacementError
from frugalflow.placement.merge import merge_python_module, top_level_names

EXISTING = '''"""Text helpers."""

from __future__ import annotations

import os
from pathlib import Path

# The default separator.
SEP = os.sep


def join(*parts: str) -> str:
    """Join parts."""
    return SEP.join(parts)   # odd spacing kept on purpose
'''


def assert_only_additions(existing: str, merged: str) -> None:
    """Every line of ``existing`` survives, in order and byte-for-byte."""
    matcher = difflib.SequenceMatcher(
        a=existing.splitlines(keepends=True), b=merged.splitlines(keepends=True), autojunk=False
    )
    changes = [op for op in matcher.get_opcodes() if op[0] != "equal"]
    assert all(op[0] == "insert" for op in changes), changes
    ast.parse(merged.removeprefix("\ufeff"))


def test_top_level_names() -> None:
    source = (
        "import os\nfrom x import y\n"
        "A = 1\nB: int = 2\nC, (D, *E) = 1, (2, 3)\nF += 1\nobj.attr = 3\n"
        "def f():\n    local = 1\nasync def g(): pass\nclass K:\n    inner = 1\n"
        "if os.name:\n    H = 1\ntry:\n    import z\nexcept ImportError:\n    z = None\n"
    )
    # Imports, attributes and names local to functions or classes do not count.
    assert top_level_names(source) == {"A", "B", "C", "D", "E", "F", "f", "g", "K", "H", "z"}


def test_new_imports_go_after_existing_imports_and_definitions_at_the_end() -> None:
    new = '"""Generated."""\nimport os\nimport json\n\n\ndef dump(value):\n    return json.dumps(value)\n'

    merged = merge_python_module(EXISTING, new)

    assert_only_additions(EXISTING, merged)
    assert merged.count("import os\n") == 1
    assert merged.count("import json\n") == 1
    assert "from pathlib import Path\nimport json\n" in merged
    assert "Generated" not in merged  # the new module's docstring is dropped
    assert merged.endswith(
        "# odd spacing kept on purpose\n\n\ndef dump(value):\n    return json.dumps(value)\n"
    )


def test_only_missing_names_of_a_from_import_are_added() -> None:
    existing = "from os import path\n\nX = path.sep\n"
    new = "from os import path, sep\n\n\ndef f():\n    return path, sep\n"

    merged = merge_python_module(existing, new)

    assert_only_additions(existing, merged)
    assert merged.startswith("from os import path\nfrom os import sep\n")
    assert merged.count("import path") == 1


def test_future_import_goes_after_the_docstring() -> None:
    existing = '"""Doc."""\nX = 1\n'
    new = "from __future__ import annotations\nimport sys\n\nY: int = len(sys.argv)\n"

    merged = merge_python_module(existing, new)

    assert_only_additions(existing, merged)
    tree = ast.parse(merged)
    assert isinstance(tree.body[1], ast.ImportFrom) and tree.body[1].module == "__future__"
    assert isinstance(tree.body[2], ast.Import)
    assert merged.endswith("X = 1\n\n\nY: int = len(sys.argv)\n")


def test_shebang_and_leading_comments_stay_on_top() -> None:
    existing = "#!/usr/bin/env python\n# Licence text.\n\n# About X.\nX = 1"
    merged = merge_python_module(existing, "import re\n\nPATTERN = re.compile('x')\n")

    assert merged.startswith("#!/usr/bin/env python\n# Licence text.\n\nimport re\n\n# About X.\n")
    assert merged.endswith("X = 1\n\n\nPATTERN = re.compile('x')\n")
    ast.parse(merged)


def test_comments_above_new_definitions_are_kept() -> None:
    new = "import os\n\n# Why this exists.\n@staticmethod\ndef helper():\n    return os\n"
    merged = merge_python_module(EXISTING, new)
    assert merged.endswith(
        "\n\n\n# Why this exists.\n@staticmethod\ndef helper():\n    return os\n"
    )


def test_empty_existing_module() -> None:
    merged = merge_python_module("", "import re\n\n\nX = re\n")
    assert merged == "import re\n\n\nX = re\n"


def test_crlf_line_endings_are_kept() -> None:
    existing = "import os\r\n\r\nX = os.sep\r\n"
    merged = merge_python_module(existing, "import re\n\ndef f():\n    return re\n")

    assert (
        merged
        == "import os\r\nimport re\r\n\r\nX = os.sep\r\n\r\n\r\ndef f():\r\n    return re\r\n"
    )


def test_existing_import_under_type_checking_does_not_count() -> None:
    existing = "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    import json\n"
    merged = merge_python_module(existing, "import json\n\nX = json.dumps\n")
    assert_only_additions(existing, merged)
    assert merged.startswith("from typing import TYPE_CHECKING\nimport json\n")


@pytest.mark.parametrize(
    ("new", "names"),
    [
        ("def join(a):\n    return a\n", "`join`"),
        ("class SEP:\n    pass\n", "`SEP`"),
        ("Path = str\n\ndef join(): pass\n", "`Path`, `join`"),
        ("from json import dumps as join\n\nY = join\n", "`join`"),
        ("import numpy as os\n\nY = os\n", "`os`"),
    ],
)
def test_name_clash(new: str, names: str) -> None:
    with pytest.raises(NameClashError, match=f"{names};.*another name.*another --target"):
        merge_python_module(EXISTING, new)


def test_same_import_twice_is_no_clash() -> None:
    merged = merge_python_module(
        EXISTING, "from pathlib import Path\nimport os\n\nZ = Path(os.sep)\n"
    )
    assert merged.count("from pathlib import Path") == 1


def test_invalid_python_is_refused() -> None:
    with pytest.raises(PlacementError, match="generated code is not valid Python"):
        merge_python_module(EXISTING, "def broken(:\n")
    with pytest.raises(PlacementError, match="existing module is not valid Python"):
        merge_python_module("def broken(:\n", "X = 1\n")


def test_result_is_additions_only_for_a_tricky_module() -> None:
    existing = (
        "\ufeff# -*- coding: utf-8 -*-\n'''Doc\nstring.'''\nimport os, sys  # two\n"
        "from typing import (\n    Any,\n    cast,\n)\nVALUE = '''\n  text with trailing space  \n'''\n\f\n"
        "def f(x: Any) -> Any:\n    return cast(Any, x)\n\n\n\n"
    )
    new = "import os\nimport re\nfrom typing import Any, Iterable\n\ndef g(x: Iterable[Any]):\n    return re, x\n"

    merged = merge_python_module(existing, new)

    assert merged.startswith("\ufeff")
    assert_only_additions(existing.rstrip("\n") + "\n", merged)
    assert "from typing import Iterable\n" in merged
    assert merged.index("import re") < merged.index("VALUE =")


def test_identical_repeated_definitions_are_skipped() -> None:
    # A small model shown the module often writes it out again before its own function.
    new = EXISTING + "\n\n# Slug helper.\ndef slug(text: str) -> str:\n    return join(text)\n"

    merged = merge_python_module(EXISTING, new)

    assert_only_additions(EXISTING, merged)
    assert merged.count("def join(") == 1
    assert merged.count("SEP = os.sep") == 1
    assert merged.count("# The default separator.") == 1  # its comment went with it
    assert (
        merged
        == EXISTING + "\n\n# Slug helper.\ndef slug(text: str) -> str:\n    return join(text)\n"
    )


def test_repeats_between_new_definitions_leave_no_gap() -> None:
    new = (
        "def first():\n    return 1\n\n\n"
        "# The default separator.\nSEP = os.sep\n\n\n\n"
        "def second():\n    return 2\n"
    )

    merged = merge_python_module(EXISTING, new)

    assert "def first():\n    return 1\n\n\ndef second():\n    return 2\n" in merged
    assert merged.count("# The default separator.") == 1


def test_repeat_with_other_line_endings_is_still_a_repeat() -> None:
    existing = "def f():\r\n    return 1\r\n"
    merged = merge_python_module(existing, "def f():\n    return 1\n\n\ndef g():\n    return 2\n")
    assert merged == "def f():\r\n    return 1\r\n\r\n\r\ndef g():\r\n    return 2\r\n"


@pytest.mark.parametrize(
    "new",
    [
        'def join(*parts: str) -> str:\n    """Join parts."""\n    return SEP.join(parts)\n',
        "def join(*parts: str) -> str:\n    return '-'.join(parts)\n",
        "SEP = '/'\n",
    ],
)
def test_same_name_with_a_different_body_still_clashes(new: str) -> None:
    # The first differs from the existing join only in its last line's comment: not identical.
    with pytest.raises(NameClashError, match="--on-name-clash beside"):
        merge_python_module(EXISTING, new)


def test_only_repeats_add_nothing() -> None:
    assert merge_python_module(EXISTING, EXISTING) == EXISTING


def test_a_repeated_statement_sharing_a_line_is_kept_with_it() -> None:
    existing = "A = 1\n"
    with pytest.raises(NameClashError, match="`A`"):
        merge_python_module(existing, "A = 1; B = 2\n")

"""Getting only the code out of a model's reply: fences, chatter, examples and self-tests."""

from __future__ import annotations

import ast

from frugalflow.codeblocks import extract_code, keep_python_definitions


def defined_names(code: str) -> list[str]:
    return [
        node.name
        for node in ast.parse(code).body
        if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
    ]


def test_chatter_prints_and_self_tests_are_dropped() -> None:
    reply = (
        "Sure! Here is the function you asked for:\n"
        "```python\n"
        "def add(a, b):\n"
        "    return a + b\n"
        "\n"
        "print(add(1, 2))\n"
        "assert add(2, 2) == 4\n"
        "```\n"
        "Let me know if you need anything else.\n"
    )
    assert extract_code(reply) == "def add(a, b):\n    return a + b\n"


def test_several_python_blocks_are_joined_in_order() -> None:
    reply = (
        "First the helper:\n```python\ndef helper():\n    return 1\n```\n"
        "Then the class:\n```py\nclass Thing:\n    value = helper\n```\n"
    )
    code = extract_code(reply)
    assert defined_names(code) == ["helper", "Thing"]
    assert "First the helper" not in code


def test_tagged_blocks_win_over_untagged_ones() -> None:
    reply = "```\n$ pip install thing\n```\n```python\ndef tagged():\n    return 2\n```\n"
    assert extract_code(reply) == "def tagged():\n    return 2\n"


def test_untagged_block_is_used_when_no_block_is_tagged_with_the_language() -> None:
    reply = "Output:\n```\ndef untagged():\n    return 3\n```\nDone."
    assert extract_code(reply) == "def untagged():\n    return 3\n"


def test_language_tag_is_case_insensitive_and_may_carry_attributes() -> None:
    reply = '```Python title="add.py"\ndef add(a, b):\n    return a + b\n```\n'
    assert extract_code(reply) == "def add(a, b):\n    return a + b\n"


def test_without_fences_the_whole_reply_is_reduced_to_definitions() -> None:
    reply = "def double(x):\n    return 2 * x\n\n\nresult = double(4)\nprint(result)\n"
    assert extract_code(reply) == "def double(x):\n    return 2 * x\n"


def test_other_languages_take_their_own_block_verbatim() -> None:
    reply = (
        "```python\ndef not_this():\n    pass\n```\n"
        "```js\nfunction add(a, b) { return a + b; }\nconsole.log(add(1, 2));\n```\n"
    )
    assert extract_code(reply, "javascript") == (
        "function add(a, b) { return a + b; }\nconsole.log(add(1, 2));\n"
    )


def test_reply_without_any_definition_gives_no_code() -> None:
    assert extract_code("```python\nprint('hello')\n```\n").strip() == ""


def test_crlf_reply_is_unfenced() -> None:
    reply = "Here:\r\n```python\r\ndef f():\r\n    return 1\r\n```\r\n"
    code = extract_code(reply)
    assert "```" not in code
    assert defined_names(code) == ["f"]


def test_keep_python_definitions_keeps_imports_definitions_and_constants() -> None:
    code = (
        '"""Module docstring from the model."""\n'
        "import os\n"
        "from pathlib import Path\n"
        "LIMIT = 10\n"
        "NAME: str = 'x'\n"
        "logger_name = os.path.basename('a/b')\n"
        "\n"
        "@staticmethod\n"
        "def decorated():\n"
        "    return LIMIT\n"
        "\n"
        "async def fetch():\n"
        "    return Path('.')\n"
        "\n"
        "class Box:\n"
        "    pass\n"
        "\n"
        "example = decorated()\n"
        "for i in range(3):\n"
        "    print(i)\n"
        "assert decorated() == 10\n"
        "if __name__ == '__main__':\n"
        "    decorated()\n"
    )
    kept = keep_python_definitions(code)
    tree = ast.parse(kept)
    assert [type(node).__name__ for node in tree.body] == [
        "Import",
        "ImportFrom",
        "Assign",
        "AnnAssign",
        "Assign",
        "FunctionDef",
        "AsyncFunctionDef",
        "ClassDef",
    ]
    # the decorator travels with its function; calls of the module's own functions do not
    assert "@staticmethod\ndef decorated():" in kept
    assert "logger_name = os.path.basename('a/b')" in kept
    for dropped in ("Module docstring", "example =", "print(i)", "assert", "__main__"):
        assert dropped not in kept


def test_consecutive_imports_stay_together_and_definitions_are_separated_pep8_style() -> None:
    code = "import os\nimport sys\ndef a():\n    return os, sys\nclass B:\n    pass\n"
    assert keep_python_definitions(code) == (
        "import os\nimport sys\n\n\ndef a():\n    return os, sys\n\n\nclass B:\n    pass\n"
    )


def test_code_that_does_not_parse_is_returned_unchanged() -> None:
    broken = "def f(:\n    return 1\nprint(f())\n"
    assert keep_python_definitions(broken) == broken


def test_only_examples_leaves_nothing() -> None:
    assert keep_python_definitions("print(1)\nassert True\n") == ""


def test_guarded_optional_import_is_kept() -> None:
    code = (
        "try:\n"
        "    import numpy as np\n"
        "except ImportError:\n"
        "    np = None\n"
        "\n"
        "\n"
        "def has_numpy():\n"
        "    return np is not None\n"
    )
    assert "import numpy as np" in keep_python_definitions(code)

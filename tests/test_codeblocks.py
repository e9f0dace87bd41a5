"""Getting only the code out of a model's reply: fences, chatter, examples and self-tests."""

from __future__ import annotations

import ast

from frugalflow.generation.replies import extract_code, keep_python_definitions, parse_blocks


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


# -- robust fences ------------------------------------------------------------------------------


def test_unclosed_last_fence_is_read_to_the_end() -> None:
    reply = "Here you go:\n```python\ndef f():\n    return 1\n"  # the model ran out of tokens
    assert extract_code(reply) == "def f():\n    return 1\n"


def test_indented_fence_in_a_list_item_is_dedented() -> None:
    reply = "1. Add this:\n   ```python\n   def f():\n       return 1\n   ```\n"
    assert extract_code(reply) == "def f():\n    return 1\n"


def test_tilde_fences_and_longer_backtick_fences() -> None:
    reply = "~~~python\ndef f():\n    return '```'\n~~~\n````py\ndef g():\n    return 2\n````\n"
    assert defined_names(extract_code(reply)) == ["f", "g"]


def test_unfenced_code_loses_the_prose_around_it() -> None:
    reply = (
        "Sure, here is the function you asked for:\n\n"
        "MAX = 3\n\n\ndef clamp(x):\n    return min(x, MAX)\n\n"
        "This function returns x, but never more than MAX.\nHope this helps!\n"
    )
    assert extract_code(reply) == "MAX = 3\n\n\ndef clamp(x):\n    return min(x, MAX)\n"


def test_unfenced_code_with_a_real_syntax_error_is_kept_whole_for_validation() -> None:
    reply = "Here it is:\ndef f(:\n    return 1\nThat is all.\n"
    assert extract_code(reply) == reply


# -- the file a block names, which tells an untagged block's language ----------------------------


def test_files_named_in_many_ways_are_read_in_order() -> None:
    reply = (
        "I split the work into modules.\n\n"
        "# file: src/shop/prices.py\n"
        "```python\nTAX = 0.2\n```\n"
        "**src/shop/cart.py**\n"
        "```python\nfrom shop.prices import TAX\n\n\ndef total(xs):\n    return sum(xs) * (1 + TAX)\n"
        "\n\nprint(total([1]))\n```\n"
        "### `src/shop/__init__.py`:\n"
        "```py\nfrom shop.cart import total\n```\n"
        "```python title=\"src/shop/format.py\"\ndef money(x):\n    return f'{x:.2f}'\n```\n"
        "```python:src/shop/parse.py\ndef parse(s):\n    return float(s)\n```\n"
        "```python\n# src/shop/round.py\ndef cents(x):\n    return round(x, 2)\n```\n"
        "Create `src/shop/empty.py`:\n"
        "```python\nprint('only an example')\n```\n"
        "Run it:\n```bash\npython -m shop\n```\n"
    )
    blocks = parse_blocks(reply)
    assert [block.path for block in blocks] == [
        "src/shop/prices.py",
        "src/shop/cart.py",
        "src/shop/__init__.py",
        "src/shop/format.py",
        "src/shop/parse.py",
        "src/shop/round.py",
        "src/shop/empty.py",
        None,
    ]
    assert [block.tag for block in blocks][2:4] == ["py", "python"]
    assert blocks[0].body == "TAX = 0.2\n"
    # the comment naming the file is not code
    assert blocks[5].body == "def cents(x):\n    return round(x, 2)\n"


def test_untagged_blocks_of_files_in_other_languages_are_left_out() -> None:
    reply = (
        "**src/add.ts**\n```ts\nexport const add = (a: number, b: number) => a + b;\n```\n"
        "**pyproject.toml**\n```toml\n[project]\nname = 'x'\n```\n"
        "**src/add.js**\n```\nexport const add = (a, b) => a + b;\n```\n"
    )
    assert extract_code(reply, "typescript") == (
        "export const add = (a: number, b: number) => a + b;\n"
    )
    assert extract_code(reply, "javascript") == "export const add = (a, b) => a + b;\n"
    assert extract_code(reply, "python") == "\n"


def test_path_like_chatter_is_not_a_file_name() -> None:
    reply = (
        "Here is src/x.py with the change, see the README.md for details.\n"
        "```python\n# e.g\ndef f():\n    return 1\n```\n"
    )
    assert [block.path for block in parse_blocks(reply)] == [None]
    assert extract_code(reply) == "def f():\n    return 1\n"


def test_a_fence_indented_as_code_is_still_read() -> None:
    reply = "Here:\n\n    ```python\n    def f():\n        return 1\n    ```\n"
    assert extract_code(reply) == "def f():\n    return 1\n"


def test_html_in_the_reply_does_not_hide_a_fence() -> None:
    reply = "<details>\n```python\ndef f():\n    return 1\n```\n</details>\n"
    assert extract_code(reply) == "def f():\n    return 1\n"


def test_reply_with_only_other_languages_gives_no_python() -> None:
    reply = "Install it first:\n```bash\npip install thing\n```\nThen run `thing`.\n"
    assert extract_code(reply) == "\n"


def test_forgotten_imports_are_added_only_when_their_origin_is_certain() -> None:
    from frugalflow.generation.replies import add_missing_imports

    code = (
        "def slug(text):\n"
        "    words = normalize_whitespace(text).split()\n"
        "    return re.sub('-+', '-', '-'.join(words)) + unknown_helper()\n"
    )
    fixed = add_missing_imports(code, {"normalize_whitespace": "textkit.strings"})

    assert fixed.startswith("from textkit.strings import normalize_whitespace\nimport re\n")
    assert "unknown_helper" not in fixed.split("def slug")[0]  # no guess for unknown names
    assert add_missing_imports(fixed, {"normalize_whitespace": "textkit.strings"}) == fixed
    bound = "import re\n\n\ndef f(text):\n    re = 1\n    return re\n"
    assert add_missing_imports(bound, {}) == bound

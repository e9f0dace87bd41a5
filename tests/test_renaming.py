"""The name step: generated definitions renamed to the project's styles, uses included."""

from __future__ import annotations

import ast
from typing import Any

import pytest

from frugalflow.conform.naming import (
    module_file_name,
    rename_to_conventions,
    requested_names,
)
from frugalflow.core.python_source import defined_names
from frugalflow.core.schemas import GenerationContext, NamingConventions
from frugalflow.tasks.name import apply_naming, renamed_names, review_naming

SNAKE = NamingConventions()
CAMEL = NamingConventions(function_style="camelCase", constant_style="camelCase")


def run(code: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(compile(code, "<generated>", "exec"), namespace)
    return namespace


def context(naming: NamingConventions = SNAKE, related: str | None = None) -> GenerationContext:
    return GenerationContext(
        language="python",
        file_layout=("src/shop/orders.py",),
        source_dir="src/shop",
        related_source=related,
        naming=naming,
    )


def test_camel_case_function_and_its_uses_are_renamed_in_a_snake_case_repository() -> None:
    code = '''"""Slugs; makeSlug is the entry point."""

__all__ = ["makeSlug", "slugAll"]


def makeSlug(title: str) -> str:
    """Lowercase and hyphenate; see makeSlug's tests."""
    return "-".join(title.lower().split())


def slugAll(titles: list[str]) -> list[str]:
    return [makeSlug(t) for t in titles] + list(map(makeSlug, []))


class Slugger:
    def slug(self, title: str) -> str:
        return makeSlug(title)
'''

    result = rename_to_conventions(code, SNAKE, protected=set())

    assert result.renames == {"makeSlug": "make_slug", "slugAll": "slug_all"}
    assert "makeSlug" not in result.code and "slugAll" not in result.code
    assert '__all__ = ["make_slug", "slug_all"]' in result.code
    assert '"""Lowercase and hyphenate; see make_slug\'s tests."""' in result.code
    namespace = run(result.code)
    assert namespace["slug_all"](["Hello World"]) == ["hello-world"]
    assert namespace["Slugger"]().slug("A B") == "a-b"
    assert result.skipped == ()


def test_parameters_are_never_renamed() -> None:
    code = "def makeSlug(maxLen, *, sepChar='-'):\n    return sepChar * maxLen\n"

    result = rename_to_conventions(code, SNAKE, protected=set())

    assert result.code == "def make_slug(maxLen, *, sepChar='-'):\n    return sepChar * maxLen\n"
    assert run(result.code)["make_slug"](maxLen=2, sepChar="+") == "++"


def test_a_name_the_request_asked_for_is_kept_even_off_style() -> None:
    code = "def makeSlug(title):\n    return title\n\n\ndef joinWords(words):\n    return ''\n"
    description = "Add a function makeSlug(title) that turns a title into a URL slug"

    new_code, report = apply_naming(code, context(), description)

    assert "def makeSlug(title)" in new_code
    assert "def join_words(words)" in new_code
    assert renamed_names(report) == {"joinWords": "join_words"}
    kept = [f for f in report.findings if f.name in report.checked]
    assert [(f.name, f.suggestion) for f in kept] == [("makeSlug", "make_slug")]


@pytest.mark.parametrize(
    ("description", "names"),
    [
        ("a function slugify(text) and `Cart.addItem`", {"slugify", "Cart", "addItem"}),
        ("Add a class named TextCleaner with a method called stripTags", {"TextCleaner"}),
        ("return 'camelName' from `parse_line(line: str) -> str`", {"camelName", "parse_line"}),
        ('assert makeSlug("Hello World") == "hello-world"', {"makeSlug"}),
    ],
)
def test_requested_names_are_found_in_descriptions_and_examples(
    description: str, names: set[str]
) -> None:
    assert names <= requested_names(description)


def test_a_protected_existing_name_is_never_renamed() -> None:
    code = "def parseLine(line):\n    return line\n\n\ndef useIt(x):\n    return parseLine(x)\n"

    result = rename_to_conventions(code, SNAKE, protected={"parseLine"})

    assert "def parseLine(line)" in result.code and "return parseLine(x)" in result.code
    assert result.renames == {"useIt": "use_it"}
    [skipped] = result.skipped
    assert (skipped.name, skipped.suggestion) == ("parseLine", "parse_line")
    assert "protected" in skipped.reason


def test_the_target_modules_names_are_protected_through_the_context() -> None:
    existing = "def totalPrice(prices):\n    return sum(prices)\n"
    code = "def totalPrice(prices):\n    return 0\n\n\ndef addTax(price):\n    return price\n"

    new_code, report = apply_naming(code, context(related=existing), "add tax to a price")

    assert "def totalPrice(prices)" in new_code and "def add_tax(price)" in new_code
    assert renamed_names(report) == {"addTax": "add_tax"}


def test_a_rename_that_would_collide_is_reported_not_done() -> None:
    code = (
        "def make_slug(title):\n    return title\n\n\n"
        "def makeSlug(title):\n    return make_slug(title).lower()\n"
    )

    result = rename_to_conventions(code, SNAKE, protected=set())

    assert result.code == code
    assert result.renames == {}
    [skipped] = result.skipped
    assert skipped.name == "makeSlug" and "already used" in skipped.reason

    _, report = apply_naming(code, context(), "slugs")
    assert renamed_names(report) == {}
    assert [f.name for f in report.findings] == ["makeSlug"]


def test_a_rename_onto_a_protected_or_builtin_name_is_a_collision() -> None:
    code = "def makeSlug(t):\n    return t\n\n\nclass sorted_list:\n    pass\n"

    result = rename_to_conventions(code, SNAKE, protected={"make_slug"})

    assert result.renames == {"sorted_list": "SortedList"}
    assert [s.name for s in result.skipped] == ["makeSlug"]

    builtin = rename_to_conventions("def Print(x):\n    return x\n", SNAKE, protected=set())
    assert builtin.renames == {} and "Python" in builtin.skipped[0].reason


def test_a_name_also_used_in_a_string_is_left_alone() -> None:
    code = "def makeSlug(t):\n    return t\n\n\ndef call(name):\n    return globals()['makeSlug']\n"

    result = rename_to_conventions(code, SNAKE, protected=set())

    assert result.code == code
    assert "string" in result.skipped[0].reason


def test_class_names_become_pascal_case_everywhere_they_are_used() -> None:
    code = """from dataclasses import dataclass


@dataclass
class slug_maker:
    sep: str = "-"

    def copy(self) -> "slug_maker":
        return slug_maker(self.sep)


def build(existing: slug_maker | None = None) -> slug_maker:
    made = existing or slug_maker()
    assert isinstance(made, slug_maker)
    return made.copy()
"""

    result = rename_to_conventions(code, SNAKE, protected=set())

    assert result.renames == {"slug_maker": "SlugMaker"}
    assert "slug_maker" not in result.code
    assert 'def copy(self) -> "SlugMaker":' in result.code
    assert type(run(result.code)["build"]()).__name__ == "SlugMaker"


def test_module_constants_follow_the_constant_style() -> None:
    code = (
        "maxLength = 40\ncache = {}\n\n\n"
        "def clip(text):\n    cache[text] = 1\n    return text[:maxLength]\n"
    )

    result = rename_to_conventions(code, SNAKE, protected=set())

    assert result.renames == {"maxLength": "MAX_LENGTH"}
    assert "MAX_LENGTH = 40" in result.code and "text[:MAX_LENGTH]" in result.code
    assert "cache = {}" in result.code  # module state, not a constant
    assert run(result.code)["clip"]("x" * 50) == "x" * 40

    camel = rename_to_conventions("MAX_LEN = 3\nSIZE = MAX_LEN * 2\n", CAMEL, protected=set())
    # SIZE is computed, so it is a variable rather than a constant: only MAX_LEN is renamed.
    assert camel.code == "maxLen = 3\nSIZE = maxLen * 2\n"


def test_methods_are_renamed_with_their_calls_on_known_instances() -> None:
    code = """class Basket:
    def __init__(self):
        self.items = []

    def addItem(self, item):
        self.items.append(item)
        return self

    @property
    def itemCount(self):
        return len(self.items)

    def merged(self, other: "Basket"):
        for item in other.items:
            self.addItem(item)
        return self


def fill(names):
    basket = Basket()
    for name in names:
        basket.addItem(name)
    combined = Basket().addItem("x").merged(basket)
    return basket.itemCount + len(combined.items)
"""

    result = rename_to_conventions(code, SNAKE, protected=set())

    assert result.renames == {"Basket.addItem": "add_item", "Basket.itemCount": "item_count"}
    assert "addItem" not in result.code and "itemCount" not in result.code
    assert run(result.code)["fill"](["a", "b"]) == 5


def test_methods_that_may_override_or_be_called_on_unknown_objects_are_kept() -> None:
    code = """import unittest


class SlugTest(unittest.TestCase):
    def setUp(self):
        self.value = 1


class Tree:
    def addChild(self, child):
        return child


def grow(node):
    return node.addChild(None)
"""

    result = rename_to_conventions(code, SNAKE, protected=set())

    assert result.code == code
    reasons = {s.name: s.reason for s in result.skipped}
    assert "inherits from TestCase" in reasons["SlugTest.setUp"]
    assert "unknown class" in reasons["Tree.addChild"]


def test_dunders_and_fitting_names_are_left_alone_and_bad_code_is_returned_as_is() -> None:
    code = "__version__ = '1'\n\n\nclass A:\n    def __init__(self):\n        pass\n"

    assert rename_to_conventions(code, SNAKE, protected=set()).code == code
    assert rename_to_conventions("def oops(:\n", SNAKE, protected=set()).code == "def oops(:\n"


def test_renaming_in_a_camel_case_repository() -> None:
    code = "def make_slug(title):\n    return title\n\n\nresult = make_slug('A')\n"

    new_code, report = apply_naming(code, context(CAMEL), "slugs")

    assert new_code == "def makeSlug(title):\n    return title\n\n\nresult = makeSlug('A')\n"
    assert report.checked == ("makeSlug",)
    assert review_naming(new_code, context(CAMEL)).findings == ()


def test_module_file_names_follow_the_module_style() -> None:
    assert module_file_name("TextCleaner", SNAKE) == "text_cleaner.py"
    assert module_file_name("make_slug", NamingConventions(module_style="camelCase")) == (
        "makeSlug.py"
    )
    assert module_file_name("parseHTTP", NamingConventions(module_style="other")) == "parse_http.py"


def test_defined_names_of_the_users_module() -> None:
    names = defined_names(
        "import os\nfrom x import y as z\nA = 1\n\n\nclass B:\n    def c(self): ...\n"
    )

    assert {"os", "z", "A", "B", "c"} <= names
    assert defined_names("def broken(:") == set()


def test_renamed_code_is_valid_python() -> None:
    code = "def getItems():\n    return [getItems]\n\n\nclass item_list(list):\n    pass\n"

    result = rename_to_conventions(code, SNAKE, protected=set())

    ast.parse(result.code)
    assert result.renames == {"getItems": "get_items", "item_list": "ItemList"}

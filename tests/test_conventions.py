"""Naming and docstring conventions: detected from the repository, checked on new code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from frugalflow.conform.docstring_check import check_documentation
from frugalflow.context import (
    check_naming,
    convert_name,
    detect_naming_conventions,
    style_of,
)
from frugalflow.context.analysis import list_repository_files
from frugalflow.core.schemas import NamingConventions

MakeRepo = Callable[..., Path]

SNAKE_MODULE = '''"""Orders."""

MAX_ITEMS = 50
DEFAULT_CURRENCY = "EUR"


class OrderBook:
    def add_order(self, order_id: int) -> None:
        self.last_order = order_id

    def __len__(self) -> int:
        return 0


def total_price(prices: list[float]) -> float:
    return sum(prices)


def parse_order_line(line: str) -> str:
    return line.strip()
'''

CAMEL_MODULE = '''"""Orders, Java-style."""

maxItems = 50
defaultCurrency = "EUR"


class OrderBook:
    def addOrder(self, orderId: int) -> None:
        self.lastOrder = orderId

    def render(self) -> str:
        return ""


def totalPrice(prices):
    return sum(prices)


def parseOrderLine(line):
    return line.strip()
'''


@pytest.mark.parametrize(
    ("name", "style"),
    [
        ("make_slug", "snake_case"),
        ("_private_helper", "snake_case"),
        ("slugify", "snake_case"),
        ("makeSlug", "camelCase"),
        ("TextCleaner", "PascalCase"),
        ("HTTPServer", "PascalCase"),
        ("MAX_LENGTH", "UPPER_SNAKE_CASE"),
        ("__DEFAULT", "UPPER_SNAKE_CASE"),
        ("make_Slug", "other"),
        ("___", "other"),
    ],
)
def test_style_of_names(name: str, style: str) -> None:
    assert style_of(name) == style


@pytest.mark.parametrize(
    ("name", "style", "converted"),
    [
        ("makeSlug", "snake_case", "make_slug"),
        ("_makeSlug", "snake_case", "_make_slug"),
        ("parseHTTPResponse", "snake_case", "parse_http_response"),
        ("make_slug", "camelCase", "makeSlug"),
        ("text_cleaner", "PascalCase", "TextCleaner"),
        ("maxLength", "UPPER_SNAKE_CASE", "MAX_LENGTH"),
        ("base64Encode", "snake_case", "base64_encode"),
    ],
)
def test_convert_name(name: str, style: str, converted: str) -> None:
    assert convert_name(name, style) == converted


def test_detects_snake_case_repository(make_git_repo: MakeRepo) -> None:
    repo = make_git_repo({"shop/__init__.py": "", "shop/order_book.py": SNAKE_MODULE})

    conventions = detect_naming_conventions(repo, list_repository_files(repo))

    assert conventions == NamingConventions(
        function_style="snake_case",
        class_style="PascalCase",
        constant_style="UPPER_SNAKE_CASE",
        module_style="snake_case",
        samples=conventions.samples,
    )
    assert conventions.samples >= 7


def test_detects_camel_case_repository(make_git_repo: MakeRepo) -> None:
    repo = make_git_repo(
        {
            "shop/orderBook.py": CAMEL_MODULE,
            "shop/priceList.py": "def listPrices():\n    return []\n",
            "shop/broken.py": "def oops(:\n",
        }
    )

    conventions = detect_naming_conventions(repo, list_repository_files(repo))

    assert conventions.function_style == "camelCase"
    assert conventions.class_style == "PascalCase"
    assert conventions.constant_style == "camelCase"
    assert conventions.module_style == "camelCase"


def test_repository_without_python_gets_the_defaults(make_git_repo: MakeRepo) -> None:
    repo = make_git_repo({"index.js": "export const x = 1;\n"})

    conventions = detect_naming_conventions(repo, list_repository_files(repo))

    assert conventions == NamingConventions()


def test_camel_case_functions_in_a_snake_case_repository_are_flagged() -> None:
    code = (
        "SLUG_SEPARATOR = '-'\n\n\n"
        "def makeSlug(title):\n    return title\n\n\n"
        "def slugify(text):\n    return text\n\n\n"
        "class slug_maker:\n"
        "    def __init__(self):\n        self.count = 0\n\n"
        "    def __repr__(self):\n        return 'slug_maker()'\n\n"
        "    def joinParts(self, parts):\n        return '-'.join(parts)\n"
    )

    report = check_naming(code, NamingConventions())

    found = {(f.name, f.kind, f.expected_style, f.suggestion) for f in report.findings}
    assert found == {
        ("makeSlug", "function", "snake_case", "make_slug"),
        ("slug_maker", "class", "PascalCase", "SlugMaker"),
        ("slug_maker.joinParts", "method", "snake_case", "join_parts"),
    }
    assert "slugify" in report.checked
    assert "SLUG_SEPARATOR" in report.checked
    assert not any("__" in name for name in report.checked)


def test_snake_case_code_passes_in_a_snake_case_repository() -> None:
    code = "MAX_LEN = 80\n\n\ndef make_slug(title):\n    return title[:MAX_LEN]\n"

    assert check_naming(code, NamingConventions()).findings == ()


def test_constants_follow_the_repository_constant_style() -> None:
    code = "maxLength = 80\nlogger = object()\n"

    report = check_naming(code, NamingConventions())

    assert [(f.name, f.suggestion) for f in report.findings] == [("maxLength", "MAX_LENGTH")]


def test_snake_case_function_in_a_camel_case_repository_is_flagged() -> None:
    camel = NamingConventions(function_style="camelCase", constant_style="camelCase")
    code = "def make_slug(title):\n    return title\n\n\ndef render():\n    return ''\n"

    report = check_naming(code, camel)

    assert [(f.name, f.suggestion) for f in report.findings] == [("make_slug", "makeSlug")]


def test_unparsable_code_has_nothing_to_check() -> None:
    assert check_naming("def broken(:\n", NamingConventions()).checked == ()
    assert check_documentation("def broken(:\n").public_names == ()


def test_documentation_lists_undocumented_public_names_only() -> None:
    code = '''
def slugify(text):
    """Turn text into a URL slug."""
    return text


def make_slug(title):
    return title


def _helper():
    return None


class Slugger:
    """Makes slugs."""

    def __init__(self):
        self.count = 0

    def slug(self, text):
        return text

    def _cache(self):
        return {}


class _Internal:
    def run(self):
        return None
'''

    report = check_documentation(code)

    assert report.public_names == ("slugify", "make_slug", "Slugger", "Slugger.slug")
    assert report.missing_docstrings == ("make_slug", "Slugger.slug")
    assert report.completeness == 0.5


def test_a_property_and_its_setter_count_once_for_documentation() -> None:
    code = '''
class Cart:
    """A cart."""

    @property
    def size(self):
        """How many items."""
        return 0

    @size.setter
    def size(self, value):
        pass
'''

    report = check_documentation(code)

    assert report.public_names == ("Cart", "Cart.size")
    assert report.missing_docstrings == ()

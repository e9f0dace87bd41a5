"""The document step: docstrings in the project's style, from a model, checked before use."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from frugalflow.conform.docstring_check import check_docstring, check_documentation
from frugalflow.conform.docstring_style import detect_docstring_style, parse_docstring
from frugalflow.conform.docstrings import document_code
from frugalflow.conform.signatures import signature_of
from frugalflow.context.analysis import list_repository_files
from frugalflow.core.errors import ProviderTimeoutError
from frugalflow.providers.base import ChatMessage
from frugalflow.tasks.document import document, review_documentation

MakeRepo = Callable[..., Path]

GOOGLE_MODULE = '''"""Prices."""


def total(prices: list[float], tax: float) -> float:
    """Add up prices.

    Args:
        prices: the prices.
        tax: the tax rate.

    Returns:
        The total.
    """
    return sum(prices) * (1 + tax)


def rounded(price):
    """Round a price."""
    return round(price, 2)
'''

NUMPY_MODULE = '''def total(prices, tax):
    """Add up prices.

    Parameters
    ----------
    prices : list of float
        The prices.
    tax : float
        The tax rate.

    Returns
    -------
    float
        The total.
    """
    return sum(prices) * (1 + tax)
'''

REST_MODULE = '''def total(prices, tax):
    """Add up prices.

    :param prices: the prices.
    :param tax: the tax rate.
    :returns: the total.
    """
    return sum(prices) * (1 + tax)
'''

PLAIN_MODULE = '''"""Prices."""


def total(prices, tax):
    """Add up prices, tax included."""
    return sum(prices) * (1 + tax)


def rounded(price):
    """Round a price to cents."""
    return round(price, 2)
'''

SLUGIFY = """import re


def slugify(text: str, separator: str = "-") -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return separator.join(words)


def log_slug(text):
    print(slugify(text))
"""


def scripted(replies: dict[str, str]) -> Callable[[list[ChatMessage]], str]:
    """A fake model: answers with the reply scripted for the definition it is shown."""

    def complete(messages: list[ChatMessage]) -> str:
        shown = re.search(r"(?:def|class) (\w+)", messages[-1].content)
        assert shown is not None, messages[-1].content
        complete.asked.append(shown.group(1))  # type: ignore[attr-defined]
        return replies[shown.group(1)]

    complete.asked = []  # type: ignore[attr-defined]
    return complete


GOOD_SLUGIFY = """Turn text into a URL slug.

Args:
    text: the text to turn into a slug.
    separator: what goes between the words.

Returns:
    The slug.
"""


@pytest.mark.parametrize(
    ("files", "style"),
    [
        ({"shop/prices.py": GOOGLE_MODULE}, "google"),
        ({"shop/prices.py": NUMPY_MODULE}, "numpy"),
        ({"shop/prices.py": REST_MODULE}, "rest"),
        ({"shop/prices.py": PLAIN_MODULE}, "plain"),
        ({"shop/prices.py": "def total(p):\n    return p\n"}, "google"),  # nothing to learn from
    ],
)
def test_the_projects_docstring_style_is_detected(
    make_git_repo: MakeRepo, files: dict[str, str], style: str
) -> None:
    repo = make_git_repo({**files, ".venv/lib/other.py": NUMPY_MODULE})

    assert detect_docstring_style(repo, list_repository_files(repo)) == style


def test_a_good_docstring_is_inserted_in_the_projects_style() -> None:
    complete = scripted({"slugify": GOOD_SLUGIFY, "log_slug": "Print the slug of a text."})

    result = document_code(SLUGIFY, "numpy", complete)

    assert result.added == ["slugify"]
    assert result.rejected == ["log_slug"]  # numpy documents parameters; text is missing
    tree = ast.parse(result.code)
    slugify = tree.body[1]
    assert isinstance(slugify, ast.FunctionDef)
    assert ast.get_docstring(slugify) == (
        "Turn text into a URL slug.\n\n"
        "Parameters\n----------\ntext : str\n    the text to turn into a slug.\n"
        "separator : str\n    what goes between the words.\n\n"
        "Returns\n-------\nstr\n    The slug."
    )
    assert '    """Turn text into a URL slug.\n\n    Parameters\n    ----------\n' in result.code
    assert result.code.endswith(
        '    """\n    words = re.findall(r"[a-z0-9]+", text.lower())'
        "\n    return separator.join(words)\n\n\n"
        "def log_slug(text):\n    print(slugify(text))\n"
    )


def test_a_reply_wrapped_in_a_repeated_definition_is_read() -> None:
    reply = (
        'Sure! Here it is:\n```python\ndef slugify(text: str, separator: str = "-") -> str:\n'
        '    """\n    Turn text into a URL slug.\n\n    Args:\n    text (str): the text.\n'
        '    separator (str): the separator.\n\n    Returns:\n    str: The slug.\n    """\n'
        "    return text\n```"
    )
    complete = scripted({"slugify": reply, "log_slug": "Print a slug.\n\nArgs:\n    text: a text."})

    result = document_code(SLUGIFY, "google", complete)

    assert result.added == ["slugify", "log_slug"]
    docs = [ast.get_docstring(n) for n in ast.parse(result.code).body[1:]]
    assert docs == [
        "Turn text into a URL slug.\n\nArgs:\n    text: the text.\n"
        "    separator: the separator.\n\nReturns:\n    The slug.",
        "Print a slug.\n\nArgs:\n    text: a text.",
    ]


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (GOOD_SLUGIFY.replace("separator:", "sep:"), "'sep', which is not a parameter"),
        ("Turn text into a slug.\n\nArgs:\n    text: the text.\n", "does not document"),
        (":param text: x\n:param separator: y\n:param lower: z", "'lower', which is not"),
        ("Slug.\n\nArgs:\n    text: ...\n    separator: ...", "placeholders"),
        (GOOD_SLUGIFY + "\nRaises:\n    KeyError: never.", "raising KeyError"),
        ("", "no readable docstring"),
    ],
)
def test_a_docstring_that_does_not_match_the_signature_is_rejected(
    reply: str, problem: str
) -> None:
    complete = scripted({"slugify": reply, "log_slug": "Print a slug.\n\nArgs:\n    text: a."})

    result = document_code(SLUGIFY, "google", complete)

    assert result.added == ["log_slug"]
    assert result.rejected == ["slugify"]
    assert problem in result.reasons["slugify"]
    slugify = ast.parse(result.code).body[1]
    assert isinstance(slugify, ast.FunctionDef) and ast.get_docstring(slugify) is None


def test_a_returns_section_for_a_function_returning_nothing_is_rejected() -> None:
    complete = scripted(
        {
            "slugify": GOOD_SLUGIFY,
            "log_slug": "Print a slug.\n\nArgs:\n    text: a text.\n\nReturns:\n    None",
        }
    )

    result = document_code(SLUGIFY, "google", complete)

    assert result.added == ["slugify"]
    assert "returns nothing" in result.reasons["log_slug"]
    assert "def log_slug(text):\n    print(slugify(text))\n" in result.code


def test_completeness_is_measured_before_and_after() -> None:
    complete = scripted({"slugify": GOOD_SLUGIFY, "log_slug": "Print a slug."})

    result = document_code(SLUGIFY, "plain", complete)

    assert result.before.completeness == 0.0
    assert result.after.completeness == 1.0
    assert result.after == check_documentation(result.code) == review_documentation(result.code)
    # Plain style keeps only the summary.
    assert '    """Turn text into a URL slug."""\n' in result.code


def test_methods_classes_and_one_line_bodies_are_indented_and_quoted() -> None:
    code = (
        "class Cart:\n"
        "    def __init__(self):\n        self.items = []\n\n"
        "    def count(self): return len(self.items)\n\n"
        '    def path(self):\n        return "C:\\\\temp"\n\n'
        "    def _hidden(self):\n        return 1\n"
    )
    complete = scripted(
        {
            "Cart": "A cart.\n\nArgs:\n    basket: not a parameter, but dropped for a class.",
            "count": 'How many items the cart holds.\n\nReturns:\n    The count, "quoted".',
            "path": "Where carts live: C:\\temp.\n\nReturns:\n    The path.",
        }
    )

    result = document_code(code, "google", complete)

    assert complete.asked == ["Cart", "count", "path"]  # type: ignore[attr-defined]
    assert result.added == ["Cart", "Cart.count", "Cart.path"]
    assert 'class Cart:\n    """A cart."""\n\n    def __init__' in result.code
    assert (
        '    def count(self):\n        """How many items the cart holds.\n\n'
        '        Returns:\n            The count, "quoted".\n        """\n'
        "        return len(self.items)\n"
    ) in result.code
    cart = ast.parse(result.code).body[0]
    assert isinstance(cart, ast.ClassDef)
    path = cart.body[3]
    assert isinstance(path, ast.FunctionDef)
    assert ast.get_docstring(path) == "Where carts live: C:\\temp.\n\nReturns:\n    The path."
    assert result.after.missing_docstrings == ()


def test_a_correct_docstring_is_kept_and_a_wrong_one_replaced() -> None:
    code = (
        'def slugify(text):\n    """Make a slug.\n\n    Args:\n        text: the text.\n\n'
        '    Returns:\n        The slug.\n    """\n    return text\n\n\n'
        'def shout(text):\n    """Shout.\n\n    Args:\n        words: wrong name.\n    """\n'
        "    return text.upper()\n"
    )
    complete = scripted(
        {"shout": "Shout a text.\n\nArgs:\n    text: the text.\n\nReturns:\n    It."}
    )

    result = document_code(code, "google", complete)

    assert complete.asked == ["shout"]  # type: ignore[attr-defined]
    assert result.added == ["shout"]
    docs = [ast.get_docstring(n) for n in ast.parse(result.code).body]
    assert docs[0] == "Make a slug.\n\nArgs:\n    text: the text.\n\nReturns:\n    The slug."
    assert docs[1] == "Shout a text.\n\nArgs:\n    text: the text.\n\nReturns:\n    It."


def test_a_failing_model_leaves_the_code_unchanged() -> None:
    def complete(messages: list[ChatMessage]) -> str:
        raise ProviderTimeoutError("too slow", provider="fake")

    result = document_code(SLUGIFY, "google", complete)

    assert result.code == SLUGIFY
    assert result.added == [] and result.rejected == ["slugify", "log_slug"]
    assert "too slow" in result.reasons["slugify"]


@pytest.mark.parametrize(
    ("docstring", "style", "problems"),
    [
        ("Make.\n\n:param text: t\n:type text: str\n:returns: r", "rest", []),
        ("Make.\n\n:param text: t\n:type txt: str\n:returns: r", "rest", ["'txt'"]),
        ("Make.\n\nParameters\n----------\ntext : str\n    The text.", "google", ["numpy"]),
        ("Make a slug.", "plain", []),
        ("Make a slug.", "google", ["does not document parameter 'text'"]),
    ],
)
def test_check_docstring(docstring: str, style: str, problems: list[str]) -> None:
    tree = ast.parse("def slugify(text) -> str:\n    return text\n")
    node = tree.body[0]
    assert isinstance(node, ast.FunctionDef)

    found = check_docstring(docstring, signature_of(node), style)

    assert len(found) == len(problems)
    for problem, message in zip(problems, found, strict=True):
        assert problem in message


def test_self_and_star_arguments_need_no_documentation() -> None:
    tree = ast.parse("class A:\n    def run(self, job, *args, **kwargs):\n        pass\n")
    cls = tree.body[0]
    assert isinstance(cls, ast.ClassDef) and isinstance(cls.body[0], ast.FunctionDef)
    signature = signature_of(cls.body[0], method=True)

    assert signature.required == ("job",)
    assert not signature.returns_value
    assert (
        check_docstring("Run.\n\nArgs:\n    job: a job.\n    **kwargs: more.", signature, "google")
        == []
    )
    assert parse_docstring("Run.\n\nArgs:\n    self: me.").parameters[0].name == "self"
    assert (
        "'self'"
        in check_docstring("Run.\n\nArgs:\n    self: me.\n    job: j.", signature, "google")[0]
    )


def test_the_document_task_wraps_document_code() -> None:
    complete = scripted(
        {"slugify": GOOD_SLUGIFY, "log_slug": "Print a slug.\n\nArgs:\n    text: a."}
    )

    result = document.fn(SLUGIFY, "google", complete)

    assert result.value.added == ["slugify", "log_slug"]


@pytest.mark.model
def test_the_embedded_model_documents_a_function_and_the_check_holds() -> None:
    from frugalflow.core.settings import load_settings
    from frugalflow.providers.llamacpp import LlamaCppProvider

    provider = LlamaCppProvider(load_settings())
    replies: list[str] = []

    def complete(messages: list[ChatMessage]) -> str:
        text = provider.complete(
            "qwen2.5-coder-0.5b-instruct", messages, max_tokens=200, temperature=0
        ).text
        replies.append(text)
        return text

    code = "def count_words(text: str) -> int:\n    return len(text.split())\n"

    result = document_code(code, "google", complete)

    assert len(replies) == 1
    assert sorted(result.added + result.rejected) == ["count_words"]
    tree = ast.parse(result.code)  # the code still parses, whatever the model said
    node = tree.body[0]
    assert isinstance(node, ast.FunctionDef)
    docstring = ast.get_docstring(node)
    if result.added:
        assert docstring is not None
        assert check_docstring(docstring, signature_of(node), "google") == []
        assert result.after.completeness == 1.0
    else:
        assert result.code == code and docstring is None
        assert result.reasons["count_words"]

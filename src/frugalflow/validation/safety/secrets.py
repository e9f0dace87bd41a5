"""Secrets in code: strings shaped like well-known keys, and literals assigned to secret names.

Read by :mod:`frugalflow.validation.safety.check` for every language. Messages never repeat a secret: only its
first characters and its length.
"""

from __future__ import annotations

import ast
import math
import re
from collections import Counter

from frugalflow.core.schemas import ValidationIssue

CHECK = "safety"

_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"sk-ant-[A-Za-z0-9_-]{8,}"), "an Anthropic API key"),
    (re.compile(r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}"), "an OpenAI API key"),
    (re.compile(r"sk-[A-Za-z0-9]{20,}"), "an OpenAI-style API key"),
    (re.compile(r"AIza[0-9A-Za-z_-]{35}"), "a Google API key"),
    (re.compile(r"gh[pousr]_[A-Za-z0-9]{20,}"), "a GitHub token"),
    (re.compile(r"github_pat_[A-Za-z0-9_]{20,}"), "a GitHub token"),
    (re.compile(r"(?:AKIA|ASIA)[0-9A-Z]{16}"), "an AWS access key id"),
    (re.compile(r"xox[abposr]-[A-Za-z0-9-]{10,}"), "a Slack token"),
    (re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----"), "a private key"),
)
_SECRET_NAME = re.compile(r"(?:^|_)(key|token|secret|password|passwd|pwd|pass)$")
_PASSWORD_WORDS = frozenset({"password", "passwd", "pwd", "pass"})
_PLACEHOLDER_WORDS = (
    "your",
    "xxx",
    "example",
    "placeholder",
    "changeme",
    "change_me",
    "dummy",
    "fake",
    "redacted",
    "replace",
    "...",
    "***",
    "<",
    "{",
    "$",
)
_TEXT_ASSIGNMENT = re.compile(
    r"""([A-Za-z_$][\w$]*)["']?\s*(?::|=|:=|=>)\s*(["'`])([^"'`\n]{6,200})\2"""
)


def _masked(secret: str) -> str:
    return f"`{secret[:4]}…` ({len(secret)} characters)"


def _secret_message(what: str, secret: str) -> str:
    return (
        f"secret in the code: a string that looks like {what}, {_masked(secret)}. Keys and"
        " passwords must not be committed; read it from the environment (os.environ) or a"
        " secret store instead."
    )


def find_secrets(code: str, language: str = "python") -> list[ValidationIssue]:
    """Strings shaped like well-known keys, anywhere in the code (comments included)."""
    issues: list[ValidationIssue] = []
    for number, line in enumerate(code.splitlines(), start=1):
        for pattern, what in _SECRET_PATTERNS:
            found = pattern.search(line)
            if found:
                issues.append(
                    ValidationIssue(
                        check=CHECK, message=_secret_message(what, found.group()), line=number
                    )
                )
                break
        else:
            if language != "python":  # Python's assignments are read from the syntax tree
                issues += _text_assignments(line, number)
    return issues


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _looks_like_secret(name: str, value: str) -> bool:
    """A value that is plausibly a real secret for a name like ``API_KEY`` or ``password``."""
    matched = _SECRET_NAME.search(_snake(name))
    if not matched or any(space in value for space in " \t\n"):
        return False
    lowered = value.lower()
    if any(word in lowered for word in _PLACEHOLDER_WORDS):
        return False
    if re.fullmatch(r"[A-Z][A-Z0-9_]*", value) or value.startswith(("http:", "https:", "/")):
        return False  # the name of an environment variable, a URL, a path
    if matched.group(1) in _PASSWORD_WORDS:
        return len(value) >= 6 and len(set(value)) >= 4
    return len(value) >= 16 and _entropy(value) >= 3.0


def _assignment_issue(name: str, value: str, line: int | None) -> ValidationIssue:
    return ValidationIssue(
        check=CHECK,
        message=(
            f"secret in the code: `{name}` is set to a literal that looks like a real secret,"
            f" {_masked(value)}. Keys and passwords must not be committed; read it from the"
            " environment (os.environ) or a secret store instead."
        ),
        line=line,
    )


def _text_assignments(line: str, number: int) -> list[ValidationIssue]:
    return [
        _assignment_issue(found.group(1), found.group(3), number)
        for found in _TEXT_ASSIGNMENT.finditer(line)
        if _looks_like_secret(found.group(1), found.group(3))
    ]


def _target_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a dict key
        return node.value
    return None


def secret_assignments(tree: ast.Module) -> list[ValidationIssue]:
    """``API_KEY = "..."``, ``Client(api_key="...")``, ``{"password": "..."}``."""
    pairs: list[tuple[str | None, ast.expr | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            pairs += [(_target_name(target), node.value) for target in node.targets]
        elif isinstance(node, ast.AnnAssign):
            pairs.append((_target_name(node.target), node.value))
        elif isinstance(node, ast.keyword) and node.arg:
            pairs.append((node.arg, node.value))
        elif isinstance(node, ast.Dict):
            pairs += [
                (_target_name(k), v) for k, v in zip(node.keys, node.values, strict=True) if k
            ]
        elif isinstance(node, ast.arguments):
            positional = [*node.posonlyargs, *node.args]
            defaults = zip(
                positional[len(positional) - len(node.defaults) :], node.defaults, strict=True
            )
            pairs += [(arg.arg, value) for arg, value in defaults]
            pairs += [
                (arg.arg, value)
                for arg, value in zip(node.kwonlyargs, node.kw_defaults, strict=True)
                if value
            ]
    return [
        _assignment_issue(name, value.value, value.lineno)
        for name, value in pairs
        if name
        and isinstance(value, ast.Constant)
        and isinstance(value.value, str)
        and _looks_like_secret(name, value.value)
    ]

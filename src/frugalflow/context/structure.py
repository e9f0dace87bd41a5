"""Where things live in a repository: its layout, its tests, and where a new module belongs."""

from __future__ import annotations

import ast
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from pathlib import PurePosixPath

from frugalflow.context.facts import FileFacts
from frugalflow.context.naming_stats import dominant_test_pattern
from frugalflow.core.schemas import StructureConventions

# Tests "mirror" modules when at least this share is named after a module.
_MIRRORED_SHARE = 0.5


def python_module_name(path: str) -> str | None:
    """The dotted name a Python file is imported by (``src/textkit/strings.py`` ->
    ``textkit.strings``), or None for a file that is not a ``.py`` module."""
    pure = PurePosixPath(path)
    if pure.suffix != ".py":
        return None
    parts = list(pure.with_suffix("").parts)
    if len(parts) > 1 and parts[0] == "src":
        parts = parts[1:]  # the src layout: src/ itself is not a package
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or None


def import_line(path: str, name: str, language: str) -> str | None:
    """How new code imports ``name`` from the file at ``path``; None when it cannot."""
    if language == "python":
        module = python_module_name(path)
        return f"from {module} import {name}" if module else None
    stem = str(PurePosixPath(path).with_suffix(""))
    return f'import {{ {name} }} from "./{stem}";'


def _tested_module(name: str) -> str:
    """The module a test file is named after: ``test_strings.py`` and ``strings.test.ts`` ->
    ``strings``."""
    return name.split(".", 1)[0].removeprefix("test_").removesuffix("_test")


def describe_structure(
    files: Sequence[tuple[str, FileFacts]],
    language: str,
    tests: frozenset[str],
    source_dir: str,
) -> StructureConventions:
    """Describe a repository's structure for one language.

    Args:
        files: (repo-relative path, facts) of the repository's own files.
        language: the language new code will be written in.
        tests: the paths among ``files`` that are tests.
        source_dir: where new modules belong (:func:`frugalflow.context.analysis.find_source_dir`).

    Returns:
        The layout (``src``, ``flat``, ``scripts``), the main package, where tests live and
        how they are named, whether they mirror modules, how many functions and classes a
        module holds (median), and ``source_dir`` as the new module's home.
    """
    own = [(path, facts) for path, facts in files if facts.language == language]
    source = [(p, f) for p, f in own if p not in tests]
    test_paths = [p for p, _ in own if p in tests]
    parts = source_dir.split("/") if source_dir != "." else []
    packaged = any(PurePosixPath(p).name == "__init__.py" for p, _ in source)
    if parts and parts[0] == "src":
        layout = "src"
    elif parts and (packaged or language != "python"):
        layout = "flat"
    else:
        layout = "scripts"
    package = None
    if layout == "src":
        package = parts[1] if len(parts) > 1 else None
    elif layout == "flat":
        package = parts[0]
    tests_dir = None
    if test_paths:
        homes = Counter(str(PurePosixPath(p).parent) for p in test_paths)
        tests_dir = homes.most_common(1)[0][0]
    pattern = dominant_test_pattern([PurePosixPath(p).name for p in test_paths])
    module_names = {PurePosixPath(p).name.split(".", 1)[0] for p, _ in source}
    mirrored = sum(_tested_module(PurePosixPath(p).name) in module_names for p in test_paths)
    counts = [
        sum(1 for d in facts.definitions if d.kind in ("function", "class"))
        for path, facts in source
        if not path.endswith("__init__.py")
    ]
    return StructureConventions(
        layout=layout,
        package=package,
        tests_dir=tests_dir,
        test_file_pattern=pattern[0] if pattern else None,
        tests_mirror_modules=bool(test_paths) and mirrored / len(test_paths) >= _MIRRORED_SHARE,
        definitions_per_module=float(statistics.median(counts)) if counts else 0.0,
        new_module_dir=source_dir,
    )


def source_root(structure: StructureConventions) -> str:
    """The directory the project's importable code lives under (``src/pkg``, ``pkg``, ``.``)."""
    if structure.layout == "src":
        return f"src/{structure.package}" if structure.package else "src"
    return structure.package or "."


def one_line_signature(signature: str, limit: int = 160) -> str:
    """A ``def``/``class`` header on one line, decorators left out, defaults shown as ``...``.

    A default's value is left out on purpose: shown ``separator=DEFAULT_SEPARATOR``, the 0.5B
    passed every default back in its call (``bench/context_effect.py``), names it never
    imported included. A header that does not parse alone is joined as written.
    """
    lines = [line.strip() for line in signature.splitlines() if not line.lstrip().startswith("@")]
    text = " ".join(line for line in lines if line)
    try:
        tree = ast.parse(text + "\n    ...")
    except SyntaxError:
        tree = None
    node = tree.body[0] if tree is not None and tree.body else None
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return _compact_def(node, limit)
    else:
        text = re.sub(r"\(\s+", "(", text)
        text = re.sub(r",?\s+\)", ")", text)
    return text if len(text) <= limit else text[: limit - 4].rstrip(", ") + ", ...)"


def _compact_def(node: ast.FunctionDef | ast.AsyncFunctionDef, limit: int) -> str:
    arguments = node.args
    positional = [*arguments.posonlyargs, *arguments.args]
    first_default = len(positional) - len(arguments.defaults)
    parts = []
    for index, argument in enumerate(positional):
        parts.append(_parameter(argument, index >= first_default))
    if arguments.vararg is not None:
        parts.append("*" + _parameter(arguments.vararg, False))
    elif arguments.kwonlyargs:
        parts.append("*")
    for argument, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True):
        parts.append(_parameter(argument, default is not None))
    if arguments.kwarg is not None:
        parts.append("**" + _parameter(arguments.kwarg, False))
    returns = f" -> {ast.unparse(node.returns)}" if node.returns is not None else ""
    keyword = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    shown = list(parts)
    while True:
        listed = ", ".join(shown + (["..."] if len(shown) < len(parts) else []))
        text = f"{keyword} {node.name}({listed}){returns}:"
        if len(text) <= limit or not shown:
            return text
        shown.pop()  # the last parameters go first: the leading ones are what a call needs


def _parameter(argument: ast.arg, has_default: bool) -> str:
    text = argument.arg
    if argument.annotation is not None:
        text += f": {ast.unparse(argument.annotation)}"
        return text + (" = ..." if has_default else "")
    return text + ("=..." if has_default else "")

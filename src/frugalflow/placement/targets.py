"""Where generated code goes in a repository, following the repository's own structure.

Source code becomes a new module named after its main definition, in the directory where the
repository keeps its source; generated tests go where the project keeps its tests, named the
way it names them. The request's ``--target`` wins. Nothing here reads or writes git: the
place step checks the chosen paths against the repository.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from frugalflow.conform.naming import demanded_names
from frugalflow.context import convert_name
from frugalflow.context.analysis import is_test_path
from frugalflow.core.errors import RequestError
from frugalflow.core.schemas import CodeRequest, GenerationContext

__all__ = [
    "EXTENSIONS",
    "GeneratedFile",
    "choose_target",
    "choose_targets",
    "is_test_code",
    "main_definition",
]

EXTENSIONS = {"python": ".py", "javascript": ".js", "typescript": ".ts"}
_JS_NAME = re.compile(r"^\s*(?:export\s+)?(?:async\s+)?(?:function|class|const|let)\s+(\w+)", re.M)
_TEST_NAME = re.compile(r"^(?:test_.+|.+_test|.+\.(?:test|spec))\.\w+$")
_TEST_FRAMEWORKS = frozenset({"pytest", "unittest", "hypothesis"})


@dataclass(frozen=True)
class GeneratedFile:
    """One file of a generation result.

    Attributes:
        code: the file's text.
        name: the name or path the model gave it; a hint for a test file's name or a module
            that defines nothing public, never a place to write to.
    """

    code: str
    name: str | None = None


def main_definition(code: str, language: str, requested: Collection[str] = ()) -> str | None:
    """The definition a module of this code is named after: the first public top-level
    function or class the request names (``requested``), else the first one."""
    if language != "python":
        match = _JS_NAME.search(code)
        return match.group(1) if match else None
    definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
    names = [
        node.name
        for node in ast.parse(code).body
        if isinstance(node, definition) and not node.name.startswith("_")
    ]
    return next((name for name in names if name in requested), names[0] if names else None)


def is_test_code(code: str, language: str = "python") -> bool:
    """Tell whether Python code is a test module rather than code under test.

    It is when most public top-level definitions are ``test_*`` functions or ``Test*``
    classes and it imports a test framework or asserts something: a module that defines
    ``slugify`` and one ``test_slugify`` is still source, so is a ``test_connection(host)``.
    """
    if language != "python":
        return False
    tree = _parse(code)
    if tree is None:
        return False
    kinds = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
    public = [n for n in tree.body if isinstance(n, kinds) and not n.name.startswith("_")]
    tests = [
        n for n in public if n.name.startswith("Test" if isinstance(n, ast.ClassDef) else "test")
    ]
    framework = any(
        (alias.name if isinstance(node, ast.Import) else node.module or "").split(".")[0]
        in _TEST_FRAMEWORKS
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    )
    asserts = any(isinstance(n, ast.Assert) for test in tests for n in ast.walk(test))
    return 2 * len(tests) > len(public) and (framework or asserts)


def _parse(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except SyntaxError:
        return None


def _is_test(file: GeneratedFile, language: str) -> bool:
    name = PurePosixPath(file.name).name if file.name else ""
    return bool(_TEST_NAME.match(name)) or is_test_code(file.code, language)


@dataclass(frozen=True)
class _TestLayout:
    """Where a project keeps its tests: one directory, or ``None`` for beside the module."""

    directory: str | None
    prefix: bool


def _test_layout(context: GenerationContext, extension: str) -> _TestLayout:
    names = [
        PurePosixPath(p)
        for p in context.file_layout
        if p.endswith(extension) and _TEST_NAME.match(PurePosixPath(p).name)
    ]
    if not names:
        return _TestLayout("tests", prefix=True)
    prefix = sum(p.name.startswith("test_") for p in names) * 2 >= len(names)
    places = Counter(str(p.parent) for p in names)
    directory = max(places, key=lambda d: (places[d], -d.count("/"), d == "tests"))
    # A directory that is not a test directory holds tests beside the modules they test.
    return _TestLayout(directory if is_test_path(f"{directory}/x") else None, prefix)


def _module_under_test(
    context: GenerationContext, file: GeneratedFile, extension: str
) -> tuple[str, str | None]:
    """The stem of the module a test file tests and, when known, that module's directory."""
    sources = {
        PurePosixPath(p).stem: str(PurePosixPath(p).parent)
        for p in context.file_layout
        if p.endswith(extension) and not is_test_path(p) and not p.endswith("__init__.py")
    }
    tree = _parse(file.code) if extension == ".py" else None
    if tree is not None:
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [alias.name for alias in node.names] + node.module.split(".")[::-1]
            elif isinstance(node, ast.Import):
                names = [alias.name.split(".")[-1] for alias in node.names]
            else:
                continue
            for name in names:
                if name in sources:
                    return name, sources[name]
    related = context.related_path
    if related and not is_test_path(related) and related.endswith(extension):
        return PurePosixPath(related).stem, str(PurePosixPath(related).parent)
    first = main_definition(file.code, context.language) or "test_generated"
    stem = first.removeprefix("test_").removeprefix("Test") or "generated"
    return convert_name(stem, context.naming.module_style), None


def _source_module(request: CodeRequest, context: GenerationContext, file: GeneratedFile) -> str:
    requested = demanded_names(request.description, request.examples)
    name = main_definition(file.code, request.language, requested)
    if name is None and file.name:
        name = PurePosixPath(file.name).stem
    if name is None or not name.isidentifier():
        raise RequestError(
            "cannot choose a file for code that defines no public function or class; pass --target"
        )
    return convert_name(name, context.naming.module_style)


def choose_targets(
    request: CodeRequest, context: GenerationContext, files: Sequence[GeneratedFile]
) -> list[str]:
    """The repository-relative file each generated file goes to, in order.

    The request's target goes to the first source file (the first test file when the target
    is a test path). Other source files become new modules named after their main definition
    in the source directory (beside the target when one was given). Test files go where most
    of the project's test files are (``tests/`` when there are none, beside the module under
    test when the project keeps them there), named ``test_<module>`` after the module they
    test, or ``<module>_test`` when the project names its tests that way.

    Raises:
        RequestError: a source file without a target defines nothing to name a file after.
    """
    extension = EXTENSIONS.get(request.language, f".{request.language}")
    tests = [_is_test(file, request.language) for file in files]
    explicit: int | None = None
    if request.target:
        wanted = len(files) > 1 and is_test_path(request.target)
        explicit = next((i for i, test in enumerate(tests) if test == wanted), 0)
    home = str(PurePosixPath(request.target).parent) if request.target else context.source_dir
    targets: dict[int, str] = {}
    for index, file in enumerate(files):
        if index == explicit and request.target:
            targets[index] = request.target
        elif not tests[index]:
            module = _source_module(request, context, file)
            targets[index] = str(PurePosixPath(home) / f"{module}{extension}")
    layout = _test_layout(context, extension)
    companions = [PurePosixPath(targets[i]) for i in targets if not tests[i]]
    for index, file in enumerate(files):
        if index in targets:
            continue
        stem, directory = _module_under_test(context, file, extension)
        if len(companions) == 1:  # tests written with their module are named after it
            stem, directory = companions[0].stem, str(companions[0].parent)
        hint = PurePosixPath(file.name).name if file.name else ""
        if _TEST_NAME.match(hint) and (len(companions) != 1 or sum(tests) > 1):
            name = hint
        else:
            name = f"test_{stem}{extension}" if layout.prefix else f"{stem}_test{extension}"
        folder = layout.directory or directory or context.source_dir
        targets[index] = str(PurePosixPath(folder) / name)
    return [targets[i] for i in range(len(files))]


def choose_target(request: CodeRequest, context: GenerationContext, code: str) -> str:
    """The repository-relative file one piece of code goes to; see :func:`choose_targets`.

    Raises:
        RequestError: no target was given and the code defines nothing to name a file after.
    """
    return choose_targets(request, context, [GeneratedFile(code)])[0]

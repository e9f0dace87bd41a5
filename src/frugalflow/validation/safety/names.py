"""What a name in generated Python refers to, where its value comes from, and what it holds.

The safety check (:mod:`frugalflow.validation.safety.python`) asks three questions of an expression, all
answered here from the syntax tree, without running anything:

- :meth:`Names.resolve`: which module-level functions or modules it may be: ``subprocess.run``
  for ``sp.run`` after ``import subprocess as sp``, for ``run`` after ``run = subprocess.run``,
  for ``__import__("subprocess").run``, ``importlib.import_module("subprocess").run``,
  ``getattr(subprocess, "run")``, ``sys.modules["subprocess"].run``, ``vars(subprocess)["run"]``;
- :meth:`Names.tainted`: whether it comes from input (a parameter, ``input()``, ``sys.argv``,
  ``sys.stdin``, the environment), followed through assignments (flow-insensitive: a name
  assigned from input anywhere in a function is input everywhere in it);
- :meth:`Names.constant`: its value when it is built from literals only: concatenation,
  f-strings, ``%``, ``str.format``, ``"".join``, ``chr``, slicing, ``bytes.decode``,
  ``base64``/``binascii``/``codecs`` decoding, ``os.sep``, ``os.path.join``.

One module over 400 lines on purpose: the three questions share one walk of the bindings, and
an evasion that slips between two of them is exactly what an attacker looks for; it is
reviewed as a whole, with ``tests/test_safety_evasion.py`` beside it.
"""

from __future__ import annotations

import ast
import base64
import binascii
import builtins
import codecs
import itertools
import posixpath
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

Value = str | bytes | int

MAX_DEPTH = 20
_MAX_TEXT = 4096  # folding stops at longer strings: no memory bomb from "x" * 10**9
_MAX_INT = 1 << 32

_INPUT_SOURCES = frozenset(
    {"input", "sys.argv", "sys.stdin", "os.environ", "os.getenv", "os.environb", "os.getenvb"}
)
# A name that reaches into one of these through getattr, vars() or __dict__ is hiding a call.
SENSITIVE_MODULES = frozenset(
    {
        *("os", "posix", "nt", "subprocess", "sys", "builtins", "importlib", "ctypes"),
        *("shutil", "socket", "pty", "types", "multiprocessing", "pickle", "marshal"),
        *("runpy", "code", "codeop", "asyncio", "io", "pathlib", "tempfile", "signal"),
    }
)
# ``subprocess.os.system`` is ``os.system``: a chain is named from the last module it passes.
_CHAIN_MODULES = frozenset(
    {"os", "posix", "nt", "subprocess", "sys", "builtins", "socket", "shutil", "ctypes", "pty"}
)
_IMPORTERS = frozenset({"__import__", "importlib.__import__", "importlib.import_module"})
_DECODERS: dict[str, Callable[[bytes], bytes]] = {
    "base64.b64decode": base64.b64decode,
    "base64.standard_b64decode": base64.standard_b64decode,
    "base64.urlsafe_b64decode": base64.urlsafe_b64decode,
    "base64.b32decode": base64.b32decode,
    "base64.b16decode": base64.b16decode,
    "base64.a85decode": base64.a85decode,
    "base64.b85decode": base64.b85decode,
    "base64.decodebytes": base64.decodebytes,
    "binascii.unhexlify": binascii.unhexlify,
    "binascii.a2b_hex": binascii.a2b_hex,
    "binascii.a2b_base64": binascii.a2b_base64,
}
_CODECS = frozenset(
    {"rot13", "rot_13", "rot-13", "hex", "hex_codec", "base64", "base64_codec", "base_64"}
    | {"utf-8", "utf8", "utf_8", "ascii", "latin-1", "latin1", "latin_1", "iso-8859-1"}
)
_STR_METHODS = frozenset(
    {"upper", "lower", "strip", "lstrip", "rstrip", "replace", "title", "capitalize"}
    | {"swapcase", "casefold", "removeprefix", "removesuffix", "zfill", "expandtabs"}
)
_BIG_NUMBER = re.compile(r"\d{4,}")  # a width like {:>99999999} would build a huge string


_SCOPE_NUMBERS = itertools.count()


def cache_key(node: ast.AST, scopes: list[Scope]) -> tuple[int, tuple[int, ...]]:
    """What an answer about ``node`` depends on: the node and the scopes it is read in."""
    return id(node), tuple(scope.number for scope in scopes)


@dataclass
class Scope:
    """Names of one function (or the module): its parameters and what each name is bound to."""

    parameters: set[str] = field(default_factory=set)
    bindings: dict[str, list[ast.expr]] = field(default_factory=dict)
    number: int = field(default_factory=lambda: next(_SCOPE_NUMBERS))  # for the answer caches

    def bind(self, target: ast.expr, value: ast.expr) -> None:
        """Bind the names ``target`` assigns (``obj.x = v`` and ``d[k] = v`` bind no name)."""
        if isinstance(target, ast.Name):
            self.bindings.setdefault(target.id, []).append(value)
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self.bind(element, value)
        elif isinstance(target, ast.Starred):
            self.bind(target.value, value)


def collect_bindings(body: list[ast.stmt] | list[ast.expr], scope: Scope) -> None:
    """Bind the names assigned in ``body``, without entering nested functions and classes."""
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        if isinstance(node, ast.Assign):
            for target in node.targets:
                scope.bind(target, node.value)
        elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.NamedExpr) and node.value:
            scope.bind(node.target, node.value)
        elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
            scope.bind(node.target, node.iter)
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            scope.bind(node.optional_vars, node.context_expr)
        stack.extend(ast.iter_child_nodes(node))


def function_scope(function: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> Scope:
    """The parameters and bindings of one function (``self`` and ``cls`` are not input)."""
    scope = Scope()
    arguments = function.args
    for arg in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs):
        scope.parameters.add(arg.arg)
    for extra in (arguments.vararg, arguments.kwarg):
        if extra:
            scope.parameters.add(extra.arg)
    if isinstance(function, ast.Lambda):
        collect_bindings([function.body], scope)
    else:
        collect_bindings(function.body, scope)
        scope.parameters.discard("self")
        scope.parameters.discard("cls")
    return scope


def text_of(node: ast.expr | None) -> str | None:
    """The string of a string literal, else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def argument(call: ast.Call, position: int, *names: str) -> ast.expr | None:
    """A call's argument by keyword or position, None when it is absent or unpacked."""
    for keyword in call.keywords:
        if keyword.arg in names:
            return keyword.value
    if len(call.args) > position and not any(
        isinstance(arg, ast.Starred) for arg in call.args[: position + 1]
    ):
        return call.args[position]
    return None


def _normalized(qualified: str) -> str:
    parts = qualified.split(".")
    if parts[0] == "builtins" and len(parts) > 1:
        parts = parts[1:]
    for index in range(len(parts) - 1, 0, -1):
        if parts[index] in _CHAIN_MODULES:
            parts = parts[index:]
            break
    if parts[0] in {"posix", "nt"}:
        parts[0] = "os"
    return ".".join(parts)


class Names:
    """Imports and bindings of one module, and the questions asked of its expressions."""

    def __init__(self, tree: ast.Module) -> None:
        self.aliases: dict[str, set[str]] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    name = alias.asname or alias.name.split(".")[0]
                    self.aliases.setdefault(name, set()).add(alias.name if alias.asname else name)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    self.aliases.setdefault(alias.asname or alias.name, set()).add(
                        f"{node.module}.{alias.name}"
                    )
        # Answers are cached (and a question being answered counts as "nothing" for the
        # questions it leads to): a name bound many times would otherwise take exponential time.
        self._resolved: dict[tuple[int, tuple[int, ...]], set[str]] = {}
        self._constants: dict[tuple[int, tuple[int, ...]], Value | None] = {}
        self._taints: dict[tuple[int, tuple[int, ...]], str | None] = {}
        self.functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {
            node.name: node
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }

    def lookup(self, name: str, scopes: list[Scope]) -> tuple[bool, list[ast.expr], int]:
        """Whether ``name`` is a parameter, its bound values, and the scope that has it."""
        for depth in range(len(scopes) - 1, -1, -1):
            scope = scopes[depth]
            if name in scope.parameters:
                return True, [], depth
            if name in scope.bindings:
                return False, scope.bindings[name], depth
        return False, [], -1

    # which functions or modules

    def resolve(self, node: ast.expr | None, scopes: list[Scope], depth: int = 0) -> set[str]:
        """The qualified names ``node`` may stand for; empty when it is not a module's name."""
        if node is None or depth > MAX_DEPTH:
            return set()
        key = cache_key(node, scopes)
        if key not in self._resolved:
            self._resolved[key] = set()
            self._resolved[key] = {_normalized(n) for n in self._resolve(node, scopes, depth)}
        return set(self._resolved[key])

    def _resolve(self, node: ast.expr, scopes: list[Scope], depth: int) -> Iterator[str]:
        if isinstance(node, ast.Name):
            if node.id == "__builtins__":
                yield "builtins"
                return
            parameter, values, found = self.lookup(node.id, scopes)
            if parameter:
                return
            if values:
                for value in values:
                    yield from self.resolve(value, scopes[: found + 1], depth + 1)
            elif node.id in self.aliases:
                yield from self.aliases[node.id]
            elif hasattr(builtins, node.id):
                yield node.id
        elif isinstance(node, ast.Attribute):
            for base in self.resolve(node.value, scopes, depth + 1):
                yield f"{base}.{node.attr}"
        elif isinstance(node, ast.Call):
            functions = self.resolve(node.func, scopes, depth + 1)
            first = self.constant(argument(node, 0, "name"), scopes)
            if isinstance(first, str) and functions & _IMPORTERS:
                yield first  # import_module("os.path") is os.path; __import__ gives "os" too
                yield first.split(".")[0]
            if isinstance(first, str) and functions & {"sys.modules.get"}:
                yield first
            if "getattr" in functions and len(node.args) >= 2:
                attribute = self.constant(node.args[1], scopes)
                if isinstance(attribute, str):
                    for base in self.resolve(node.args[0], scopes, depth + 1):
                        yield f"{base}.{attribute}"
        elif isinstance(node, ast.Subscript):
            key = self.constant(node.slice, scopes)
            if not isinstance(key, str):
                return
            for base in self.namespaces(node.value, scopes, depth + 1):
                yield key if base in {"sys.modules", "builtins"} else f"{base}.{key}"
            if self.resolve(node.value, scopes, depth + 1) & {"sys.modules"}:
                yield key

    def namespaces(self, node: ast.expr, scopes: list[Scope], depth: int = 0) -> set[str]:
        """The modules whose namespace ``node`` is: ``vars(os)``, ``os.__dict__``, ``globals()``."""
        if isinstance(node, ast.Call) and self.resolve(node.func, scopes, depth) & {"vars"}:
            module = node.args[0] if node.args else None
            return self.resolve(module, scopes, depth + 1) if module else set()
        if isinstance(node, ast.Call) and self.resolve(node.func, scopes, depth) & {
            "globals",
            "locals",
        }:
            return {"globals"}
        if isinstance(node, ast.Attribute) and node.attr == "__dict__":
            return self.resolve(node.value, scopes, depth + 1)
        if isinstance(node, ast.Name) and node.id == "__builtins__":
            return {"builtins"}
        return set()

    # where values come from

    def tainted(
        self, node: ast.expr | None, scopes: list[Scope], seen: frozenset[str] = frozenset()
    ) -> str | None:
        """What makes ``node`` come from input (a parameter's name, ``input()``...), or None."""
        if node is None:
            return None
        key = cache_key(node, scopes)
        if key not in self._taints:
            self._taints[key] = None
            self._taints[key] = self._tainted(node, scopes, seen)
        return self._taints[key]

    def _tainted(self, node: ast.expr, scopes: list[Scope], seen: frozenset[str]) -> str | None:
        for inner in ast.walk(node):
            if isinstance(inner, ast.Attribute | ast.Name | ast.Call):
                target = inner.func if isinstance(inner, ast.Call) else inner
                source = next(iter(sorted(self.resolve(target, scopes) & _INPUT_SOURCES)), None)
                if source:
                    return source
            if isinstance(inner, ast.Name) and isinstance(inner.ctx, ast.Load):
                if inner.id in seen:
                    continue
                parameter, values, depth = self.lookup(inner.id, scopes)
                if parameter:
                    return f"the parameter `{inner.id}`"
                for value in values:
                    if self.tainted(value, scopes[: depth + 1], seen | {inner.id}):
                        return f"`{inner.id}`, built from input"
        return None

    # what values hold

    def constant(self, node: ast.expr | None, scopes: list[Scope], depth: int = 0) -> Value | None:
        """The value of ``node`` when it is built from literals only, else None."""
        if node is None or depth > MAX_DEPTH:
            return None
        key = cache_key(node, scopes)
        if key not in self._constants:
            self._constants[key] = None
            self._constants[key] = self._checked_constant(node, scopes, depth)
        return self._constants[key]

    def _checked_constant(self, node: ast.expr, scopes: list[Scope], depth: int) -> Value | None:
        try:
            value = self._constant(node, scopes, depth + 1)
        except (ValueError, TypeError, LookupError, binascii.Error, OverflowError):
            return None
        if isinstance(value, str | bytes) and len(value) > _MAX_TEXT:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _MAX_INT:
            return None
        return value

    def _constant(self, node: ast.expr, scopes: list[Scope], depth: int) -> Value | None:
        if isinstance(node, ast.Constant):
            value = node.value
            return value if isinstance(value, str | bytes | int) else None
        if isinstance(node, ast.Name):
            parameter, values, found = self.lookup(node.id, scopes)
            if parameter or not values:
                return None
            folded = {self.constant(value, scopes[: found + 1], depth) for value in values}
            return folded.pop() if len(folded) == 1 else None
        if isinstance(node, ast.JoinedStr):
            parts = [self._formatted(part, scopes, depth) for part in node.values]
            return "".join(parts) if all(isinstance(p, str) for p in parts) else None  # type: ignore[arg-type]
        if isinstance(node, ast.BinOp):
            return self._binary(node, scopes, depth)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            number = self.constant(node.operand, scopes, depth)
            if isinstance(number, int):
                return -number if isinstance(node.op, ast.USub) else number
            return None
        if isinstance(node, ast.Subscript):
            return self._subscript(node, scopes, depth)
        if isinstance(node, ast.Attribute):
            names = self.resolve(node, scopes, depth)
            if names & {"os.sep", "os.path.sep"}:
                return "/"
            if names & {"os.curdir", "os.path.curdir"}:
                return "."
            if names & {"os.pardir", "os.path.pardir"}:
                return ".."
            return None
        if isinstance(node, ast.Call):
            return self._call(node, scopes, depth)
        return None

    def _formatted(self, part: ast.expr, scopes: list[Scope], depth: int) -> Value | None:
        if not isinstance(part, ast.FormattedValue):
            return self.constant(part, scopes, depth)
        if part.format_spec is not None or part.conversion not in (-1, ord("s")):
            return None
        value = self.constant(part.value, scopes, depth)
        return value if isinstance(value, str) else str(value) if isinstance(value, int) else None

    def _binary(self, node: ast.BinOp, scopes: list[Scope], depth: int) -> Value | None:
        left = self.constant(node.left, scopes, depth)
        right = self.constant(node.right, scopes, depth)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Add) and type(left) is type(right):
            return left + right  # type: ignore[operator]
        if isinstance(node.op, ast.Div) and isinstance(left, str) and isinstance(right, str):
            return posixpath.join(left, right)  # pathlib's /
        if isinstance(left, int) and isinstance(right, int):
            operations: dict[type[ast.operator], Callable[[int, int], int]] = {
                ast.Sub: int.__sub__,
                ast.Add: int.__add__,
                ast.BitOr: int.__or__,
                ast.BitXor: int.__xor__,
                ast.BitAnd: int.__and__,
                ast.FloorDiv: int.__floordiv__,
                ast.Mod: int.__mod__,
            }
            operation = operations.get(type(node.op))
            if operation:
                return operation(left, right)
            if isinstance(node.op, ast.Mult) and abs(left * right) <= _MAX_INT:
                return left * right
        if (
            isinstance(node.op, ast.Mult)
            and isinstance(right, int)
            and isinstance(left, str | bytes)
            and len(left) * right <= _MAX_TEXT
        ):
            return left * right
        if isinstance(node.op, ast.Mod) and isinstance(left, str):
            if _BIG_NUMBER.search(left):
                return None
            arguments = right
            if isinstance(node.right, ast.Tuple):
                folded = [self.constant(item, scopes, depth) for item in node.right.elts]
                if any(item is None for item in folded):
                    return None
                return left % tuple(folded)
            return left % arguments
        return None

    def _subscript(self, node: ast.Subscript, scopes: list[Scope], depth: int) -> Value | None:
        value = self.constant(node.value, scopes, depth)
        if not isinstance(value, str | bytes):
            return None
        if isinstance(node.slice, ast.Slice):
            bounds: list[int | None] = []
            for part in (node.slice.lower, node.slice.upper, node.slice.step):
                bound = None if part is None else self.constant(part, scopes, depth)
                if part is not None and not isinstance(bound, int):
                    return None
                bounds.append(bound if isinstance(bound, int) else None)
            return value[slice(*bounds)]
        index = self.constant(node.slice, scopes, depth)
        return value[index] if isinstance(index, int) else None

    def _items(self, node: ast.expr, scopes: list[Scope], depth: int) -> list[Value] | None:
        """The items of a literal list, ``map(chr, [...])``, ``reversed("...")``, or a string."""
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            items: list[Value] = []
            for element in node.elts:
                item = self.constant(element, scopes, depth)
                if item is None:
                    return None
                items.append(item)
            return items
        functions = self.resolve(node.func, scopes, depth) if isinstance(node, ast.Call) else set()
        if isinstance(node, ast.Call) and len(node.args) == 2 and functions & {"map"}:
            convert = self.resolve(node.args[0], scopes, depth)
            inner = self._items(node.args[1], scopes, depth)
            if inner is not None and convert & {"chr"}:
                return [chr(item) if isinstance(item, int) else str(item) for item in inner]
            if inner is not None and convert & {"str"}:
                return [str(item) for item in inner]
        if (
            isinstance(node, ast.Call)
            and len(node.args) == 1
            and functions & {"reversed", "list", "tuple", "sorted"}
        ):
            inner = self._items(node.args[0], scopes, depth)
            return inner[::-1] if inner is not None and "reversed" in functions else inner
        value = self.constant(node, scopes, depth)
        return list(value) if isinstance(value, str) else None

    def _call(self, node: ast.Call, scopes: list[Scope], depth: int) -> Value | None:
        functions = self.resolve(node.func, scopes, depth)
        arguments = [self.constant(arg, scopes, depth) for arg in node.args]
        first = arguments[0] if arguments else None
        if functions & {"chr"} and isinstance(first, int):
            return chr(first)
        if functions & {"str"} and isinstance(first, str | int) and len(arguments) == 1:
            return str(first)
        if functions & {"os.path.join", "pathlib.Path", "pathlib.PurePath", "os.fspath"}:
            if arguments and all(isinstance(arg, str) for arg in arguments):
                return posixpath.join(*arguments)  # type: ignore[arg-type]
            return None
        if functions & {"os.path.normpath"} and isinstance(first, str):
            return posixpath.normpath(first)
        if functions & {"bytes.fromhex"} and isinstance(first, str):
            return bytes.fromhex(first)
        if functions & {"bytes", "bytearray"} and node.args:
            items = self._items(node.args[0], scopes, depth)
            if items is not None and all(isinstance(item, int) for item in items):
                return bytes(items)  # type: ignore[arg-type]
        for name in functions & _DECODERS.keys():
            if isinstance(first, str | bytes):
                return _DECODERS[name](first.encode() if isinstance(first, str) else first)
        if functions & {"codecs.decode", "codecs.encode"} and len(arguments) >= 2:
            encoding = arguments[1]
            if isinstance(encoding, str) and encoding.lower() in _CODECS:
                coder = codecs.decode if functions & {"codecs.decode"} else codecs.encode
                result: object = coder(first, encoding)  # type: ignore[arg-type]
                return result if isinstance(result, str | bytes) else None
        if not isinstance(node.func, ast.Attribute):
            return None
        return self._method(node, arguments, scopes, depth)

    def _method(
        self, node: ast.Call, arguments: list[Value | None], scopes: list[Scope], depth: int
    ) -> Value | None:
        assert isinstance(node.func, ast.Attribute)
        method = node.func.attr
        if method == "join" and len(node.args) == 1:
            separator = self.constant(node.func.value, scopes, depth)
            items = self._items(node.args[0], scopes, depth)
            if isinstance(separator, str) and items is not None:
                return separator.join(items)  # type: ignore[arg-type]
            if isinstance(separator, bytes) and items is not None:
                return separator.join(items)  # type: ignore[arg-type]
            return None
        owner = self.constant(node.func.value, scopes, depth)
        if any(arg is None for arg in arguments) or node.keywords:
            return None
        if isinstance(owner, bytes) and method == "decode":
            return owner.decode(*arguments)  # type: ignore[arg-type]
        if isinstance(owner, str) and method == "encode":
            return owner.encode(*arguments)  # type: ignore[arg-type]
        if isinstance(owner, str) and method in _STR_METHODS:
            if method in {"zfill", "expandtabs"} and any(
                isinstance(a, int) and a > _MAX_TEXT for a in arguments
            ):
                return None
            return getattr(owner, method)(*arguments)  # type: ignore[no-any-return]
        if isinstance(owner, str) and method == "format" and not _BIG_NUMBER.search(owner):
            return owner.format(*arguments)
        return None

"""Where a path in generated Python points, as far as the syntax tree can tell.

A write, deletion or permission change is acceptable when its path is provably one of:

- ``TEMP``: inside a directory made with :mod:`tempfile`, or a literal under ``/tmp``;
- ``RELATIVE``: a literal relative path without ``..`` or ``.git`` (the working directory,
  ``Path.cwd()``, ``__file__``'s directory count as relative);
- ``CALLER``: chosen by the caller: a parameter, ``sys.argv``, ``input()``, parsed arguments,
  an attribute of ``self``, and paths derived from those (``Path(p).parent / "x"``,
  ``path + ".tmp"``, ``os.path.join(out_dir, f"{name}.json")``).

Anything else is not: ``ABSOLUTE`` (outside ``/tmp``), ``HOME`` (``~``, ``Path.home()``,
``$HOME``), ``PARENT`` (climbs with ``..``), ``GIT`` (inside ``.git/``), and ``UNKNOWN``: built
in a way the check cannot follow. Literal pieces are folded first (:meth:`Names.constant`), so
``"/" + "etc"``, ``chr(47)``, ``base64`` and ``rot13`` tricks are read as the text they make.
"""

from __future__ import annotations

import ast
import posixpath
import re
from dataclasses import dataclass
from enum import Enum

from frugalflow.validation.safety.names import (
    MAX_DEPTH,
    Names,
    Scope,
    argument,
    cache_key,
    function_scope,
)


class Place(Enum):
    """Where a path points; the first three are acceptable."""

    TEMP = "temp"
    RELATIVE = "relative"
    CALLER = "caller"
    ABSOLUTE = "absolute"
    HOME = "home"
    GIT = "git"
    PARENT = "parent"
    UNKNOWN = "unknown"

    @property
    def acceptable(self) -> bool:
        return self in {Place.TEMP, Place.RELATIVE, Place.CALLER}


@dataclass(frozen=True)
class Verdict:
    """A path's place, and its text when the check could work it out."""

    place: Place
    text: str | None = None


_WORST_FIRST = (Place.ABSOLUTE, Place.HOME, Place.GIT, Place.PARENT, Place.UNKNOWN)
_UNKNOWN = Verdict(Place.UNKNOWN)
_CALLER = Verdict(Place.CALLER)
_PRESERVING = frozenset(
    {"pathlib.Path", "pathlib.PurePath", "pathlib.PosixPath", "pathlib.PurePosixPath", "str"}
    | {"os.fspath", "os.path.abspath", "os.path.realpath", "os.path.normpath"}
    | {"os.path.dirname", "os.path.basename", "os.path.splitext", "os.path.split"}
    | {"enumerate", "sorted", "reversed", "list", "tuple", "set", "zip", "iter", "next"}
    | {"os.walk", "os.listdir", "os.scandir", "glob.glob", "glob.iglob", "os.path.relpath"}
)
_JOINS = frozenset({"os.path.join", "pathlib.Path", "pathlib.PurePath", "pathlib.PosixPath"})
_PRESERVING_METHODS = frozenset(
    {"resolve", "absolute", "with_name", "with_suffix", "with_stem", "strip", "rstrip"}
    | {"lstrip", "lower", "upper", "get", "pop", "items", "values", "keys", "glob", "rglob"}
    | {"iterdir", "walk", "relative_to"}
)
# an open file descriptor, not a path: where it points was decided where it was opened
_DESCRIPTORS = frozenset({"os.pipe", "os.dup", "os.openpty", "pty.openpty"})
_RELATIVE_CALLS = frozenset({"pathlib.Path.cwd", "os.getcwd", "os.getcwdb"})
_CALLER_CALLS = frozenset({"input"})
_HOME_VARIABLES = frozenset({"HOME", "USERPROFILE", "XDG_CONFIG_HOME", "XDG_DATA_HOME"})
_HARMLESS_CALLS = frozenset(
    {"range", "len", "int", "float", "round", "abs", "sum", "min", "max", "hash", "id"}
    | {"os.getpid", "uuid.uuid4", "uuid.uuid1", "time.time", "time.time_ns", "time.strftime"}
)
_HARMLESS_METHODS = frozenset({"strftime", "isoformat", "hexdigest", "hex", "timestamp"})
_DRIVE = re.compile(r"^[A-Za-z]:")


def place_of_text(text: str) -> Place:
    """Where a literal path points."""
    if text.startswith(("/", "\\")) or _DRIVE.match(text):
        normal = posixpath.normpath(text.replace("\\", "/"))
        if ".git" in normal.split("/"):
            return Place.GIT  # a repository's hooks run commands, wherever it is
        if normal in {"/tmp", "/var/tmp"} or normal.startswith(("/tmp/", "/var/tmp/")):
            return Place.TEMP
        return Place.ABSOLUTE
    if text.startswith("~") or "$HOME" in text or "${HOME}" in text:
        return Place.HOME
    return _segments(text) or Place.RELATIVE


def _segments(text: str) -> Place | None:
    parts = re.split(r"[/\\]", text)
    if ".git" in parts:
        return Place.GIT
    if ".." in parts:
        return Place.PARENT
    return None


def _worst(verdicts: list[Verdict]) -> Verdict:
    for place in _WORST_FIRST:
        for verdict in verdicts:
            if verdict.place is place:
                return verdict
    for verdict in verdicts:
        if verdict.place is Place.CALLER:
            return verdict
    return verdicts[0] if verdicts else _UNKNOWN


class PathReader:
    """Reads path expressions of one module with the names it knows."""

    def __init__(self, names: Names) -> None:
        self.names = names
        self._verdicts: dict[tuple[int, tuple[int, ...]], Verdict] = {}  # see Names
        self._function_scopes: dict[str, Scope] = {}

    def where(
        self,
        node: ast.expr | None,
        scopes: list[Scope],
        depth: int = 0,
        seen: frozenset[str] = frozenset(),
    ) -> Verdict:
        """Where the path ``node`` points."""
        if node is None or depth > MAX_DEPTH:
            return _UNKNOWN
        key = cache_key(node, scopes)
        if key not in self._verdicts:
            self._verdicts[key] = _CALLER  # a path made from itself adds nothing
            self._verdicts[key] = self._where(node, scopes, depth, seen)
        return self._verdicts[key]

    def _where(
        self, node: ast.expr, scopes: list[Scope], depth: int, seen: frozenset[str]
    ) -> Verdict:
        value = self.names.constant(node, scopes)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str):
            return Verdict(place_of_text(value), value)
        return self._structure(node, scopes, depth + 1, seen)

    def _structure(
        self, node: ast.expr, scopes: list[Scope], depth: int, seen: frozenset[str]
    ) -> Verdict:
        names = self.names
        if isinstance(node, ast.Name):
            if node.id == "__file__":
                return Verdict(Place.RELATIVE)
            if node.id in {"self", "cls"}:
                return _CALLER  # a path object's own methods, or a path the object was given
            if node.id in seen:
                return _CALLER
            parameter, values, found = names.lookup(node.id, scopes)
            if parameter:
                return _CALLER
            if not values:
                return _UNKNOWN
            inner = scopes[: found + 1]
            return _worst([self.where(v, inner, depth, seen | {node.id}) for v in values])
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            return _worst([self.where(item, scopes, depth, seen) for item in node.elts])
        if isinstance(node, ast.IfExp):
            return _worst(
                [self.where(part, scopes, depth, seen) for part in (node.body, node.orelse)]
            )
        if isinstance(node, ast.BoolOp):
            return _worst([self.where(part, scopes, depth, seen) for part in node.values])
        if isinstance(node, ast.Attribute | ast.Subscript):
            return self._member(node, scopes, depth, seen)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            return self._join([node.left, node.right], scopes, depth, seen)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self._concatenation([node.left, node.right], scopes, depth, seen)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            template = self.names.constant(node.left, scopes)
            values = node.right.elts if isinstance(node.right, ast.Tuple) else [node.right]
            return self._template(template, node.left, values, "%", scopes, depth, seen)
        if isinstance(node, ast.JoinedStr):
            parts = [p.value if isinstance(p, ast.FormattedValue) else p for p in node.values]
            return self._concatenation(parts, scopes, depth, seen)
        if isinstance(node, ast.Call):
            return self._call(node, scopes, depth, seen)
        return _UNKNOWN

    def _member(
        self,
        node: ast.Attribute | ast.Subscript,
        scopes: list[Scope],
        depth: int,
        seen: frozenset[str],
    ) -> Verdict:
        resolved = self.names.resolve(node, scopes)
        if resolved & {"sys.argv"} or any(n.startswith("sys.argv") for n in resolved):
            return _CALLER
        if resolved & {"tempfile.tempdir"}:
            return Verdict(Place.TEMP)
        if resolved:
            return _UNKNOWN  # a module's attribute: sys.prefix, os.environ...
        if isinstance(node, ast.Subscript):
            if self.names.resolve(node.value, scopes) & {"os.environ", "os.environb"}:
                return self._environment(node.slice, scopes)
            if self.names.resolve(node.value, scopes) & {"sys.argv"}:
                return _CALLER
        base = node.value
        if isinstance(base, ast.Name) and base.id in {"self", "cls"}:
            return _CALLER
        return self.where(base, scopes, depth, seen)

    def _environment(self, name: ast.expr | None, scopes: list[Scope]) -> Verdict:
        variable = self.names.constant(name, scopes)
        if variable in _HOME_VARIABLES:
            return Verdict(Place.HOME, f"${variable}")
        return _UNKNOWN

    def _join(
        self, parts: list[ast.expr], scopes: list[Scope], depth: int, seen: frozenset[str]
    ) -> Verdict:
        """``os.path.join``, ``Path(a, b)``, ``a / b``: a later absolute part starts again."""
        current = self.where(parts[0], scopes, depth, seen) if parts else Verdict(Place.RELATIVE)
        for part in parts[1:]:
            verdict = self.where(part, scopes, depth, seen)
            if verdict.place in {Place.ABSOLUTE, Place.TEMP, Place.HOME}:
                current = verdict  # an absolute part replaces everything before it
            elif current.place.acceptable and not verdict.place.acceptable:
                current = verdict
        return current

    def _concatenation(
        self, parts: list[ast.expr], scopes: list[Scope], depth: int, seen: frozenset[str]
    ) -> Verdict:
        """``a + b``, ``f"{a}/{b}"``, ``"%s/x" % a``: the first piece says where it starts."""
        head = self.where(parts[0], scopes, depth, seen)
        if not head.place.acceptable:
            return head
        for part in parts[1:]:
            text = self.names.constant(part, scopes)
            if isinstance(text, str):
                segments = _segments(text)
                if segments:
                    return Verdict(segments, text)
                continue
            if isinstance(text, int) or self._harmless(part, scopes):
                continue
            verdict = self.where(part, scopes, depth, seen)
            if not verdict.place.acceptable:
                return verdict
        return head

    def _template(
        self,
        template: object,
        node: ast.expr,
        values: list[ast.expr],
        marker: str,
        scopes: list[Scope],
        depth: int,
        seen: frozenset[str],
    ) -> Verdict:
        """``"%s/x" % a`` and ``"{}/x".format(a)``: a template that starts with a value."""
        if isinstance(template, str) and template.startswith(marker) and values:
            return self._concatenation([*values, node], scopes, depth, seen)
        return self._concatenation([node, *values], scopes, depth, seen)

    def _harmless(self, node: ast.expr, scopes: list[Scope]) -> bool:
        """A value that cannot carry ``/`` or ``..``: a number, a date, a hash."""
        if isinstance(node, ast.Call):
            if self.names.resolve(node.func, scopes) & _HARMLESS_CALLS:
                return True
            return isinstance(node.func, ast.Attribute) and node.func.attr in _HARMLESS_METHODS
        if isinstance(node, ast.BinOp):
            return self._harmless(node.left, scopes) and self._harmless(node.right, scopes)
        if isinstance(node, ast.Name):
            _, values, found = self.names.lookup(node.id, scopes)
            return bool(values) and all(self._harmless(v, scopes[: found + 1]) for v in values)
        return isinstance(node, ast.Constant) and isinstance(node.value, int | float)

    def _call(
        self, node: ast.Call, scopes: list[Scope], depth: int, seen: frozenset[str]
    ) -> Verdict:
        names = self.names
        functions = names.resolve(node.func, scopes)
        method = node.func.attr if isinstance(node.func, ast.Attribute) else None
        if any(name.startswith("tempfile.") for name in functions):
            return Verdict(Place.TEMP)
        if functions & {"pathlib.Path.home"}:
            return Verdict(Place.HOME, "~")
        if functions & _RELATIVE_CALLS:
            return Verdict(Place.RELATIVE)
        if functions & _DESCRIPTORS or method in {"fileno", "detach"}:
            return _CALLER
        if functions & _CALLER_CALLS or method in {"parse_args", "parse_known_args"}:
            return _CALLER
        if any(name.startswith("sys.stdin") for name in functions):
            return _CALLER
        if functions & {"os.getenv", "os.environ.get", "os.getenvb"}:
            return self._environment(argument(node, 0, "key"), scopes)
        if functions & {"os.path.expanduser", "os.path.expandvars"} or method in {
            "expanduser",
            "expandvars",
        }:
            if functions & {"os.path.expanduser", "os.path.expandvars"}:
                inner = node.args[0] if node.args else None
            else:
                inner = getattr(node.func, "value", None)
            verdict = self.where(inner, scopes, depth, seen)
            text = verdict.text or ""
            if text.startswith("~") or "$" in text:
                return Verdict(Place.HOME, text)
            return verdict
        if functions & _JOINS:
            return self._join(list(node.args), scopes, depth, seen)
        if functions & _PRESERVING:
            return self.where(node.args[0], scopes, depth, seen) if node.args else _UNKNOWN
        if method == "joinpath" and isinstance(node.func, ast.Attribute):
            return self._join([node.func.value, *node.args], scopes, depth, seen)
        if method == "format" and isinstance(node.func, ast.Attribute):
            template = names.constant(node.func.value, scopes)
            values = [*node.args, *(keyword.value for keyword in node.keywords)]
            return self._template(template, node.func.value, values, "{", scopes, depth, seen)
        if method in _PRESERVING_METHODS and isinstance(node.func, ast.Attribute):
            return self.where(node.func.value, scopes, depth, seen)
        if isinstance(node.func, ast.Name) and node.func.id in names.functions and depth < 8:
            return self._helper(node, node.func.id, scopes, depth, seen)
        return _UNKNOWN

    def _helper(
        self, node: ast.Call, name: str, scopes: list[Scope], depth: int, seen: frozenset[str]
    ) -> Verdict:
        """A path returned by a function of the module: what it returns, given these arguments."""
        function = self.names.functions[name]
        if name not in self._function_scopes:
            self._function_scopes[name] = function_scope(function)
        inside = [scopes[0], self._function_scopes[name]]
        returns = [
            r.value for r in ast.walk(function) if isinstance(r, ast.Return) and r.value is not None
        ]
        verdict = _worst([self.where(value, inside, depth + 2, seen) for value in returns])
        if verdict.place is not Place.CALLER:
            return verdict
        given = [a.value if isinstance(a, ast.Starred) else a for a in node.args]
        given += [keyword.value for keyword in node.keywords]
        return _worst(
            [
                verdict,
                *(
                    self.where(a, scopes, depth + 2, seen)
                    for a in given
                    if not self._harmless(a, scopes)
                ),
            ]
        )

"""Dangerous code: what generated code must not do unless the user says it may.

:func:`find_dangers` reads code without running it and returns one
:class:`~frugalflow.schemas.ValidationIssue` (check ``"safety"``) per finding, saying what was
found, why it is dangerous, and what to write instead. Validation refuses the code unless the
request sets ``allow_dangerous``.

For Python, from the syntax tree:

- shell execution: ``subprocess.*(..., shell=True)`` (always: pass a list instead), and
  ``os.system``, ``os.popen``, ``subprocess.getoutput``, ``asyncio.create_subprocess_shell``
  with a command built from input;
- a program chosen by input: ``subprocess.run(cmd)``, ``subprocess.run([prog, ...])``,
  ``os.exec*``/``os.spawn*`` where the program comes from input. ``subprocess.run(["git",
  "log", branch])`` is not flagged: without a shell, an argument cannot become a command;
- ``eval``/``exec`` of anything but a literal string (``eval("1 + 1")`` is harmless and
  allowed; ``eval(expression)`` is flagged even when the name is a module constant);
- deleting files (``os.remove``/``unlink``/``rmdir``/``removedirs``, ``shutil.rmtree``,
  ``Path.unlink``/``rmdir``) unless the path is clearly inside a temporary directory (made by
  ``tempfile``, or a literal under ``/tmp/``);
- writing to an absolute path outside ``/tmp`` (``open(..., "w")``, ``Path.write_text``,
  ``shutil.copy`` destinations, ``os.makedirs``...), or under the home directory;
- ``pickle.load(s)``, ``marshal.load(s)``, ``yaml.load`` without a safe loader,
  ``yaml.unsafe_load`` on data that comes from input.

"Input" means a function's parameters, ``input()``, ``sys.argv``, ``sys.stdin`` and the
environment, followed through assignments inside the function (a flow-insensitive taint: a
name assigned from input anywhere in the function is input everywhere in it).

For every language, secrets in the code: strings shaped like OpenAI, Anthropic, Google, GitHub,
AWS or Slack keys and private-key blocks, and long random-looking strings assigned to names
ending in ``key``/``token``/``secret`` (or passwords assigned to ``password``-like names).
Messages never repeat a secret: only its first characters.
"""

from __future__ import annotations

import ast
import builtins
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from frugalflow.schemas import ValidationIssue

CHECK = "safety"

_SNIPPET_CHARS = 60

_SUBPROCESS = frozenset(
    f"subprocess.{name}" for name in ("run", "call", "check_call", "check_output", "Popen")
)
_SHELL_COMMANDS = frozenset(
    {
        "os.system",
        "os.popen",
        "subprocess.getoutput",
        "subprocess.getstatusoutput",
        "asyncio.create_subprocess_shell",
        "commands.getoutput",
    }
)
_PROGRAM_FIRST = frozenset(
    {
        *(f"os.{name}" for name in ("execv", "execve", "execl", "execle", "execlp")),
        *(f"os.{name}" for name in ("execlpe", "execvp", "execvpe", "posix_spawn")),
        "os.posix_spawnp",
        "asyncio.create_subprocess_exec",
        "pty.spawn",
    }
)
_PROGRAM_SECOND = frozenset(
    f"os.{name}"
    for name in ("spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve", "spawnvp")
) | {"os.spawnvpe"}
_EVAL = frozenset({"eval", "exec", "builtins.eval", "builtins.exec"})
_DELETE = frozenset(
    {"os.remove", "os.unlink", "os.rmdir", "os.removedirs", "shutil.rmtree"}
    | {"pathlib.Path.unlink", "pathlib.Path.rmdir"}
)
_OPEN = frozenset(
    {"open", "builtins.open", "io.open", "codecs.open", "gzip.open", "bz2.open", "lzma.open"}
)
_WRITE_FIRST = frozenset({"os.makedirs", "os.mkdir", "os.mkfifo", "os.truncate"})
_WRITE_SECOND = frozenset(
    {
        *(f"shutil.{name}" for name in ("copy", "copy2", "copyfile", "copytree", "move")),
        "os.rename",
        "os.replace",
        "os.symlink",
        "os.link",
    }
)
_WRITE_METHODS = frozenset({"write_text", "write_bytes", "touch", "mkdir", "symlink_to"})
_DESERIALIZE = frozenset(
    {
        *(f"{module}.load" for module in ("pickle", "cPickle", "_pickle", "dill")),
        *(f"{module}.loads" for module in ("pickle", "cPickle", "_pickle", "dill")),
        "marshal.load",
        "marshal.loads",
        "shelve.open",
        "pandas.read_pickle",
        "jsonpickle.decode",
        "yaml.unsafe_load",
        "yaml.unsafe_load_all",
        "yaml.full_load",
        "yaml.full_load_all",
    }
)
_YAML_LOAD = frozenset({"yaml.load", "yaml.load_all"})
_SAFE_YAML_LOADERS = frozenset({"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"})
_INPUT_SOURCES = frozenset(
    {"input", "sys.argv", "sys.stdin", "os.environ", "os.getenv", "os.environb", "os.getenvb"}
)
_PATH_CONSTRUCTORS = frozenset(
    {
        "pathlib.Path",
        "pathlib.PurePath",
        "pathlib.PosixPath",
        "pathlib.PurePosixPath",
        "str",
        "os.fspath",
        "os.path.join",
        "os.path.abspath",
        "os.path.realpath",
        "os.path.normpath",
        "os.path.expanduser",
        "os.path.dirname",
    }
)
_PATH_METHODS = frozenset(
    {"joinpath", "resolve", "absolute", "with_name", "with_suffix", "with_stem", "expanduser"}
)
_TEMP = "<tempfile>"
_HOME = "~"

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

REFUSED_HINT = (
    "Refused: to accept such code anyway, pass --allow-dangerous on the command line"
    " (allow_dangerous=true in the request)."
)
ALLOWED_NOTE = "Kept because the request allows dangerous code (allow_dangerous)."


def find_dangers(code: str, language: str = "python") -> list[ValidationIssue]:
    """Every dangerous construct and secret found in ``code``, in line order.

    Args:
        code: the candidate code.
        language: ``python`` gets the syntax-tree checks; every language gets the secret scan.

    Returns:
        One issue per finding, check ``"safety"``; empty when nothing was found. Python that
        does not parse gets only the secret scan (syntax errors are reported elsewhere).
    """
    issues = find_secrets(code, language)
    if language == "python":
        try:
            tree = ast.parse(code)
        except SyntaxError:
            pass
        else:
            analyzer = _Analyzer(tree)
            issues += analyzer.findings
            issues += _secret_assignments(tree)
    unique: dict[tuple[int | None, str], ValidationIssue] = {}
    for issue in issues:
        # one finding per line and kind: a key literal assigned to API_KEY is one problem
        kind = issue.message.split(":", 1)[0]
        unique.setdefault((issue.line, kind), issue)
    return sorted(unique.values(), key=lambda issue: (issue.line or 0, issue.message))


# -- secrets -----------------------------------------------------------------------------------


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


def _secret_assignments(tree: ast.Module) -> list[ValidationIssue]:
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


# -- dangerous calls ---------------------------------------------------------------------------


@dataclass
class _Scope:
    """Names of one function (or the module): its parameters and what each name is bound to."""

    parameters: set[str] = field(default_factory=set)
    bindings: dict[str, list[ast.expr]] = field(default_factory=dict)

    def bind(self, target: ast.expr, value: ast.expr) -> None:
        for node in ast.walk(target):
            if isinstance(node, ast.Name):
                self.bindings.setdefault(node.id, []).append(value)


def _collect_bindings(body: list[ast.stmt] | list[ast.expr], scope: _Scope) -> None:
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


def _snippet(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= _SNIPPET_CHARS else text[: _SNIPPET_CHARS - 1] + "…"


def _is_literal(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str | bytes)


def _argument(call: ast.Call, position: int, *names: str) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg in names:
            return keyword.value
    if len(call.args) > position and not isinstance(call.args[position], ast.Starred):
        return call.args[position]
    return None


class _Analyzer:
    """One pass over a module's syntax tree, collecting findings."""

    def __init__(self, tree: ast.Module) -> None:
        self.aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.aliases[alias.asname] = alias.name
                    else:
                        first = alias.name.split(".")[0]
                        self.aliases[first] = first
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        self.findings: list[ValidationIssue] = []
        module = _Scope()
        _collect_bindings(tree.body, module)
        self._visit(tree, [module])

    # names

    def qualname(self, node: ast.expr) -> str | None:
        """``subprocess.run`` for ``sp.run`` after ``import subprocess as sp``, and so on."""
        if isinstance(node, ast.Name):
            if node.id in self.aliases:
                return self.aliases[node.id]
            return node.id if hasattr(builtins, node.id) else None
        if isinstance(node, ast.Attribute):
            base = self.qualname(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    def _lookup(self, name: str, scopes: list[_Scope]) -> tuple[bool, list[ast.expr], int]:
        """Whether ``name`` is a parameter, its bound values, and the scope that has it."""
        for depth in range(len(scopes) - 1, -1, -1):
            scope = scopes[depth]
            if name in scope.parameters:
                return True, [], depth
            if name in scope.bindings:
                return False, scope.bindings[name], depth
        return False, [], -1

    def tainted(
        self, node: ast.expr | None, scopes: list[_Scope], seen: frozenset[str] = frozenset()
    ) -> str | None:
        """What makes ``node`` come from input (a parameter's name, ``input()``...), or None."""
        if node is None:
            return None
        for inner in ast.walk(node):
            if isinstance(inner, ast.Attribute | ast.Name | ast.Call):
                qualified = self.qualname(inner.func if isinstance(inner, ast.Call) else inner)
                if qualified in _INPUT_SOURCES:
                    return qualified
            if isinstance(inner, ast.Name) and isinstance(inner.ctx, ast.Load):
                if inner.id in seen:
                    continue
                parameter, values, depth = self._lookup(inner.id, scopes)
                if parameter:
                    return f"the parameter `{inner.id}`"
                for value in values:
                    if self.tainted(value, scopes[: depth + 1], seen | {inner.id}):
                        return f"`{inner.id}`, built from input"
        return None

    def _root(self, node: ast.expr | None, scopes: list[_Scope], depth: int = 0) -> str | None:
        """Where a path expression starts, when that is known: a literal, ``~`` or tempfile."""
        if node is None or depth > 20:
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr) and node.values:
            first = node.values[0]
            if isinstance(first, ast.FormattedValue):
                return self._root(first.value, scopes, depth + 1)
            return self._root(first, scopes, depth + 1)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div | ast.Add):
            return self._root(node.left, scopes, depth + 1)
        if isinstance(node, ast.Attribute | ast.Subscript) and not self.qualname(node):
            return self._root(node.value, scopes, depth + 1)  # .name, .parent, mkstemp()[1]
        if isinstance(node, ast.Name):
            parameter, values, found = self._lookup(node.id, scopes)
            if parameter or len(values) != 1:
                return None
            return self._root(values[0], scopes[: found + 1], depth + 1)
        if isinstance(node, ast.Call):
            qualified = self.qualname(node.func) or ""
            if qualified.startswith("tempfile."):
                return _TEMP
            if qualified == "pathlib.Path.home":
                return _HOME
            if qualified == "os.path.expanduser" or (
                isinstance(node.func, ast.Attribute) and node.func.attr == "expanduser"
            ):
                inner = node.args[0] if node.args else getattr(node.func, "value", None)
                root = self._root(inner, scopes, depth + 1)
                return _HOME if root is not None and root.startswith("~") else root
            if qualified in _PATH_CONSTRUCTORS and node.args:
                return self._root(node.args[0], scopes, depth + 1)
            if isinstance(node.func, ast.Attribute) and node.func.attr in _PATH_METHODS:
                return self._root(node.func.value, scopes, depth + 1)
        return None

    @staticmethod
    def _is_temp(root: str | None) -> bool:
        return root == _TEMP or (
            root is not None
            and (root in {"/tmp", "/var/tmp"} or root.startswith(("/tmp/", "/var/tmp/")))
        )

    # the walk

    def _visit(self, node: ast.AST, scopes: list[_Scope]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                scope = _Scope()
                arguments = child.args
                for arg in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs):
                    scope.parameters.add(arg.arg)
                for extra in (arguments.vararg, arguments.kwarg):
                    if extra:
                        scope.parameters.add(extra.arg)
                if isinstance(child, ast.Lambda):
                    _collect_bindings([child.body], scope)
                else:
                    _collect_bindings(child.body, scope)
                    scope.parameters.discard("self")
                    scope.parameters.discard("cls")
                for default in (*arguments.defaults, *arguments.kw_defaults):
                    if default is not None:
                        self._visit(default, scopes)
                body = [child.body] if isinstance(child, ast.Lambda) else child.body
                for statement in body:
                    self._check(statement, [*scopes, scope])
                    self._visit(statement, [*scopes, scope])
                continue
            self._check(child, scopes)
            self._visit(child, scopes)

    def _check(self, node: ast.AST, scopes: list[_Scope]) -> None:
        if isinstance(node, ast.Call):
            for message in self._call_findings(node, scopes):
                self.findings.append(
                    ValidationIssue(check=CHECK, message=message, line=node.lineno)
                )

    def _call_findings(self, call: ast.Call, scopes: list[_Scope]) -> Iterator[str]:
        qualified = self.qualname(call.func)
        method = call.func.attr if isinstance(call.func, ast.Attribute) else None
        if qualified in _SUBPROCESS:
            yield from self._subprocess(call, qualified, scopes)
        elif qualified in _SHELL_COMMANDS:
            command = _argument(call, 0, "cmd", "command")
            source = self.tainted(command, scopes)
            if source:
                yield (
                    f"shell command built from input: `{qualified}({_snippet(command or call)})`"
                    f" runs a shell command made from {source}; whoever controls that value can"
                    " run any command (command injection). Use subprocess.run with a list of"
                    " arguments and no shell."
                )
        elif qualified in _PROGRAM_FIRST or qualified in _PROGRAM_SECOND:
            program = _argument(call, 1 if qualified in _PROGRAM_SECOND else 0, "path", "file")
            source = self.tainted(program, scopes)
            if source:
                yield self._program_message(qualified, program or call, source)
        elif qualified in _EVAL:
            yield from self._eval(call, qualified, scopes)
        elif qualified in _DELETE or (qualified is None and method in {"unlink", "rmdir"}):
            target = _argument(call, 0, "path") if qualified in _DELETE else None
            if target is None and isinstance(call.func, ast.Attribute):
                target = call.func.value
            if not self._is_temp(self._root(target, scopes)):
                what = qualified or f".{method}()"
                yield (
                    f"file deletion: `{what}` deletes `{_snippet(target or call)}`, which is not"
                    " clearly inside a temporary directory; a wrong or hostile path deletes the"
                    " user's files. Delete only paths made with tempfile, or leave deletion to"
                    " the caller."
                )
        elif qualified in _OPEN or (qualified is None and method == "open"):
            yield from self._open(call, qualified, method, scopes)
        elif (
            qualified in _WRITE_FIRST
            or qualified in _WRITE_SECOND
            or (qualified is None and method in _WRITE_METHODS)
        ):
            if qualified in _WRITE_SECOND:
                target = _argument(call, 1, "dst")
            elif qualified in _WRITE_FIRST:
                target = _argument(call, 0, "name", "path")
            else:
                target = call.func.value if isinstance(call.func, ast.Attribute) else None
            yield from self._absolute_write(qualified or f".{method}()", target, scopes)
        elif qualified in _DESERIALIZE or qualified in _YAML_LOAD:
            yield from self._deserialize(call, qualified, scopes)

    def _program_message(self, qualified: str, program: ast.AST, source: str) -> str:
        return (
            f"program chosen by input: `{qualified}` runs `{_snippet(program)}`, which comes"
            f" from {source}; whoever controls it can run any program. Run a fixed program and"
            " pass input only as its arguments."
        )

    def _subprocess(self, call: ast.Call, qualified: str, scopes: list[_Scope]) -> Iterator[str]:
        command = _argument(call, 0, "args")
        shell = next((k.value for k in call.keywords if k.arg == "shell"), None)
        shell_on = shell is not None and not (isinstance(shell, ast.Constant) and not shell.value)
        source = self.tainted(command, scopes)
        if shell_on:
            danger = (
                f"the command is built from {source}, so whoever controls it can run any"
                " command (command injection)"
                if source
                else "any input later added to the command can run other commands"
            )
            yield (
                f"shell=True: `{qualified}(..., shell=True)` runs its command through a shell;"
                f" {danger}. Pass the program and its arguments as a list, without shell=True."
            )
            return
        program = self._program(command, scopes)
        source = self.tainted(program, scopes)
        if source and program is not None:
            yield self._program_message(qualified, program, source)

    def _program(
        self, command: ast.expr | None, scopes: list[_Scope], depth: int = 0
    ) -> ast.expr | None:
        """The part of a command that names the program: a list's first item, else all of it."""
        if depth > 20:
            return command
        if isinstance(command, ast.List | ast.Tuple):
            first = command.elts[0] if command.elts else None
            return first.value if isinstance(first, ast.Starred) else first
        if isinstance(command, ast.BinOp) and isinstance(command.op, ast.Add):
            left = self._program(command.left, scopes, depth + 1)
            return left if isinstance(command.left, ast.List | ast.Tuple | ast.Name) else command
        if isinstance(command, ast.Name):
            parameter, values, _ = self._lookup(command.id, scopes)
            if not parameter and len(values) == 1:
                resolved = values[0]
                if isinstance(resolved, ast.List | ast.Tuple | ast.BinOp):
                    return self._program(resolved, scopes, depth + 1)
        return command

    def _eval(self, call: ast.Call, qualified: str, scopes: list[_Scope]) -> Iterator[str]:
        code = _argument(call, 0, "source")
        if code is None or _is_literal(code):
            return
        source = self.tainted(code, scopes)
        origin = f" (built from {source})" if source else ""
        yield (
            f"{qualified} of a non-constant value: `{qualified}({_snippet(code)})`{origin} runs"
            " whatever code that value holds. Parse data with json or ast.literal_eval, or call"
            " the function you need directly."
        )

    def _open(
        self, call: ast.Call, qualified: str | None, method: str | None, scopes: list[_Scope]
    ) -> Iterator[str]:
        on_path = method == "open" and qualified not in _OPEN
        target = call.func.value if on_path and isinstance(call.func, ast.Attribute) else None
        if not on_path:
            target = _argument(call, 0, "file", "filename")
        mode = _argument(call, 0 if on_path else 1, "mode")
        if not (isinstance(mode, ast.Constant) and isinstance(mode.value, str)):
            return
        if any(flag in mode.value for flag in "wax+"):
            yield from self._absolute_write(qualified or ".open()", target, scopes)

    def _absolute_write(
        self, what: str, target: ast.expr | None, scopes: list[_Scope]
    ) -> Iterator[str]:
        root = self._root(target, scopes)
        if root is None or self._is_temp(root) or not root.startswith(("/", "~")):
            return
        shown = _snippet(target) if target is not None else root
        place = "the home directory" if root.startswith("~") else f"`{shown}`"
        yield (
            f"write outside the project: `{what}` writes to {place}, an absolute path outside"
            " /tmp. Generated code should write only where its caller says (a parameter) or"
            " under a directory made with tempfile."
        )

    def _deserialize(self, call: ast.Call, qualified: str, scopes: list[_Scope]) -> Iterator[str]:
        if qualified in _YAML_LOAD:
            loader = _argument(call, 1, "Loader")
            name = self.qualname(loader) if loader is not None else None
            if name and name.rsplit(".", 1)[-1] in _SAFE_YAML_LOADERS:
                return
        data = _argument(call, 0, "data", "stream", "file", "filename", "s", "path")
        source = self.tainted(data, scopes)
        if source:
            yield (
                f"unsafe deserialization: `{qualified}` reads data that comes from {source};"
                " loading such data can run code chosen by whoever made it. Use json, or"
                " yaml.safe_load."
            )

"""Dangerous constructs in generated Python, read from its syntax tree without running it.

:func:`python_dangers` walks a module once and returns a :class:`Finding` (line and message)
per dangerous call, import or indirect access; :mod:`frugalflow.validation.safety.check` lists what is flagged
and turns findings into validation issues. Names are resolved by :mod:`frugalflow.validation.safety.names`
(aliases, hidden imports, ``getattr``), paths by :mod:`frugalflow.validation.safety.paths`.

One module over 400 lines on purpose: it is the list of what the check flags, one visitor
method per construct, and a reviewer must see all of it at once to see what is missing.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from frugalflow.validation.safety.names import (
    SENSITIVE_MODULES,
    Names,
    Scope,
    argument,
    collect_bindings,
    function_scope,
    text_of,
)
from frugalflow.validation.safety.paths import PathReader, Place, Verdict

_SNIPPET_CHARS = 60

_SUBPROCESS = frozenset(
    f"subprocess.{name}" for name in ("run", "call", "check_call", "check_output", "Popen")
)
_SHELL_COMMANDS = frozenset(
    {"os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput"}
    | {"asyncio.create_subprocess_shell", "commands.getoutput"}
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
_SHELLS = frozenset(
    {"sh", "bash", "zsh", "dash", "ksh", "/bin/sh", "/bin/bash", "cmd", "powershell"}
)
_EVAL = frozenset({"eval", "exec", "compile"})
_IMPORTERS = frozenset({"__import__", "importlib.__import__", "importlib.import_module"})
_CODE_OBJECTS = frozenset(
    {"types.FunctionType", "types.CodeType", "types.LambdaType", "runpy.run_path"}
    | {"runpy.run_module", "code.interact", "code.InteractiveInterpreter", "imp.load_source"}
    | {"code.InteractiveConsole", "importlib.util.spec_from_file_location"}
    | {"importlib.machinery.SourceFileLoader", "importlib.util.module_from_spec"}
)
_AS_VALUES = _SUBPROCESS | _SHELL_COMMANDS | _PROGRAM_FIRST | _PROGRAM_SECOND | _EVAL | _IMPORTERS
_DELETE = frozenset(
    {"os.remove", "os.unlink", "os.rmdir", "os.removedirs", "shutil.rmtree"}
    | {"pathlib.Path.unlink", "pathlib.Path.rmdir"}
)
_PERMISSIONS = frozenset(
    {"os.chmod", "os.lchmod", "os.fchmod", "os.chown", "os.lchown", "os.fchown", "shutil.chown"}
)
_IDENTITY = frozenset(
    f"os.{name}"
    for name in ("setuid", "setgid", "seteuid", "setegid", "setreuid", "setregid", "setresuid")
) | {"os.setresgid", "os.setgroups", "os.initgroups", "os.chroot"}
_PROCESSES = frozenset(
    {"os.fork", "os.forkpty", "pty.fork", "concurrent.futures.ProcessPoolExecutor"}
)
_OPEN = frozenset(
    {"open", "io.open", "codecs.open", "gzip.open", "bz2.open", "lzma.open", "tarfile.open"}
    | {"io.FileIO", "zipfile.ZipFile"}
)
_WRITE_FLAGS = frozenset(
    f"os.O_{flag}" for flag in ("WRONLY", "RDWR", "CREAT", "APPEND", "TRUNC", "EXCL", "TMPFILE")
)
_WRITE_FIRST = frozenset({"os.makedirs", "os.mkdir", "os.mkfifo", "os.mknod", "os.truncate"})
_WRITE_SECOND = frozenset(
    {
        *(f"shutil.{name}" for name in ("copy", "copy2", "copyfile", "copytree", "move")),
        *("os.rename", "os.renames", "os.replace", "os.symlink", "os.link"),
    }
)
_WRITE_METHODS = frozenset(
    {"write_text", "write_bytes", "touch", "mkdir", "symlink_to", "hardlink_to"}
)
_DESERIALIZE = frozenset(
    {
        *(f"{module}.load" for module in ("pickle", "cPickle", "_pickle", "dill")),
        *(f"{module}.loads" for module in ("pickle", "cPickle", "_pickle", "dill")),
        *("marshal.load", "marshal.loads", "shelve.open", "pandas.read_pickle"),
        *("jsonpickle.decode", "yaml.unsafe_load", "yaml.unsafe_load_all", "yaml.full_load"),
        "yaml.full_load_all",
    }
)
_YAML_LOAD = frozenset({"yaml.load", "yaml.load_all"})
_SAFE_YAML_LOADERS = frozenset({"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"})
_NATIVE_MODULES = frozenset({"ctypes", "_ctypes", "cffi"})
_NETWORK_MODULES = frozenset(
    {"socket", "_socket", "ssl", "socketserver", "asyncore", "asynchat", "webbrowser"}
    | {"urllib.request", "urllib2", "urllib3", "http.client", "http.server", "httplib"}
    | {"requests", "httpx", "aiohttp", "ftplib", "telnetlib", "smtplib", "smtpd", "poplib"}
    | {"imaplib", "nntplib", "xmlrpc.client", "xmlrpc.server", "paramiko", "websocket"}
    | {"websockets", "pycurl", "grpc", "zmq", "asyncssh", "fabric", "pysftp", "scp"}
)
_NETWORK_CALLS = frozenset(
    {"asyncio.open_connection", "asyncio.start_server", "asyncio.open_unix_connection"}
    | {"asyncio.start_unix_server"}
)
_INTROSPECTION = frozenset(
    {"__subclasses__", "__globals__", "__builtins__", "__code__", "f_globals", "f_locals"}
    | {"f_builtins"}
)


_DANGEROUS_BY_NAME = (
    (_AS_VALUES | _PROCESSES | _IDENTITY | _DELETE | _PERMISSIONS | _OPEN | _WRITE_FIRST)
    | _WRITE_SECOND
    | {"os.open", "os.write", "os.fdopen", "ctypes.CDLL", "globals", "locals"}
)


@dataclass(frozen=True)
class Finding:
    """One dangerous construct: where it is and what to say about it."""

    line: int
    message: str


def python_dangers(tree: ast.Module) -> list[Finding]:
    """Every dangerous call, import and indirect access in a parsed module."""
    return _Analyzer(tree).findings


def _snippet(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= _SNIPPET_CHARS else text[: _SNIPPET_CHARS - 1] + "…"


def _matching_module(name: str, modules: frozenset[str]) -> str | None:
    return next((m for m in sorted(modules) if name == m or name.startswith(f"{m}.")), None)


def _own_module(node: ast.expr) -> bool:
    """``__name__`` or ``cls.__module__``: the module the code itself is in."""
    return (isinstance(node, ast.Name) and node.id == "__name__") or (
        isinstance(node, ast.Attribute) and node.attr == "__module__"
    )


def _is_sensitive_module(name: str) -> bool:
    return name.split(".")[0] in SENSITIVE_MODULES or name == "globals"


class _Analyzer:
    """One pass over a module's syntax tree, collecting findings."""

    def __init__(self, tree: ast.Module) -> None:
        self.names = Names(tree)
        self.paths = PathReader(self.names)
        self.findings: list[Finding] = []
        self.announced: set[str] = set()  # network and native modules already reported
        self.parents = {
            id(child): parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)
        }
        self.unbounded: set[int] = {
            id(inner)
            for loop in ast.walk(tree)
            if isinstance(loop, ast.While)
            and isinstance(loop.test, ast.Constant)
            and loop.test.value
            for inner in ast.walk(loop)
        }
        module = Scope()
        collect_bindings(tree.body, module)
        self._visit(tree, [module])

    def _visit(self, node: ast.AST, scopes: list[Scope]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                arguments = child.args
                for default in (*arguments.defaults, *arguments.kw_defaults):
                    if default is not None:
                        self._check(default, scopes)
                        self._visit(default, scopes)
                for decorator in getattr(child, "decorator_list", []):
                    self._check(decorator, scopes)
                    self._visit(decorator, scopes)
                inner = [*scopes, function_scope(child)]
                body = [child.body] if isinstance(child, ast.Lambda) else child.body
                for statement in body:
                    self._check(statement, inner)
                    self._visit(statement, inner)
                continue
            self._check(child, scopes)
            self._visit(child, scopes)

    def _check(self, node: ast.AST, scopes: list[Scope]) -> None:
        line = getattr(node, "lineno", 1)
        found: Iterator[str] = iter(())
        if isinstance(node, ast.Call):
            found = self._call_findings(node, scopes)
        elif isinstance(node, ast.Import):
            found = self._imports([alias.name for alias in node.names])
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found = self._imports(
                [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            )
        elif isinstance(node, ast.Name | ast.Attribute | ast.Subscript):
            found = self._reference(node, scopes)
        for message in found:
            self.findings.append(Finding(line, message))

    # imports, network, native code

    def _imports(self, modules: list[str]) -> Iterator[str]:
        for module in modules:
            yield from self._module(module)

    def _module(self, module: str) -> Iterator[str]:
        native = _matching_module(module, _NATIVE_MODULES)
        network = _matching_module(module, _NETWORK_MODULES)
        if native and native not in self.announced:
            self.announced.add(native)
            yield (
                f"native code: `{native}` calls C functions directly (libc's system, raw memory),"
                " past every check on Python calls. Write it in plain Python, or ask for"
                " dangerous code to be allowed."
            )
        if network and network not in self.announced:
            self.announced.add(network)
            yield (
                f"network access: `{network}` opens network connections; generated code has no"
                " business talking to other machines (it could send the user's files or keys"
                " away). Take the data as a parameter, or ask for dangerous code to be allowed."
            )

    # references that hide what runs

    def _reference(self, node: ast.expr, scopes: list[Scope]) -> Iterator[str]:
        if not isinstance(getattr(node, "ctx", None), ast.Load):
            return
        parent = self.parents.get(id(node))
        if isinstance(node, ast.Name) and node.id == "__builtins__":
            yield self._indirect("`__builtins__`", "reaches the built-in functions by name")
            return
        if isinstance(node, ast.Attribute) and node.attr in _INTROSPECTION:
            yield self._indirect(
                f"`{_snippet(node)}`", "walks interpreter internals to reach hidden functions"
            )
            return
        if isinstance(node, ast.Attribute) and node.attr == "__dict__":
            modules = sorted(
                n for n in self.names.resolve(node.value, scopes) if _is_sensitive_module(n)
            )
            if modules:
                yield self._indirect(f"`{modules[0]}.__dict__`", "looks functions up by name")
                return
        if isinstance(node, ast.Subscript):
            yield from self._lookup_by_key(node, scopes)
            return
        called = isinstance(parent, ast.Call) and parent.func is node
        if called or isinstance(parent, ast.Attribute):
            return
        values = sorted(self.names.resolve(node, scopes) & (_AS_VALUES | _PROCESSES))
        if values:
            yield self._indirect(
                f"`{values[0]}` used as a value (`{_snippet(parent or node)}`)",
                "calls it under another name, out of sight",
            )

    def _lookup_by_key(self, node: ast.Subscript, scopes: list[Scope]) -> Iterator[str]:
        namespaces = self.names.namespaces(node.value, scopes)
        key = self.names.constant(node.slice, scopes)
        by_runtime_key = not isinstance(key, str) or key.startswith("__")
        if {n for n in namespaces if _is_sensitive_module(n)} - {"globals"}:
            yield self._indirect(f"`{_snippet(node)}`", "looks functions up by name")
        elif "globals" in namespaces and by_runtime_key:
            yield self._indirect(f"`{_snippet(node)}`", "looks names up at run time")
        elif self.names.resolve(node.value, scopes) & {"sys.modules"} and not (
            isinstance(key, str) or _own_module(node.slice)
        ):
            yield self._indirect(f"`{_snippet(node)}`", "picks a module chosen at run time")

    @staticmethod
    def _indirect(what: str, how: str) -> str:
        return (
            f"indirect access: {what} {how}, which hides what the code runs. Import the"
            " module and call the function by its plain name, so that it can be checked."
        )

    # calls

    def _call_findings(self, call: ast.Call, scopes: list[Scope]) -> Iterator[str]:
        method = call.func.attr if isinstance(call.func, ast.Attribute) else None
        candidates: list[str | None] = [*sorted(self.names.resolve(call.func, scopes))]
        for qualified in candidates or [None]:
            yield from self._call(call, qualified, method, scopes)

    def _call(  # one branch per kind of dangerous call
        self, call: ast.Call, qualified: str | None, method: str | None, scopes: list[Scope]
    ) -> Iterator[str]:
        if qualified in _SUBPROCESS:
            yield from self._subprocess(call, qualified, scopes)
        elif qualified in _SHELL_COMMANDS:
            command = argument(call, 0, "cmd", "command")
            source = self.names.tainted(command, scopes)
            if source:
                yield (
                    f"shell command built from input: `{qualified}({_snippet(command or call)})`"
                    f" runs a shell command made from {source}; whoever controls that value can"
                    " run any command (command injection). Use subprocess.run with a list of"
                    " arguments and no shell."
                )
        elif qualified in _PROGRAM_FIRST or qualified in _PROGRAM_SECOND:
            program = argument(call, 1 if qualified in _PROGRAM_SECOND else 0, "path", "file")
            source = self.names.tainted(program, scopes)
            if source:
                yield self._program_message(qualified, program or call, source)
        elif qualified in _EVAL:
            yield from self._eval(call, qualified, scopes)
        elif qualified in _IMPORTERS:
            yield from self._dynamic_import(call, qualified, scopes)
        elif qualified in _CODE_OBJECTS:
            yield (
                f"code built at run time: `{qualified}` makes runnable code from a code object or"
                " a file, which no check can read. Write the function in the code itself."
            )
        elif qualified in {"getattr", "setattr", "delattr", "vars"}:
            yield from self._by_name(call, qualified, scopes)
        elif qualified in _DELETE or (qualified is None and method in {"unlink", "rmdir"}):
            target = argument(call, 0, "path") if qualified in _DELETE else None
            if target is None and isinstance(call.func, ast.Attribute):
                target = call.func.value
            if self.paths.where(target, scopes).place is not Place.TEMP:
                what = qualified or f".{method}()"
                yield (
                    f"file deletion: `{what}` deletes `{_snippet(target or call)}`, which is not"
                    " clearly inside a temporary directory; a wrong or hostile path deletes the"
                    " user's files. Delete only paths made with tempfile, or leave deletion to"
                    " the caller."
                )
        elif qualified in _PERMISSIONS or (qualified is None and method in {"chmod", "lchmod"}):
            target = argument(call, 0, "path", "fd") if qualified else None
            if target is None and isinstance(call.func, ast.Attribute) and not qualified:
                target = call.func.value
            if self.paths.where(target, scopes).place is not Place.TEMP:
                yield (
                    f"permission change: `{qualified or f'.{method}()'}` changes who may read,"
                    f" write or run `{_snippet(target or call)}`; a wrong path opens the user's"
                    " files to others or makes a program setuid. Leave permissions to the caller."
                )
        elif qualified in _IDENTITY:
            yield (
                f"identity change: `{qualified}` changes the user, group or root directory the"
                " process runs as. Generated code must not change its privileges."
            )
        elif qualified in _PROCESSES or (qualified or "").startswith("multiprocessing."):
            if qualified not in {"multiprocessing.cpu_count", "multiprocessing.current_process"}:
                loop = " in an unbounded loop (a fork bomb)" if id(call) in self.unbounded else ""
                yield (
                    f"spawns processes: `{qualified}`{loop} starts new processes, which outlive"
                    " checks and can exhaust the machine. Use a plain loop, or"
                    " concurrent.futures.ThreadPoolExecutor."
                )
        elif qualified == "os.open":
            yield from self._os_open(call, scopes)
        elif qualified in _OPEN or (qualified is None and method == "open"):
            yield from self._open(call, qualified, method, scopes)
        elif (
            qualified in _WRITE_FIRST
            or qualified in _WRITE_SECOND
            or (qualified is None and method in _WRITE_METHODS)
        ):
            if qualified in _WRITE_SECOND:
                target = argument(call, 1, "dst")
            elif qualified in _WRITE_FIRST:
                target = argument(call, 0, "name", "path")
            else:
                target = call.func.value if isinstance(call.func, ast.Attribute) else None
            yield from self._write(qualified or f".{method}()", target, scopes)
        elif qualified in _DESERIALIZE or qualified in _YAML_LOAD:
            yield from self._deserialize(call, qualified, scopes)
        elif qualified in _NETWORK_CALLS:
            yield from self._module(qualified)
        elif qualified:
            module = _matching_module(qualified, _NETWORK_MODULES | _NATIVE_MODULES)
            if module:
                yield from self._module(module)

    def _program_message(self, qualified: str, program: ast.AST, source: str) -> str:
        return (
            f"program chosen by input: `{qualified}` runs `{_snippet(program)}`, which comes"
            f" from {source}; whoever controls it can run any program. Run a fixed program and"
            " pass input only as its arguments."
        )

    def _shell_on(self, call: ast.Call, scopes: list[Scope]) -> bool:
        for keyword in call.keywords:
            if keyword.arg == "shell":
                value = self.names.constant(keyword.value, scopes)
                literal = isinstance(keyword.value, ast.Constant)
                return not ((literal and not keyword.value.value) or value == 0)  # type: ignore[attr-defined]
            if keyword.arg is None:  # **options: shell=True may be in there
                if not isinstance(keyword.value, ast.Dict):
                    return True
                for key, option in zip(keyword.value.keys, keyword.value.values, strict=True):
                    off = isinstance(option, ast.Constant) and not option.value
                    if key is None or (text_of(key) == "shell" and not off):
                        return True
        return False

    def _subprocess(self, call: ast.Call, qualified: str, scopes: list[Scope]) -> Iterator[str]:
        command = argument(call, 0, "args")
        source = self.names.tainted(command, scopes)
        shell_list = isinstance(command, ast.List | ast.Tuple) and (
            len(command.elts) >= 2
            and text_of(command.elts[0]) in _SHELLS
            and text_of(command.elts[1]) in {"-c", "/c", "-Command"}
        )
        if self._shell_on(call, scopes) or (shell_list and source):
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
        source = self.names.tainted(program, scopes)
        if source and program is not None:
            yield self._program_message(qualified, program, source)

    def _program(
        self, command: ast.expr | None, scopes: list[Scope], depth: int = 0
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
            parameter, values, _ = self.names.lookup(command.id, scopes)
            if not parameter and len(values) == 1:
                resolved = values[0]
                if isinstance(resolved, ast.List | ast.Tuple | ast.BinOp):
                    return self._program(resolved, scopes, depth + 1)
        return command

    def _eval(self, call: ast.Call, qualified: str, scopes: list[Scope]) -> Iterator[str]:
        code = argument(call, 0, "source")
        if code is None or (isinstance(code, ast.Constant) and isinstance(code.value, str | bytes)):
            return
        source = self.names.tainted(code, scopes)
        origin = f" (built from {source})" if source else ""
        yield (
            f"{qualified} of a non-constant value: `{qualified}({_snippet(code)})`{origin} runs"
            " whatever code that value holds. Parse data with json or ast.literal_eval, or call"
            " the function you need directly."
        )

    def _dynamic_import(self, call: ast.Call, qualified: str, scopes: list[Scope]) -> Iterator[str]:
        name = self.names.constant(argument(call, 0, "name"), scopes)
        if not isinstance(name, str):
            yield (
                f"module chosen at run time: `{qualified}({_snippet(call.args[0] if call.args else call)})`"
                " imports a module whose name the code computes, so no check can tell what it"
                " runs. Import the modules you need by name."
            )
            return
        yield from self._module(name)
        if qualified != "importlib.import_module":
            yield (
                f"hidden import: `{qualified}({name!r})` imports `{name}` out of sight of the"
                f" checks. Write `import {name}` instead."
            )

    def _by_name(self, call: ast.Call, qualified: str, scopes: list[Scope]) -> Iterator[str]:
        owner = call.args[0] if call.args else None
        modules = sorted(n for n in self.names.resolve(owner, scopes) if _is_sensitive_module(n))
        if not modules or owner is None:
            return
        name = call.args[1] if len(call.args) > 1 else None
        plain = text_of(name)
        # getattr(os, "O_DIRECTORY", 0) reads a constant; a computed name or a function hides
        if plain is not None and qualified != "vars":
            reached = {f"{module}.{plain}" for module in modules} | {plain}
            if not reached & _DANGEROUS_BY_NAME:
                return
        yield self._indirect(f"`{_snippet(call)}`", f"fetches from `{modules[0]}` by name")

    def _os_open(self, call: ast.Call, scopes: list[Scope]) -> Iterator[str]:
        flags = argument(call, 1, "flags")
        leaves = [
            inner
            for inner in (ast.walk(flags) if flags is not None else ())
            if isinstance(inner, ast.Name | ast.Attribute | ast.Constant)
            and not isinstance(self.parents.get(id(inner)), ast.Attribute)
        ]
        writes = flags is None or any(
            self.names.resolve(leaf, scopes) & _WRITE_FLAGS
            or (isinstance(leaf, ast.Constant) and leaf.value != 0)
            or (not isinstance(leaf, ast.Constant) and not self.names.resolve(leaf, scopes))
            for leaf in leaves
        )
        if writes:
            yield from self._write("os.open", argument(call, 0, "path"), scopes)

    def _open(
        self, call: ast.Call, qualified: str | None, method: str | None, scopes: list[Scope]
    ) -> Iterator[str]:
        on_path = method == "open" and qualified not in _OPEN
        target = call.func.value if on_path and isinstance(call.func, ast.Attribute) else None
        if not on_path:
            target = argument(call, 0, "file", "filename", "name")
        mode_node = argument(call, 0 if on_path else 1, "mode")
        mode = "r" if mode_node is None else self.names.constant(mode_node, scopes)
        if not isinstance(mode, str) or any(flag in mode for flag in "wax+"):
            yield from self._write(qualified or ".open()", target, scopes)

    def _write(self, what: str, target: ast.expr | None, scopes: list[Scope]) -> Iterator[str]:
        verdict = self.paths.where(target, scopes)
        if verdict.place.acceptable:
            return
        yield self._write_message(what, target, verdict)

    @staticmethod
    def _write_message(what: str, target: ast.expr | None, verdict: Verdict) -> str:
        shown = _snippet(target) if target is not None else "?"
        if verdict.text and verdict.text not in shown:
            shown += f"` (that is `{verdict.text[:_SNIPPET_CHARS]}`)"
        else:
            shown += "`"
        instead = (
            " Generated code should write only where its caller says (a parameter) or under a"
            " directory made with tempfile."
        )
        if verdict.place is Place.HOME:
            return f"write outside the project: `{what}` writes to the home directory (`{shown}).{instead}"
        if verdict.place is Place.ABSOLUTE:
            return f"write outside the project: `{what}` writes to `{shown}, an absolute path outside /tmp.{instead}"
        if verdict.place is Place.PARENT:
            return f"write outside the project: `{what}` writes to `{shown}, which climbs out with `..`.{instead}"
        if verdict.place is Place.GIT:
            return (
                f"write into git's metadata: `{what}` writes to `{shown}, inside `.git/`; hooks and"
                " config there run commands at the user's next git command. Leave .git alone."
            )
        return (
            f"write to a path the check cannot work out: `{what}` writes to `{shown}, built in a"
            " way that cannot be followed, so it may point anywhere. Take the path as a"
            " parameter, or build it from a plain relative string or a tempfile directory."
        )

    def _deserialize(self, call: ast.Call, qualified: str, scopes: list[Scope]) -> Iterator[str]:
        if qualified in _YAML_LOAD:
            loader = argument(call, 1, "Loader")
            names = self.names.resolve(loader, scopes) if loader is not None else set()
            if any(name.rsplit(".", 1)[-1] in _SAFE_YAML_LOADERS for name in names):
                return
        data = argument(call, 0, "data", "stream", "file", "filename", "s", "path")
        source = self.names.tainted(data, scopes)
        if source:
            yield (
                f"unsafe deserialization: `{qualified}` reads data that comes from {source};"
                " loading such data can run code chosen by whoever made it. Use json, or"
                " yaml.safe_load."
            )

"""Rename what generated code defines to the repository's naming styles, uses included.

Only names the generated code itself defines are renamed: top-level functions and classes,
module-level constants and the methods of its classes. Parameters are never renamed: they are
part of the signature the request asked for, and callers may pass them by keyword.

A rename is skipped, and reported with its reason, whenever it could change what the code
means: the name is protected (the user's existing names, names the request asked for), the
new name is already taken (by any identifier in the code, a protected name or a builtin), the
name also appears in a plain string (``getattr(obj, "makeSlug")``), or, for a method, the class
inherits from code we cannot see, or the method is called on an object whose class is unknown.

One module over 400 lines on purpose: the survey, the planner and the renamer are three passes
over one libcst tree that share its scope metadata and the rules above; apart, each would
import the others' internals.
"""

from __future__ import annotations

import builtins
import keyword
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import ClassScope, GlobalScope, MetadataWrapper, ScopeProvider

from frugalflow.context.conventions import NAMING_STYLES, SNAKE_CASE, convert_name, fits_style
from frugalflow.core.python_source import Definition, definitions, is_dunder, parse_python
from frugalflow.core.schemas import NamingConventions

_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
_CALLED = re.compile(r"(?<![\w.])([A-Za-z_][\w.]*)\(")
_BACKTICKED = re.compile(r"`([^`\n]+)`")
_QUOTED = re.compile(r"""(?<!\w)['"]([A-Za-z_]\w*)['"](?!\w)""")
_NAMED = re.compile(
    r"\b(?:named|called|function|method|class|constant)\s+(?:(?:named|called)\s+)?['\"`]?"
    r"([A-Za-z_]\w*)",
    re.IGNORECASE,
)

# Bases a class may have while its methods are still safe to rename: they define no methods
# with off-style names that ours could be overriding.
_SAFE_BASES = frozenset(
    {"object", "ABC", "Protocol", "Generic", "NamedTuple", "TypedDict"}
    | {"Enum", "IntEnum", "StrEnum", "Flag", "IntFlag"}
    | {
        name
        for name in dir(builtins)
        if isinstance(getattr(builtins, name), type)
        and issubclass(getattr(builtins, name), BaseException)
    }
)
_BUILTIN_NAMES = frozenset(dir(builtins))


@dataclass(frozen=True)
class SkippedRename:
    """A misfit name left as it is, and why."""

    name: str  # qualified as in the code given: "makeSlug", "slug_maker.joinParts"
    kind: str  # "function", "method", "class" or "constant"
    suggestion: str  # the bare name in the project's style
    reason: str


@dataclass(frozen=True)
class RenameResult:
    """The renamed code and what changed.

    Attributes:
        code: the code with the renames applied (the input unchanged when nothing was renamed).
        renames: qualified old name (``"makeSlug"``, ``"slug_maker.joinParts"``, methods under
            their class's old name) to the new bare identifier.
        skipped: misfit names that were left alone, each with the reason.
    """

    code: str
    renames: dict[str, str]
    skipped: tuple[SkippedRename, ...] = field(default=())


def requested_names(description: str) -> set[str]:
    """The identifiers a request (or an example) names explicitly, which must be kept as is.

    Finds called names (``slugify(text)``, ``Cart.add_item(``), every identifier inside
    backticks, quoted identifiers (``'makeSlug'``) and the word after "named", "called",
    "function", "method", "class" or "constant". Over-matching only keeps a name unrenamed.

    Args:
        description: the request's words, or an example such as ``assert slugify("A") == "a"``.

    Returns:
        The identifiers, dotted names split into their parts.
    """
    names: set[str] = set()
    for match in _CALLED.finditer(description):
        names.update(part for part in match.group(1).split(".") if part)
    for match in _BACKTICKED.finditer(description):
        names.update(_IDENTIFIER.findall(match.group(1)))
    for pattern in (_QUOTED, _NAMED):
        names.update(match.group(1) for match in pattern.finditer(description))
    return {name for name in names if name.isidentifier() and not keyword.iskeyword(name)}


_SIGNATURE = re.compile(r"(?<![\w.])[A-Za-z_]\w*\(([^()]*)\)")


def demanded_names(description: str, examples: tuple[str, ...] = ()) -> set[str]:
    """The names a request demands: those it names (:func:`requested_names`), its examples
    name, and the parameters of a signature it writes out (``max_of(l)`` demands ``l``).

    Args:
        description: the request's words.
        examples: its examples (``assert max_of([1]) == 1``).
    """
    names = requested_names(description)
    for example in examples:
        names |= requested_names(example)
    for match in _SIGNATURE.finditer(description):
        for parameter in match.group(1).split(","):
            head = parameter.strip().lstrip("*").split("=")[0].split(":")[0].strip()
            if head.isidentifier() and not keyword.iskeyword(head):
                names.add(head)
    return names


def module_file_name(main_name: str, conventions: NamingConventions) -> str:
    """The file name of a new module named after its main definition, in the project's style.

    Args:
        main_name: the module's main function or class, e.g. ``"TextCleaner"``.
        conventions: the repository's conventions; an unknown module style means snake_case.

    Returns:
        e.g. ``"text_cleaner.py"`` in a snake_case project, ``"textCleaner.py"`` in a camelCase one.
    """
    style = conventions.module_style if conventions.module_style in NAMING_STYLES else SNAKE_CASE
    return convert_name(main_name, style) + ".py"


def rename_to_conventions(
    code: str, conventions: NamingConventions, *, protected: AbstractSet[str]
) -> RenameResult:
    """Rename the names the code defines to the project's styles and update their uses.

    Args:
        code: the generated Python code (never the user's own code).
        conventions: the repository's styles, from ``detect_naming_conventions``.
        protected: names never to rename, and never to rename anything to: the user's
            existing identifiers in the target module and the names the request asked for.

    Returns:
        The new code, the renames and the misfits left alone with their reasons. Uses are
        updated in calls and references (string annotations, ``__all__`` entries and
        docstring mentions included); parameters are never renamed. Code that does not
        parse is returned unchanged.
    """
    tree = parse_python(code)
    try:
        module = cst.parse_module(code)
    except cst.ParserSyntaxError:
        return RenameResult(code, {})
    if tree is None:
        return RenameResult(code, {})
    wrapper = MetadataWrapper(module)
    survey = _Survey()
    wrapper.visit(survey)
    planner = _Planner(conventions, set(protected), survey, wrapper)
    planner.plan(list(definitions(tree)))
    if not planner.name_nodes and not planner.string_renames:
        return RenameResult(code, {}, tuple(planner.skipped))
    renamed = wrapper.module.visit(
        _Renamer(
            planner.name_nodes,
            planner.string_renames,
            planner.mention_renames,
            planner.type_strings,
        )
    )
    return RenameResult(renamed.code, planner.renames, tuple(planner.skipped))


@dataclass
class _ClassInfo:
    node: cst.ClassDef
    bases: list[str]
    methods: dict[str, list[cst.FunctionDef]]


class _Survey(cst.CSTVisitor):
    """One pass over the code: every identifier, plain string, class and attribute use."""

    METADATA_DEPENDENCIES = (ScopeProvider,)

    def __init__(self) -> None:
        super().__init__()
        self.identifiers: set[str] = set()
        self.strings: set[str] = set()
        self.global_statements: set[str] = set()
        self.classes: dict[str, _ClassInfo] = {}
        # class name -> variables and parameters holding one of its instances
        self.instances: defaultdict[str, set[str]] = defaultdict(set)
        self.attributes: defaultdict[str, list[tuple[cst.Attribute, str | None]]] = defaultdict(
            list
        )
        self._class_stack: list[str] = []
        self._annotation_depth = 0
        self._all_depth = 0
        self._skip_strings: set[int] = set()

    # classes and their methods (top level only, like the naming check)
    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        if not self._class_stack and self._is_top_level(node):
            methods: dict[str, list[cst.FunctionDef]] = defaultdict(list)
            if isinstance(node.body, cst.IndentedBlock):
                for statement in node.body.body:
                    if isinstance(statement, cst.FunctionDef):
                        methods[statement.name.value].append(statement)
            bases = [_base_name(arg.value) for arg in node.bases if arg.keyword is None]
            self.classes[node.name.value] = _ClassInfo(node, bases, dict(methods))
        self._class_stack.append(node.name.value)
        self._note_docstring(node.body)

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self._class_stack.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._note_docstring(node.body)

    def visit_Module(self, node: cst.Module) -> None:
        if node.body:
            string = _docstring_node(node.body[0])
            if string is not None:
                self._skip_strings.add(id(string))

    def _note_docstring(self, body: cst.BaseSuite) -> None:
        if isinstance(body, cst.IndentedBlock) and body.body:
            string = _docstring_node(body.body[0])
            if string is not None:
                self._skip_strings.add(id(string))

    def _is_top_level(self, node: cst.CSTNode) -> bool:
        scope = self.get_metadata(ScopeProvider, node, None)
        return isinstance(scope, GlobalScope)

    def visit_Name(self, node: cst.Name) -> None:
        self.identifiers.add(node.value)

    def visit_Global(self, node: cst.Global) -> None:
        self.global_statements.update(item.name.value for item in node.names)

    def visit_Annotation(self, node: cst.Annotation) -> None:
        self._annotation_depth += 1

    def leave_Annotation(self, original_node: cst.Annotation) -> None:
        self._annotation_depth -= 1

    def visit_Param(self, node: cst.Param) -> None:
        # A parameter annotated with a class holds one of its instances.
        if node.annotation is not None:
            cls = _annotated_class(node.annotation.annotation)
            if cls is not None:
                self.instances[cls].add(node.name.value)

    def visit_Assign(self, node: cst.Assign) -> None:
        # x = SlugMaker(...) binds an instance of SlugMaker.
        if isinstance(node.value, cst.Call) and isinstance(node.value.func, cst.Name):
            for target in node.targets:
                if isinstance(target.target, cst.Name):
                    self.instances[node.value.func.value].add(target.target.value)
        if _targets_all(node):
            self._all_depth += 1

    def leave_Assign(self, original_node: cst.Assign) -> None:
        if _targets_all(original_node):
            self._all_depth -= 1

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.target, cst.Name) and node.target.value == "__all__":
            self._all_depth += 1

    def leave_AugAssign(self, original_node: cst.AugAssign) -> None:
        if isinstance(original_node.target, cst.Name) and original_node.target.value == "__all__":
            self._all_depth -= 1

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        # __all__ entries and string annotations are renamed with the names they hold;
        # docstrings only mention names. Any other string may look a name up at run time.
        if not (self._all_depth or self._annotation_depth or id(node) in self._skip_strings):
            value = node.evaluated_value
            if isinstance(value, str):
                self.strings.add(value)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self.attributes[node.attr.value].append(
            (node, self._class_stack[0] if self._class_stack else None)
        )


def _docstring_node(statement: cst.CSTNode) -> cst.SimpleString | None:
    if (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr)
        and isinstance(statement.body[0].value, cst.SimpleString)
    ):
        return statement.body[0].value
    return None


def _base_name(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Subscript):
        node = node.value
    if isinstance(node, cst.Attribute):
        return node.attr.value
    if isinstance(node, cst.Name):
        return node.value
    return ""


def _annotated_class(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) and value.isidentifier() else None
    return None


class _Planner:
    """Decides which renames are safe and which syntax nodes each one touches."""

    def __init__(
        self,
        conventions: NamingConventions,
        protected: set[str],
        survey: _Survey,
        wrapper: MetadataWrapper,
    ) -> None:
        self.expected = {
            "function": conventions.function_style,
            "method": conventions.function_style,
            "class": conventions.class_style,
            "constant": conventions.constant_style,
        }
        self.protected = protected
        self.survey = survey
        self.scopes = wrapper.resolve(ScopeProvider)
        self.global_scope = next(
            (s for s in self.scopes.values() if isinstance(s, GlobalScope)), None
        )
        self.taken = survey.identifiers | protected | _BUILTIN_NAMES
        self.renames: dict[str, str] = {}
        self.skipped: list[SkippedRename] = []
        self.name_nodes: dict[cst.Name, str] = {}
        self.string_renames: dict[str, str] = {}  # top-level old -> new, for strings
        self.type_strings: set[cst.SimpleString] = set()  # "SlugMaker" used as a type
        self.mention_renames: dict[str, str] = {}  # any old -> new, for docstrings

    def plan(self, definitions: Sequence[Definition]) -> None:
        methods: dict[str, list[Definition]] = defaultdict(list)
        for definition in definitions:
            if definition.kind == "method":
                methods[definition.name].append(definition)
            else:
                self._plan_top_level(definition)
        for group in methods.values():
            self._plan_method(group)

    def _misfit(self, definition: Definition) -> str | None:
        """The new name when ``definition`` does not fit its style, else None."""
        style = self.expected[definition.kind]
        if is_dunder(definition.name) or style not in NAMING_STYLES:
            return None
        if fits_style(definition.name, style):
            return None
        return convert_name(definition.name, style)

    def _obstacle(self, old: str, new: str, qualified: Iterable[str]) -> str | None:
        if old in self.protected or any(q in self.protected for q in qualified):
            return "protected: an existing name or one the request asked for"
        if new == old or not new.isidentifier() or keyword.iskeyword(new):
            return f"{old!r} cannot be written in the expected style"
        if new in self.taken:
            return f"{new!r} is already used in the code, the module or by Python"
        if old in self.survey.strings:
            return f"{old!r} also appears in a string, which may refer to it by name"
        return None

    def _skip(self, definition: Definition, new: str, reason: str) -> None:
        self.skipped.append(SkippedRename(definition.qualified, definition.kind, new, reason))

    def _plan_top_level(self, definition: Definition) -> None:
        new = self._misfit(definition)
        if new is None:
            return
        reason = self._obstacle(definition.name, new, [definition.qualified])
        nodes: list[cst.Name] = []
        if reason is None:
            nodes, reason = self._global_nodes(definition.name)
        if reason is not None:
            self._skip(definition, new, reason)
            return
        self._accept(definition, new, nodes)
        self.string_renames[definition.name] = new

    def _global_nodes(self, old: str) -> tuple[list[cst.Name], str | None]:
        """The defining and using name nodes of a module-level binding."""
        if self.global_scope is None:
            return [], "the code has no module scope"
        if old in self.survey.global_statements:
            return [], f"{old!r} is rebound through a global statement"
        nodes: list[cst.Name] = []
        for assignment in self.global_scope.assignments[old]:
            node = getattr(assignment, "node", None)
            if isinstance(node, cst.FunctionDef | cst.ClassDef):
                nodes.append(node.name)
            elif isinstance(node, cst.Name):
                nodes.append(node)
            else:
                return [], f"{old!r} is also bound by an import or another statement"
            for access in assignment.references:
                if isinstance(access.node, cst.Name):
                    nodes.append(access.node)
                elif isinstance(access.node, cst.SimpleString):  # a type written as a string
                    self.type_strings.add(access.node)
                else:
                    return [], f"{old!r} is used in a way that cannot be renamed safely"
        return nodes, None

    def _plan_method(self, group: list[Definition]) -> None:
        first = group[0]
        new = self._misfit(first)
        if new is None:
            return
        qualified = [d.qualified for d in group]
        reason = self._obstacle(first.name, new, qualified)
        nodes: list[cst.Name] = []
        if reason is None:
            nodes, reason = self._method_nodes(first.name, {q.split(".")[0] for q in qualified})
        if reason is not None:
            for definition in group:
                self._skip(definition, new, reason)
            return
        for definition in group:
            self.renames[definition.qualified] = new
        self._accept(first, new, nodes, record=False)

    def _method_nodes(self, old: str, owners: set[str]) -> tuple[list[cst.Name], str | None]:
        """Definitions of method ``old`` in ``owners`` plus every use, when all uses are safe."""
        classes = self.survey.classes
        generated = set(classes)
        nodes: list[cst.Name] = []
        for owner in owners:
            info = classes.get(owner)
            if info is None:
                return [], f"class {owner!r} is not a plain top-level class"
            foreign = [b for b in info.bases if b not in _SAFE_BASES and b not in generated]
            if foreign:
                return [], f"{owner} inherits from {foreign[0]}, whose methods it may override"
            for function in info.methods.get(old, []):
                nodes.append(function.name)
                scope = self.scopes.get(function)
                if isinstance(scope, ClassScope):
                    for assignment in scope.assignments[old]:
                        for access in assignment.references:
                            if isinstance(access.node, cst.Name):
                                nodes.append(access.node)
        # Subclasses of an owner inherit the method, so their instances may call it too.
        family = set(owners)
        changed = True
        while changed:
            changed = False
            for name, info in classes.items():
                if name not in family and family & set(info.bases):
                    family.add(name)
                    changed = True
        for attribute, enclosing_class in self.survey.attributes.get(old, []):
            if not self._known_receiver(attribute.value, enclosing_class, family):
                receiver = cst.Module([]).code_for_node(attribute.value)
                return [], f"called on {receiver!r}, an object of unknown class"
            nodes.append(attribute.attr)
        return nodes, None

    def _known_receiver(
        self, receiver: cst.BaseExpression, enclosing_class: str | None, family: set[str]
    ) -> bool:
        if isinstance(receiver, cst.Call) and isinstance(receiver.func, cst.Name):
            return receiver.func.value == "super" or receiver.func.value in family
        if not isinstance(receiver, cst.Name):
            return False
        if receiver.value in ("self", "cls"):
            return enclosing_class in family
        if receiver.value in family:
            return True
        # x = SlugMaker(...) anywhere, or a parameter annotated with the class.
        return any(receiver.value in self.survey.instances.get(cls, ()) for cls in family)

    def _accept(
        self, definition: Definition, new: str, nodes: list[cst.Name], *, record: bool = True
    ) -> None:
        for node in nodes:
            self.name_nodes[node] = new
        if record:
            self.renames[definition.qualified] = new
        self.mention_renames[definition.name] = new
        self.taken.add(new)


class _Renamer(cst.CSTTransformer):
    """Applies the planned renames: name nodes by identity, strings by content."""

    def __init__(
        self,
        name_nodes: dict[cst.Name, str],
        string_renames: dict[str, str],
        mention_renames: dict[str, str],
        type_strings: set[cst.SimpleString],
    ) -> None:
        super().__init__()
        self.name_nodes = name_nodes
        self.type_strings = type_strings
        self.string_renames = string_renames
        self.mention_renames = mention_renames
        self.mention_pattern = _word_pattern(mention_renames, after_dot=True)
        self.string_pattern = _word_pattern(string_renames, after_dot=False)
        self._annotation_depth = 0
        self._all_depth = 0
        self._docstrings: set[cst.SimpleString] = set()

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        new = self.name_nodes.get(original_node)
        return updated_node.with_changes(value=new) if new is not None else updated_node

    def visit_Module(self, node: cst.Module) -> None:
        self._note_docstring(node.body)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        if isinstance(node.body, cst.IndentedBlock):
            self._note_docstring(node.body.body)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if isinstance(node.body, cst.IndentedBlock):
            self._note_docstring(node.body.body)

    def _note_docstring(self, body: Sequence[cst.CSTNode]) -> None:
        if body:
            string = _docstring_node(body[0])
            if string is not None:
                self._docstrings.add(string)

    def visit_Annotation(self, node: cst.Annotation) -> None:
        self._annotation_depth += 1

    def leave_Annotation(
        self, original_node: cst.Annotation, updated_node: cst.Annotation
    ) -> cst.Annotation:
        self._annotation_depth -= 1
        return updated_node

    def visit_Assign(self, node: cst.Assign) -> None:
        if _targets_all(node):
            self._all_depth += 1

    def leave_Assign(
        self, original_node: cst.Assign, updated_node: cst.Assign
    ) -> cst.BaseSmallStatement:
        if _targets_all(original_node):
            self._all_depth -= 1
        return updated_node

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.target, cst.Name) and node.target.value == "__all__":
            self._all_depth += 1

    def leave_AugAssign(
        self, original_node: cst.AugAssign, updated_node: cst.AugAssign
    ) -> cst.BaseSmallStatement:
        if isinstance(original_node.target, cst.Name) and original_node.target.value == "__all__":
            self._all_depth -= 1
        return updated_node

    def leave_SimpleString(
        self, original_node: cst.SimpleString, updated_node: cst.SimpleString
    ) -> cst.SimpleString:
        value = original_node.evaluated_value
        if not isinstance(value, str):
            return updated_node
        if self._all_depth and value in self.string_renames:
            return _requoted(updated_node, self.string_renames[value])
        typed = self._annotation_depth or original_node in self.type_strings
        if typed and self.string_pattern is not None:
            return updated_node.with_changes(
                value=self.string_pattern.sub(
                    lambda m: self.string_renames[m.group(0)], updated_node.value
                )
            )
        if original_node in self._docstrings and self.mention_pattern is not None:
            return updated_node.with_changes(
                value=self.mention_pattern.sub(
                    lambda m: self.mention_renames[m.group(0)], updated_node.value
                )
            )
        return updated_node


def _targets_all(node: cst.Assign) -> bool:
    return any(isinstance(t.target, cst.Name) and t.target.value == "__all__" for t in node.targets)


def _word_pattern(renames: dict[str, str], *, after_dot: bool) -> re.Pattern[str] | None:
    """Matches the old names as whole words (``after_dot``: also as ``Class.old``)."""
    if not renames:
        return None
    alternatives = "|".join(re.escape(old) for old in sorted(renames, key=len, reverse=True))
    before = r"(?<!\w)" if after_dot else r"(?<![\w.])"
    return re.compile(rf"{before}(?:{alternatives})(?!\w)")


def _requoted(node: cst.SimpleString, value: str) -> cst.SimpleString:
    quote = node.quote
    return node.with_changes(value=f"{node.prefix}{quote}{value}{quote}")

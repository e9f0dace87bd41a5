"""What a docstring must agree with: a definition's parameters, return and the names it uses."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Signature:
    """What a docstring must agree with.

    Attributes:
        kind: ``"function"``, ``"method"`` or ``"class"``.
        parameters: the names a docstring may document (``*args`` as ``args``); for a
            class, its ``__init__`` parameters and annotated class attributes.
        required: the names a parameter-documenting style must document (all parameters
            but ``self``/``cls``, ``*args`` and ``**kwargs``); empty for a class.
        returns_value: False when the function can only return None.
        types: the parameters' annotations, as written.
        return_type: the return annotation, as written.
        names: every identifier the definition uses; a documented exception must be one.
    """

    kind: str
    parameters: tuple[str, ...]
    required: tuple[str, ...]
    returns_value: bool
    types: tuple[tuple[str, str], ...] = ()
    return_type: str = ""
    names: frozenset[str] = frozenset()


def signature_of(
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, *, method: bool = False
) -> Signature:
    """The parameters and return behaviour of a definition, as a docstring must describe them."""
    names = frozenset(
        n.id if isinstance(n, ast.Name) else n.attr
        for n in ast.walk(node)
        if isinstance(n, ast.Name | ast.Attribute)
    )
    if isinstance(node, ast.ClassDef):
        init = next(
            (
                n
                for n in node.body
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == "__init__"
            ),
            None,
        )
        parameters = list(signature_of(init, method=True).parameters) if init else []
        parameters += [
            n.target.id
            for n in node.body
            if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
        ]
        return Signature("class", tuple(dict.fromkeys(parameters)), (), False, names=names)
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    decorators = {_decorator_name(d) for d in node.decorator_list}
    if method and positional and "staticmethod" not in decorators:
        positional = positional[1:]
    required = [*positional, *args.kwonlyargs]
    extra = [a for a in (args.vararg, args.kwarg) if a is not None]
    return Signature(
        "method" if method else "function",
        tuple(a.arg for a in required + extra),
        tuple(a.arg for a in required),
        _returns_value(node),
        types=tuple((a.arg, ast.unparse(a.annotation)) for a in required + extra if a.annotation),
        return_type=ast.unparse(node.returns) if node.returns else "",
        names=names,
    )


def _decorator_name(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _own_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a function's body, not descending into nested functions or classes."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        yield child
        yield from _own_nodes(child)


def _returns_value(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    annotation = node.returns
    if annotation is not None:
        nothing = (isinstance(annotation, ast.Constant) and annotation.value is None) or (
            isinstance(annotation, ast.Name | ast.Attribute)
            and _decorator_name(annotation) in ("None", "NoReturn", "Never")
        )
        return not nothing
    for child in _own_nodes(node):
        if isinstance(child, ast.Yield | ast.YieldFrom):
            return True
        if isinstance(child, ast.Return) and not (
            child.value is None
            or (isinstance(child.value, ast.Constant) and child.value.value is None)
        ):
            return True
    return False

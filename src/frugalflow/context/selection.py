"""What of the ranked definitions a context shows: the related module, examples, reuse hints."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from frugalflow.context.files import read_text
from frugalflow.context.retrieval import Match
from frugalflow.context.structure import import_line, one_line_signature
from frugalflow.core.schemas import CodeExample, ReuseHint

MAX_EXAMPLES = 4
MAX_HINTS = 8
# An example longer than this is shown by its signature only.
MAX_EXAMPLE_LINES = 40


def selected_module(matches: Sequence[Match]) -> str | None:
    """The file of the best match outside the tests (of the best match when all are tests)."""
    for match in matches:
        if not match.is_test:
            return match.path
    return matches[0].path if matches else None


def reuse_hints(matches: Sequence[Match], language: str, root: str) -> list[ReuseHint]:
    """Public functions and classes of the project's importable code, best match first."""
    hints: list[ReuseHint] = []
    seen: set[tuple[str, str]] = set()
    inside = "" if root == "." else root + "/"
    for match in matches:
        definition = match.definition
        if match.is_test or not definition.public or not match.path.startswith(inside):
            continue
        if definition.kind == "method":
            continue  # a method is reached through its class, which ranks on its own
        line = import_line(match.path, definition.name, language)
        if line is None or (match.path, definition.name) in seen:
            continue
        seen.add((match.path, definition.name))
        signature = one_line_signature(definition.signature) or definition.name
        hints.append(
            ReuseHint(
                name=definition.name,
                kind=definition.kind,
                signature=signature,
                import_line=line,
                summary=definition.summary,
                path=match.path,
            )
        )
        if len(hints) == MAX_HINTS:
            break
    return hints


def related_examples(repo: Path, matches: Sequence[Match]) -> list[tuple[CodeExample, CodeExample]]:
    """The best matches outside the tests (then tests), each as (signature only, whole code);
    a class, or a definition over 40 lines, is shown by its signature only."""
    chosen = [m for m in matches if not m.is_test][:MAX_EXAMPLES]
    chosen += [m for m in matches if m.is_test][: MAX_EXAMPLES - len(chosen)]
    sources: dict[str, list[str]] = {}
    pairs: list[tuple[CodeExample, CodeExample]] = []
    for match in chosen:
        definition = match.definition
        if match.path not in sources:
            sources[match.path] = (read_text(repo, match.path) or "").splitlines()
        lines = sources[match.path][definition.line - 1 : definition.end_line]
        indent = len(lines[0]) - len(lines[0].lstrip()) if lines else 0
        body = "\n".join(line[indent:] for line in lines).rstrip()
        common = {
            "path": match.path,
            "name": definition.name,
            "kind": definition.kind,
            "line": definition.line,
            "signature": definition.signature,
            "summary": definition.summary,
        }
        short = CodeExample(code=definition.signature, **common)
        whole = len(lines) <= MAX_EXAMPLE_LINES and definition.kind != "class" and body
        full = CodeExample(code=body, **common) if whole else short
        pairs.append((short, full))
    return pairs

"""What a JavaScript or TypeScript file defines, read with regular expressions.

Enough for the bridge's naming, layout, ranking and import hints: the declarations a module
makes at its top level (``function``, arrow functions bound with ``const``/``let``/``var``,
``class``, upper-case constants) and what it imports; no parser runs.
"""

from __future__ import annotations

import re

from frugalflow.context.facts import DefinitionFacts, FileFacts, counted_words

# Scanned at most this far for a declaration's closing brace.
_MAX_BLOCK_CHARS = 20_000

_SCRIPT_FUNCTION = re.compile(
    r"^(?:export\s+)?(?:default\s+)?(?:async\s+)?function\s*\*?\s*([A-Za-z_$][\w$]*)\s*[(<]", re.M
)
_SCRIPT_ARROW = re.compile(
    r"^(?:export\s+)?(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*(?::[^=]+)?=\s*(?:async\s+)?"
    r"(?:function\b|\([^)]*\)\s*(?::[^=]+)?=>|[A-Za-z_$][\w$]*\s*=>)",
    re.M,
)
_SCRIPT_CLASS = re.compile(
    r"^(?:export\s+)?(?:default\s+)?(?:abstract\s+)?class\s+([A-Za-z_$][\w$]*)", re.M
)
_SCRIPT_CONSTANT = re.compile(
    r"^(?:export\s+)?const\s+([A-Z][A-Z0-9_]*)\s*(?::[^=]+)?=\s*[\"'`\d\[{-]", re.M
)
_SCRIPT_IMPORT = re.compile(
    r"""(?:^import\s[^'"]*?from\s*|^import\s*|require\(\s*)['"]([^'"]+)['"]""", re.M
)


def _block_end(text: str, start: int, line_end: int) -> int:
    """Where the braces opened on a declaration's line close (the line's end without one).

    Strings and comments are not told apart from code: a brace inside them can end a block
    early, which costs an example some lines, never a wrong name.
    """
    opening = text.find("{", start, line_end)
    if opening < 0:
        return line_end
    depth = 0
    # Bounded: a minified bundle must not cost a scan to its end per declaration.
    for index in range(opening, min(len(text), opening + _MAX_BLOCK_CHARS)):
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
    return line_end


def script_facts(language: str, text: str, lines: int) -> FileFacts:
    """A JavaScript or TypeScript module's top-level functions, classes, constants, imports."""
    found: list[tuple[int, DefinitionFacts]] = []
    for kind, pattern in (
        ("function", _SCRIPT_FUNCTION),
        ("function", _SCRIPT_ARROW),
        ("class", _SCRIPT_CLASS),
        ("constant", _SCRIPT_CONSTANT),
    ):
        for match in pattern.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            line_end = text.find("\n", match.start())
            line_end = len(text) if line_end < 0 else line_end
            signature = text[match.start() : line_end].rstrip(" {")
            end_line = line + text.count(
                "\n", match.start(), _block_end(text, match.end(), line_end)
            )
            name = match.group(1)
            found.append(
                (
                    match.start(),
                    DefinitionFacts(
                        kind=kind,
                        name=name,
                        line=line,
                        end_line=end_line,
                        signature=signature if kind != "constant" else "",
                        words=counted_words(name, [], ""),
                    ),
                )
            )
    found.sort(key=lambda item: item[0])
    imports = tuple(dict.fromkeys(m.group(1) for m in _SCRIPT_IMPORT.finditer(text)))
    return FileFacts(
        language=language,
        parsed=True,
        lines=lines,
        definitions=tuple(d for _, d in found),
        imports=imports,
    )

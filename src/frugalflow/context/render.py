"""The context's parts as the prompt shows them.

One renderer per part, used both by the optimizer (to count each part's tokens while fitting
the budget) and by the prompt (:func:`frugalflow.generation.prompts.build_messages`), so the
tokens counted are the tokens sent.
"""

from __future__ import annotations

from collections.abc import Sequence

from frugalflow.core.schemas import (
    CodeExample,
    GenerationContext,
    NamingPatterns,
    ProjectStandards,
    ReuseHint,
    StructureConventions,
)

CONVENTIONS = "conventions"
HINTS = "reuse hints"
EXAMPLES = "related examples"
LAYOUT = "file layout"
RELATED = "related module"
PART_NAMES = (CONVENTIONS, HINTS, EXAMPLES, LAYOUT, RELATED)
"""The context's parts, most useful first: the order they are fitted in and shown."""

_KIND_PLURALS = {
    "function": "functions",
    "class": "classes",
    "constant": "constants",
    "module": "modules",
    "test_file": "test files",
}


def fence_tag(language: str) -> str:
    """The code fence's language tag for a language name."""
    return language


def percent(share: float) -> str:
    """A share as a whole percentage: ``0.981`` -> ``98%``."""
    return f"{round(share * 100)}%"


def render_conventions(
    patterns: NamingPatterns,
    structure: StructureConventions,
    standards: ProjectStandards,
    language: str,
) -> str:
    """The conventions as short lines: naming with shares, structure, standards."""
    naming = [f"{_KIND_PLURALS[s.kind]} {s.style} {percent(s.share)}" for s in patterns.shares]
    if patterns.verb_first_share is not None:
        verbs = f" ({', '.join(patterns.common_verbs[:5])})" if patterns.common_verbs else ""
        naming.append(
            f"function names start with a verb {percent(patterns.verb_first_share)}{verbs}"
        )
    lines = []
    if naming:
        lines.append("Naming: " + ", ".join(naming) + ".")
    if patterns.vocabulary:
        lines.append("Domain words: " + ", ".join(patterns.vocabulary[:12]) + ".")
    place = f"Layout: {structure.layout}"
    if structure.package:
        place += f", package {structure.package}"
    place += f"; new modules go in {structure.new_module_dir}"
    if structure.tests_dir:
        place += f"; tests in {structure.tests_dir}"
        if structure.test_file_pattern:
            place += f" named {structure.test_file_pattern}"
    lines.append(place + ".")
    if language == "python":
        rules = []
        if standards.line_length:
            rules.append(f"lines at most {standards.line_length} characters")
        if standards.target_version:
            rules.append(f"target {standards.target_version}")
        if standards.indent:
            rules.append(f"indent {standards.indent}")
        if standards.type_checking:
            rules.append(f"checked by {standards.type_checking}")
        rules.append(
            f"type hints on {percent(standards.type_hint_share)} of functions, "
            f"{standards.docstring_style} docstrings on {percent(standards.docstring_share)} "
            "of public definitions"
        )
        lines.append("Standards: " + "; ".join(rules) + ".")
    return "\n".join(lines)


def render_hint(hint: ReuseHint) -> str:
    """One reusable definition: its import line, its signature and its summary."""
    summary = f"  # {hint.summary}" if hint.summary else ""
    return f"{hint.import_line}{summary}\n{hint.signature}"


def render_hints(hints: Sequence[ReuseHint]) -> str:
    """The reusable definitions, as a heading and one entry each ("" when there is none)."""
    if not hints:
        return ""
    return "Existing code to reuse instead of rewriting (import it):\n" + "\n".join(
        render_hint(h) for h in hints
    )


def _located(example: CodeExample) -> str:
    summary = f": {example.summary}" if example.summary else ""
    return f"# {example.path}:{example.line}{summary}\n"


def render_example(example: CodeExample, tag: str) -> str:
    """One related definition as code, with where it is."""
    return f"# {example.path}:{example.line}\n```{tag}\n{example.code}\n```"


def render_examples(examples: Sequence[CodeExample], tag: str) -> str:
    """The related definitions: all their signatures first, then the code of those whose
    body fitted the budget ("" when there is none)."""
    if not examples:
        return ""
    signatures = "\n\n".join(_located(e) + e.signature for e in examples)
    bodies = [render_example(e, tag) for e in examples if e.code.strip() != e.signature.strip()]
    text = f"Related code in this repository:\n```{tag}\n{signatures}\n```"
    return "\n".join([text, *bodies])


def render_layout(paths: Sequence[str]) -> str:
    """The repository's files, one a line ("" when none is shown)."""
    return "Repository files:\n" + "\n".join(paths) if paths else ""


def render_related(path: str | None, source: str | None, tag: str) -> str:
    """The most related module's source ("" when there is none)."""
    if not path or not source:
        return ""
    return f"The most related existing module, {path}:\n```{tag}\n{source}\n```"


def render_context(context: GenerationContext) -> list[str]:
    """Every part of a context the prompt shows, most useful first, empty ones left out."""
    tag = fence_tag(context.language)
    layout = context.shown_layout if context.shown_layout is not None else context.file_layout
    parts = [
        render_conventions(
            context.naming_patterns, context.structure, context.standards, context.language
        )
        if any(p.name == CONVENTIONS and p.included for p in context.parts)
        else "",
        render_hints(context.hints),
        render_examples(context.examples, tag),
        render_layout(layout),
        render_related(context.related_path, context.related_source, tag),
    ]
    return [part for part in parts if part]

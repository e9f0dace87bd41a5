"""Fitting the context into a token budget, the most useful parts first.

The parts, in the order they are fitted (:data:`frugalflow.context.render.PART_NAMES`):

1. conventions: naming with its shares, structure, standards (a few lines, always first);
2. reuse hints: existing functions and classes to import, by signature (cheap, and the one
   thing a small model cannot guess);
3. related examples: first every candidate's signature, then their bodies, best first, each
   while it fits;
4. the file layout, nearest the source directory first;
5. the most related module's source, cut at a line boundary to whatever is left.

Each of parts 2-4 may take at most its share of the budget, so that a long layout never crowds
out the code; what a part leaves unused goes on to the next. The local model's window (4,096
tokens by default, the reply included) is the hard case: there the budget is about 2,500
tokens, and the related module is the first thing cut.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from frugalflow.context.render import (
    CONVENTIONS,
    EXAMPLES,
    HINTS,
    LAYOUT,
    PART_NAMES,
    RELATED,
    render_example,
    render_examples,
    render_hints,
    render_layout,
    render_related,
)
from frugalflow.core.schemas import CodeExample, ContextPart, ReuseHint

# The most of the budget each part may take (the related module takes what is left).
_SHARES = {HINTS: 0.25, EXAMPLES: 0.45, LAYOUT: 0.15}
# Below this many tokens left, a truncated related module is noise: it is left out.
_MIN_RELATED_TOKENS = 80
# Parts are joined by a blank line in the prompt.
SEPARATOR = "\n\n"

Counter = Callable[[str], int]


@dataclass(frozen=True)
class Candidates:
    """Everything the context could show, each list best first.

    Attributes:
        conventions: the rendered conventions part.
        hints: reusable definitions.
        examples: related definitions, each as (signature-only form, full form).
        layout: the repository's files, nearest the source directory first.
        related_path: the most related module.
        related_source: its whole source.
        tag: the code fences' language tag.
    """

    conventions: str
    hints: Sequence[ReuseHint] = ()
    examples: Sequence[tuple[CodeExample, CodeExample]] = ()
    layout: Sequence[str] = ()
    related_path: str | None = None
    related_source: str | None = None
    tag: str = "python"


@dataclass
class Fitted:
    """What fitted the budget, and the tokens each part takes (0 when left out)."""

    conventions: bool = False
    hints: list[ReuseHint] = field(default_factory=list)
    examples: list[CodeExample] = field(default_factory=list)
    layout: list[str] = field(default_factory=list)
    related_source: str | None = None
    parts: list[ContextPart] = field(default_factory=list)
    tokens: int = 0


def fit_to_budget(candidates: Candidates, budget: int, count: Counter) -> Fitted:
    """Choose what of the candidates the prompt shows within ``budget`` tokens.

    Args:
        candidates: what could be shown.
        budget: the most tokens the whole context may take.
        count: counts a text's tokens (:func:`frugalflow.money.tokens.count_tokens`).

    Returns:
        The chosen hints, examples, layout and related source, the tokens of each part, and
        the tokens of all of it as the prompt joins it (never over ``budget``).
    """
    fitted = Fitted()
    left = max(budget, 0)
    join = count(SEPARATOR)

    def take(name: str, text: str, detail: str) -> int:
        nonlocal left
        tokens = count(text) if text else 0
        spent = tokens + (join if text and fitted.tokens else 0)
        fitted.parts.append(
            ContextPart(name=name, tokens=tokens, included=bool(text), detail=detail)
        )
        if text:
            left -= spent
            fitted.tokens += spent
        return tokens

    conventions_tokens = count(candidates.conventions)
    if candidates.conventions and conventions_tokens <= left:
        fitted.conventions = True
        take(CONVENTIONS, candidates.conventions, "")
    else:
        take(CONVENTIONS, "", "does not fit" if candidates.conventions else "none")

    cap = min(left, int(budget * _SHARES[HINTS]))
    for hint in candidates.hints:
        trial = [*fitted.hints, hint]
        if count(render_hints(trial)) + join > cap:
            break
        fitted.hints = trial
    take(HINTS, render_hints(fitted.hints), f"{len(fitted.hints)} of {len(candidates.hints)}")

    cap = min(left, int(budget * _SHARES[EXAMPLES]))
    fitted.examples = _fit_examples(candidates, cap - join, count)
    bodies = sum(e.code != e.signature for e in fitted.examples)
    take(
        EXAMPLES,
        render_examples(fitted.examples, candidates.tag),
        f"{len(fitted.examples)} of {len(candidates.examples)}, {bodies} with their body",
    )

    cap = min(left, int(budget * _SHARES[LAYOUT])) - join - count(render_layout(["x"]))
    for path in candidates.layout:
        cost = count(path + "\n")
        if cost > cap:
            break
        fitted.layout.append(path)
        cap -= cost
    fitted.layout.sort()
    while fitted.layout and count(render_layout(fitted.layout)) + join > left:
        fitted.layout.pop()  # per-line counts can undercount the joined text a little
    take(
        LAYOUT,
        render_layout(fitted.layout),
        f"{len(fitted.layout)} of {len(candidates.layout)} files",
    )

    related = _fit_related(candidates, left - join, count)
    fitted.related_source = related
    detail = (
        "none"
        if not candidates.related_source
        else (
            "left out: no room"
            if related is None
            else "whole"
            if related == candidates.related_source
            else "cut to fit"
        )
    )
    take(RELATED, render_related(candidates.related_path, related, candidates.tag), detail)
    assert [p.name for p in fitted.parts] == list(PART_NAMES)
    return fitted


def _fit_examples(candidates: Candidates, cap: int, count: Counter) -> list[CodeExample]:
    """Signatures first, as many as fit; then bodies, best example first, while they fit."""
    chosen: list[CodeExample] = []
    for short, _ in candidates.examples:
        if count(render_examples([*chosen, short], candidates.tag)) > cap:
            break
        chosen.append(short)
    used = count(render_examples(chosen, candidates.tag)) if chosen else 0
    for index, (_, full) in enumerate(candidates.examples[: len(chosen)]):
        extra = count(render_example(full, candidates.tag)) + 1
        if used + extra <= cap:
            chosen[index] = full
            used += extra
    return chosen


def _fit_related(candidates: Candidates, room: int, count: Counter) -> str | None:
    source, path = candidates.related_source, candidates.related_path
    if not source or not path:
        return None
    frame = count(render_related(path, "x", candidates.tag))
    if room - frame < _MIN_RELATED_TOKENS:
        return None
    if count(source) + frame <= room:
        return source
    kept: list[str] = []
    used = frame
    for line in source.splitlines(keepends=True):
        # Summing per-line counts overestimates slightly; staying under budget is the point.
        cost = count(line)
        if used + cost > room:
            break
        kept.append(line)
        used += cost
    return "".join(kept) or None

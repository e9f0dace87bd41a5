"""Prompt building: what the generation step sends a model, and what its cache key covers.

The prompt holds the repository's conventions and its most related code, the task and its
examples, and, on a retry, the attempt that failed with its validation report. The same
messages are counted by the estimate step and priced before the call, so they are built here,
once.
"""

from __future__ import annotations

import hashlib
import json
import re

from frugalflow.context.optimizer import SEPARATOR
from frugalflow.context.render import render_context
from frugalflow.context.structure import python_module_name
from frugalflow.core.errors import PlacementError
from frugalflow.core.schemas import CodeRequest, GenerationContext, NamingConventions, Retry
from frugalflow.core.settings import Settings
from frugalflow.placement.merge import top_level_names
from frugalflow.providers.base import ChatMessage

# Bump when the generation step's output changes meaning for the same prompt (how code is
# extracted from a reply, what is added to it): cached generations are then not reused.
CACHE_VERSION = "generate-v6"  # v6: imports of names the code defines are dropped
_FENCE_TAG = {"python": "python", "javascript": "javascript", "typescript": "typescript"}


# The bridge's parts the generation prompt leaves out. Measured with bench/context_effect.py on
# the embedded 0.5B (20 requests on real repositories, scored on validation): with every part,
# 0 of 20 passed against 5 of 20 with the plain problem (run 1), and 1 of 7 after the hints were
# trimmed (run 2, stopped early); the model copied what it was shown into its answer (whole
# classes, every default value), redefining existing names (ruff F811) or importing ``*``. So
# the prompt shows what it showed before the bridge; the examples and hints stay in the context
# (the HTTP service, the name step) until a run shows them helping a model.
GENERATION_LEAVES_OUT = ("examples", "hints")


def build_messages(
    request: CodeRequest,
    context: GenerationContext,
    retry: Retry | None = None,
) -> list[ChatMessage]:
    """The prompt: the task, the repository's context when the bridge found related code
    (its parts as :func:`frugalflow.context.render.render_context` shows them: conventions,
    reuse hints, related examples, layout, related module), and on a retry what failed (see
    :class:`Retry` for the two forms).

    Measured on the 89 MBPP+ problems of ``bench/data`` (``bench/free_tier.py``; no related
    module there), the plain problem statement beat this prompt's first form (a system message
    with the conventions, the file layout, the task, the examples apart, and "give every public
    function a docstring"): the 0.5B's first answer passed the visible example on 57 problems
    with the plain form, on 50 with that one; asked for docstrings, it spent itself on them and
    got the code wrong more often (``sorted(matrix, key=row_sums)``). So without related code
    the task is the plain problem, its examples inside it, and no system message. With related
    code the plain form misleads the 0.5B (on the example repository it wrote ``from typing
    import *`` and called the related module's private regex), so the structured form stays
    there, without the docstring demand: the document step writes missing docstrings after.
    Of the bridge's parts it shows the conventions, the layout and the related module, not
    the examples and reuse hints (see :data:`GENERATION_LEAVES_OUT`).
    """
    tag = _FENCE_TAG.get(request.language, request.language)
    if context.related_path and context.related_source:
        shown = context.model_copy(update={k: () for k in GENERATION_LEAVES_OUT})
        messages = _with_repository_context(request, shown, tag)
    else:
        statement = "\n".join([request.description.strip(), *request.examples])
        opening, closing = _STATEMENT_QUOTES.get(request.language, ("/*", "*/"))
        language = _LANGUAGE_NAMES.get(request.language, request.language)
        conventions = _conventions(context.naming)
        messages = [
            ChatMessage(
                role="user",
                content=(f"This repository names {conventions}.\n\n" if conventions else "")
                + f"Please provide a complete, self-contained {language} solution to the "
                f"following problem. Put all of the code in a single ```{tag} code block.\n\n"
                f"```{tag}\n{opening}\n{statement}\n{closing}\n```",
            )
        ]
    if retry is not None:
        last = messages[-1]
        retried = f"{last.content}\n\n{_retry_part(retry, tag)}"
        messages[-1] = ChatMessage(role=last.role, content=retried)
    return messages


def _with_repository_context(
    request: CodeRequest, context: GenerationContext, tag: str
) -> list[ChatMessage]:
    """The structured form: the repository's context as the bridge fitted it, then the task."""
    naming = context.naming
    system = (
        f"You are a careful {request.language} developer adding code to an existing repository. "
        "Write only the new code that was asked for: the imports it needs and its definitions. "
        f"Follow the repository's conventions: functions in {naming.function_style}, classes in "
        f"{naming.class_style}, constants in {naming.constant_style}. "
        + (
            "Import and call the existing code listed instead of rewriting it. "
            if context.hints
            else ""
        )
        + "Import each name you use by name, never with `import *`. "
        "Do not write tests, example usage, print calls or explanations. "
        f"Answer with a single ```{tag} code block."
    )
    parts = [*render_context(context), f"Task: {request.description}"]
    if request.examples:
        parts.append(
            "The code must pass:\n```" + tag + "\n" + "\n".join(request.examples) + "\n```"
        )
    return [
        ChatMessage(role="system", content=system),
        ChatMessage(role="user", content=SEPARATOR.join(parts)),
    ]


_TOP_LEVEL_DEFINITION = re.compile(r"^(?:async\s+def|def|class)\s+([A-Za-z_]\w*)", re.MULTILINE)
_LANGUAGE_NAMES = {"python": "Python", "javascript": "JavaScript", "typescript": "TypeScript"}
_STATEMENT_QUOTES = {"python": ('"""', '"""')}
_USUAL = NamingConventions()


def _conventions(naming: NamingConventions) -> str:
    """The repository's naming styles that differ from the usual ones, in words ("" if none)."""
    kinds = [
        ("functions", naming.function_style, _USUAL.function_style),
        ("classes", naming.class_style, _USUAL.class_style),
        ("constants", naming.constant_style, _USUAL.constant_style),
    ]
    return ", ".join(f"{kind} in {style}" for kind, style, usual in kinds if style != usual)


def _retry_part(retry: Retry, tag: str) -> str:
    """What a retry's prompt adds to the task: the failure, and the failed code where it helps."""
    failures = retry.report.feedback() or "- it did not pass validation"
    if retry.repair:
        # Tried on the bundled models (is_palindrome, which the 0.5B first gets wrong): shown
        # the failed code inside the task with its report and "find the bug", both the 0.5B
        # and the 1.5B fixed it; given it as their own earlier answer (an assistant turn),
        # both repeated it.
        return (
            f"A previous attempt wrote:\n```{tag}\n{retry.code.rstrip()}\n```\n"
            f"It failed validation:\n{failures}\n"
            "Find the bug and write a correct solution."
        )
    shown = ""
    if retry.show_code:
        shown = f"It wrote:\n```{tag}\n{retry.code.rstrip()}\n```\n"
    return (
        f"An earlier attempt by another model failed validation:\n{failures}\n{shown}"
        "Write your own correct solution."
    )


def importable_names(context: GenerationContext) -> dict[str, str]:
    """Names the model was shown as importable -> their module: the public top-level names of
    the related module, and the reuse hints (Python only)."""
    names: dict[str, str] = {}
    module = python_module_name(context.related_path) if context.related_path else None
    if module is not None and context.related_source:
        try:
            defined = top_level_names(context.related_source)
        except (SyntaxError, ValueError, PlacementError):
            # Cut to fit the budget, the source may end inside a definition: its complete
            # top-level definitions still say what the model saw.
            defined = set(_TOP_LEVEL_DEFINITION.findall(context.related_source))
        names |= {name: module for name in defined if not name.startswith("_")}
    for hint in context.hints:
        source, _, imported = hint.import_line.partition(" import ")
        if source.startswith("from ") and imported == hint.name:
            names.setdefault(hint.name, source.removeprefix("from "))
    return names


def generation_fingerprint(
    model: str,
    messages: list[ChatMessage],
    settings: Settings,
    *,
    temperature: float,
    seed: int | None = None,
) -> str:
    """A hash of exactly what a generation call sends: the model, the prompt and sampling.

    Two calls with the same fingerprint would ask the same question of the same model, so
    the generation step's cache reuses the first one's answer.
    """
    payload = {
        "version": CACHE_VERSION,
        "model": model,
        "messages": [message.model_dump() for message in messages],
        "max_tokens": settings.max_output_tokens,
        "temperature": temperature,
        "seed": seed,
        "local_model_path": str(settings.local_model_path or ""),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

"""Prompt building: what the generation step sends a model, and what its cache key covers.

The prompt holds the repository's conventions and its most related code, the task and its
examples, and, on a retry, the attempt that failed with its validation report. The same
messages are counted by the estimate step and priced before the call, so they are built here,
once.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import PurePosixPath

from frugalflow.core.schemas import CodeRequest, GenerationContext, Retry
from frugalflow.core.settings import Settings
from frugalflow.placement.merge import top_level_names
from frugalflow.providers.base import ChatMessage

# Bump when the generation step's output changes meaning for the same prompt (how code is
# extracted from a reply, what is added to it): cached generations are then not reused.
CACHE_VERSION = "generate-v4"  # v4: results pickled with the folder layout's module paths
_FENCE_TAG = {"python": "python", "javascript": "javascript", "typescript": "typescript"}


def build_messages(
    request: CodeRequest,
    context: GenerationContext,
    retry: Retry | None = None,
) -> list[ChatMessage]:
    """The prompt: the repository's conventions and related code, the task, and on a retry
    what failed (see :class:`~frugalflow.core.schemas.Retry` for the two forms)."""
    tag = _FENCE_TAG.get(request.language, request.language)
    naming = context.naming
    system = (
        f"You are a careful {request.language} developer adding code to an existing repository. "
        "Write only the new code that was asked for: the imports it needs and its definitions. "
        f"Follow the repository's conventions: functions in {naming.function_style}, classes in "
        f"{naming.class_style}, constants in {naming.constant_style}. Give every public function "
        "and class a docstring. Do not write tests, example usage, print calls or explanations. "
        f"Answer with a single ```{tag} code block."
    )
    parts = ["Repository files:\n" + "\n".join(context.file_layout)]
    if context.related_path and context.related_source:
        parts.append(
            f"The most related existing module, {context.related_path}:\n"
            f"```{tag}\n{context.related_source}\n```"
        )
    parts.append(f"Task: {request.description}")
    if request.examples:
        parts.append(
            "The code must pass:\n```" + tag + "\n" + "\n".join(request.examples) + "\n```"
        )
    if retry is not None:
        parts.append(_retry_part(retry, tag))
    messages = [
        ChatMessage(role="system", content=system),
        ChatMessage(role="user", content="\n\n".join(parts)),
    ]
    return messages


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


def python_module_name(path: str) -> str | None:
    """The dotted name a Python file is imported by (``src/textkit/strings.py`` ->
    ``textkit.strings``), or None for a file that is not a ``.py`` module."""
    pure = PurePosixPath(path)
    if pure.suffix != ".py":
        return None
    parts = list(pure.with_suffix("").parts)
    if len(parts) > 1 and parts[0] == "src":
        parts = parts[1:]  # the src layout: src/ itself is not a package
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or None


def importable_names(context: GenerationContext) -> dict[str, str]:
    """Public top-level names of the related module the model was shown -> its module."""
    if not context.related_path or not context.related_source:
        return {}
    module = python_module_name(context.related_path)
    if module is None:
        return {}
    try:
        names = top_level_names(context.related_source)
    except (SyntaxError, ValueError):
        return {}
    return {name: module for name in names if not name.startswith("_")}


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

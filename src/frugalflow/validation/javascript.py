"""Syntax checks of JavaScript and TypeScript candidates, with node.

JavaScript: ``node --check`` (as an ES module when the code has ``import`` or ``export``
statements). TypeScript: the types are stripped with node's own
``module.stripTypeScriptTypes`` (node 22.13+, the runner
:file:`frugalflow/validation/runners/strip_types.cjs`), then ``node --check``; this needs no
package. ``node --check`` only parses, so it runs in the sandbox when there is one and without
it otherwise (:func:`frugalflow.validation.tools.run_checker`).
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from frugalflow.core.schemas import ValidationIssue
from frugalflow.validation.runners import script
from frugalflow.validation.tools import clip, run_checker, run_reader

STRIP_TYPES = "strip_types.cjs"  # the runner, written into the scratch directory as strip.cjs
_CAN_STRIP_TYPES = (
    "process.exit(typeof require('node:module').stripTypeScriptTypes === 'function' ? 0 : 3)"
)
_ESM = re.compile(r"^\s*(?:import\b(?!\s*[(.])|export\b)", re.MULTILINE)


@functools.cache
def _node_strips_types(node: str) -> bool:
    try:
        done = run_reader([node, "-e", _CAN_STRIP_TYPES], cwd=None)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _node_check(
    node: str, path: Path, shown_as: str, hidden: Iterable[Path]
) -> list[ValidationIssue]:
    done = run_checker([node, "--check", path.name], cwd=path.parent, hidden=hidden, memory_mb=None)
    if done.returncode == 0:
        return []
    output = done.stderr.splitlines()
    where = next(
        (found for text in output if (found := re.search(rf"{re.escape(path.name)}:(\d+)", text))),
        None,
    )
    error = next(
        (text.strip() for text in output if re.match(r"^\w*Error\b", text.strip())),
        clip(done.stderr.strip() or f"node --check failed on {shown_as}"),
    )
    return [
        ValidationIssue(
            check="syntax", message=clip(error), line=int(where.group(1)) if where else None
        )
    ]


def check_javascript(
    code: str, scratch: Path, language: str, *, hidden: Iterable[Path] = ()
) -> tuple[list[ValidationIssue], str]:
    """Syntax check of JavaScript, or TypeScript once its types are stripped, with node (in
    the sandbox when there is one: ``node --check`` only parses, so it may run without).

    Returns:
        The syntax errors and the check's name (``syntax``, or ``syntax(skipped: ...)``).
    """
    node = shutil.which("node")
    if node is None:
        return [], "syntax(skipped: node missing)"
    scratch.mkdir(parents=True, exist_ok=True)
    suffix = ".mjs" if _ESM.search(code) else ".cjs"
    if language != "typescript":
        path = scratch / f"candidate{suffix}"
        path.write_text(code)
        return _node_check(node, path, "the code", hidden), "syntax"
    if not _node_strips_types(node):
        return [], "syntax(skipped: node cannot strip TypeScript types)"
    (scratch / "candidate.ts").write_text(code)
    (scratch / "strip.cjs").write_text(script(STRIP_TYPES))
    stripped = scratch / f"candidate.stripped{suffix}"
    done = run_checker(
        [node, "strip.cjs", "candidate.ts", stripped.name],
        cwd=scratch,
        hidden=hidden,
        memory_mb=None,
    )
    if done.returncode != 0:
        try:
            message = str(json.loads(done.stdout.strip().splitlines()[-1])["message"])
        except (ValueError, LookupError, TypeError):
            message = done.stderr.strip() or "node could not strip the TypeScript types"
        where = re.search(r"\[(?:[^\]\s]*:)?(\d+):\d+\]", message)
        first = next((text.strip() for text in message.splitlines() if text.strip()), message)
        issue = ValidationIssue(
            check="syntax",
            message=clip(f"TypeScript: {first}"),
            line=int(where.group(1)) if where else None,
        )
        return [issue], "syntax"
    return _node_check(node, stripped, "the TypeScript", hidden), "syntax"

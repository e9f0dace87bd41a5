"""Step 6, place: the validated code becomes a commit on a work branch of the user's repository.

All writing happens in a separate git worktree inside the run's temp directory (see
:class:`frugalflow.repository.WorkRepository`), so the user's working tree, index and HEAD
are never touched, whatever state they are in, and a crash leaves no partial file behind.
"""

from __future__ import annotations

import ast
import re
from decimal import Decimal
from pathlib import Path, PurePosixPath

from frugalflow.context import convert_name
from frugalflow.errors import RequestError
from frugalflow.repository import WorkRepository
from frugalflow.schemas import CodeRequest, GenerationContext, Placement
from frugalflow.settings import Settings
from frugalflow.tasks import step

EXTENSIONS = {"python": ".py", "javascript": ".js", "typescript": ".ts"}
_JS_NAME = re.compile(r"^\s*(?:export\s+)?(?:async\s+)?(?:function|class|const|let)\s+(\w+)", re.M)


def main_definition(code: str, language: str) -> str | None:
    """The first public top-level function or class the code defines."""
    if language != "python":
        match = _JS_NAME.search(code)
        return match.group(1) if match else None
    for node in ast.parse(code).body:
        definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
        if isinstance(node, definition) and not node.name.startswith("_"):
            return node.name
    return None


def choose_target(request: CodeRequest, context: GenerationContext, code: str) -> str:
    """The repository-relative file the code goes to.

    The request's target wins. Otherwise a new module named after the code's main definition,
    in the directory where the repository keeps its source.

    Raises:
        RequestError: no target was given and the code defines nothing to name a file after.
    """
    if request.target:
        return request.target
    name = main_definition(code, request.language)
    if name is None:
        raise RequestError(
            "cannot choose a file for code that defines no public function or class; pass --target"
        )
    module = convert_name(name, context.naming.module_style)
    extension = EXTENSIONS.get(request.language, "")
    return str(PurePosixPath(context.source_dir) / f"{module}{extension}")


def commit_message(request: CodeRequest, model: str, cost: Decimal) -> tuple[str, dict[str, str]]:
    """The commit message (what was asked) and its trailers (request, model, cost)."""
    first_line = request.description.splitlines()[0]
    subject = first_line if len(first_line) <= 64 else first_line[:61] + "..."
    body = f"frugalflow: {subject}\n\nRequested: {request.description}"
    trailers = {
        "Frugalflow-Request": request.request_id,
        "Frugalflow-Model": model,
        "Frugalflow-Cost": f"${cost:.6f}",
    }
    return body, trailers


def place_code(
    request: CodeRequest,
    context: GenerationContext,
    code: str,
    model: str,
    cost: Decimal,
    settings: Settings,
    workdir: Path,
) -> Placement:
    """Commit validated code on the branch ``<work_branch_prefix><request_id>``.

    Raises:
        PlacementError: the repository or target is unsafe to write; nothing was changed.
    """
    repository = WorkRepository(Path(request.repo))
    try:
        target = repository.resolve_target(choose_target(request, context, code))
        message, trailers = commit_message(request, model, cost)
        return repository.place(
            files={target: code},
            branch=f"{settings.work_branch_prefix}{request.request_id}",
            message=message,
            trailers=trailers,
            workdir=workdir,
        )
    finally:
        repository.close()


place = step("place")(place_code)

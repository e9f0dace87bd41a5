"""Placing validated code: where it goes, what the commit says, and the commit itself.

All writing happens in a separate git worktree inside the run's temp directory (see
:class:`frugalflow.placement.repository.WorkRepository`), so the user's working tree, index and HEAD
are never touched, whatever state they are in, and a crash leaves no partial file behind.

Where code goes follows the repository's structure (:mod:`frugalflow.placement.targets`). Code is added
to an existing module only when the user names it with ``--target``, never by surprise; a clash
with what a module already defines stops, or goes beside it with ``--on-name-clash beside``.
With ``--merge`` the checked-out branch is fast-forwarded afterwards when that is safe.
"""

from __future__ import annotations

import ast
import contextlib
import logging
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path, PurePosixPath

from frugalflow.context import convert_name
from frugalflow.context.analysis import is_test_path
from frugalflow.core.errors import NameClashError, PlacementError, RequestError
from frugalflow.core.schemas import CodeRequest, GenerationContext, Placement
from frugalflow.core.settings import Settings
from frugalflow.placement.merge import merge_python_module
from frugalflow.placement.repository import WorkRepository
from frugalflow.placement.targets import GeneratedFile, choose_targets, main_definition

__all__ = ["commit_message", "commit_subject", "place_code", "plan_placement"]

logger = logging.getLogger("frugalflow.tasks.place")  # named as before the folders


def _beside(
    repository: WorkRepository,
    context: GenerationContext,
    target: str,
    code: str,
    taken: Mapping[str, str],
) -> str:
    """A free path next to ``target``: ``<stem>_<main name>``, else ``<stem>_generated``."""
    path = PurePosixPath(target)
    main = main_definition(code, context.language)
    names = [convert_name(main, context.naming.module_style)] if main else []
    for name in [*names, "generated"]:
        candidate = str(path.with_name(f"{path.stem}_{name}{path.suffix}"))
        if name != path.stem and candidate not in taken and not repository.path_in_use(candidate):
            return repository.resolve_target(candidate)
    raise NameClashError(
        f"{target} clashes with the generated code and there is no free name beside it "
        f"({path.stem}_generated{path.suffix} exists too); pass another --target"
    )


def _clash(repository: WorkRepository, target: str, code: str, explicit: bool) -> str | None:
    """Why ``code`` cannot go to ``target`` as it is, or None."""
    if not explicit:
        if not repository.path_in_use(target):
            return None
        return (
            f"{target} already exists, and frugalflow adds code to an existing module only when "
            f"you name it: pass --target {target} to add it there, choose another name for the "
            "code, or pass --on-name-clash beside to put it in a new module next to it"
        )
    existing = repository.read_at_head(target)
    if existing is None or not target.endswith(".py"):
        return None  # a new file, or one the repository refuses with its own message
    try:
        merge_python_module(existing, code)
    except NameClashError as exc:
        return f"{target}: {exc}"
    return None


def _names_module(description: str, module: str) -> bool:
    """Tell whether a request names an existing module ("add it to text_utils")."""
    path = PurePosixPath(module)
    stem = re.escape(path.stem)
    spaced = stem.replace("_", r"[\s_]")
    dotted = re.escape(".".join(path.with_suffix("").parts[-2:]))
    patterns = [
        rf"(?<![\w/.]){re.escape(module)}\b",
        rf"\b{re.escape(path.name)}\b",
        rf"\b{dotted}\b" if len(path.parts) > 1 else r"(?!)",
        rf"\b{spaced}\s+module\b",
        rf"\b(?:to|into)\s+(?:the\s+)?[`'\"]?{spaced}\b",
    ]
    return any(re.search(pattern, description, re.IGNORECASE) for pattern in patterns)


def _related_note(request: CodeRequest, context: GenerationContext, target: str) -> str | None:
    related = context.related_path
    source_dir = PurePosixPath(context.source_dir)
    if request.target or not related or is_test_path(related) or is_test_path(target):
        return None
    in_source_dir = str(source_dir) == "." or PurePosixPath(related).is_relative_to(source_dir)
    if not in_source_dir or not _names_module(request.description, related):
        return None
    return (
        f"The request names {related}, but the code went to a new module {target}: frugalflow "
        f"adds to an existing module only when asked. To add it to {related} instead, run the "
        f"request again with --target {related}."
    )


def plan_placement(
    request: CodeRequest,
    context: GenerationContext,
    files: Sequence[GeneratedFile],
    repository: WorkRepository,
) -> tuple[dict[str, str], tuple[str, ...]]:
    """Choose each file's target and apply the request's name-clash policy.

    Returns:
        The files to commit (repository-relative target -> code) and notes for the user
        about where the code went and why.

    Raises:
        NameClashError: ``on_name_clash`` is ``stop`` and a target module already defines a
            generated name, or a chosen new module already exists.
        UnsafePathError: a target is not safely inside the repository.
    """
    chosen = choose_targets(request, context, files)
    explicit = next((i for i, t in enumerate(chosen) if request.target == t), None)
    planned: dict[str, str] = {}
    notes: list[str] = []
    for index, (file, wanted) in enumerate(zip(files, chosen, strict=True)):
        target = repository.resolve_target(wanted)
        problem = _clash(repository, target, file.code, explicit == index)
        if problem and request.on_name_clash == "beside":
            beside = _beside(repository, context, target, file.code, planned)
            notes.append(
                f"{target} clashes with the generated code, so it went beside it into {beside} "
                "(--on-name-clash beside); the existing module is unchanged."
            )
            target = beside
        elif problem:
            raise NameClashError(problem)
        elif explicit != index and (note := _related_note(request, context, target)):
            notes.append(note)
        if target in planned:
            raise PlacementError(f"two generated files would go to {target}; pass --target")
        planned[target] = file.code
    return planned, tuple(notes)


SUBJECT_CHARS = 64
# Lines of a description that are code, not words: not a subject.
_CODE_LINE = re.compile(r"^\s*(?:from\s+\S+\s+import|import\s|def\s|class\s|@|#|>>>|assert\s|```)")


_QUOTES = re.compile(r"^[rRbBuU]{0,2}(?:\"\"\"|''')|(?:\"\"\"|''')$")


def commit_subject(description: str, main: str | None = None) -> str:
    """One line that says what the request asked for.

    A description that is Python (a signature and its docstring, as benchmarks write them) is
    summarised by its first docstring's first sentence; words are, by their first sentence,
    code lines skipped; cut at a word. ``add <main>`` when there are no words at all.
    """
    with contextlib.suppress(SyntaxError, ValueError):
        tree = ast.parse(description)
        definitions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        if any(isinstance(node, (*definitions, ast.Import, ast.ImportFrom)) for node in tree.body):
            for node in ast.walk(tree):
                if isinstance(node, definitions) and (doc := ast.get_docstring(node)):
                    return _first_sentence(doc.strip().splitlines()[0])
            return f"add {main}" if main else "add generated code"
    for line in description.splitlines():
        if line.strip() and not _CODE_LINE.match(line):
            return _first_sentence(_QUOTES.sub("", line.strip()).strip())
    return f"add {main}" if main else "add generated code"


def _first_sentence(line: str) -> str:
    sentence = re.split(r"(?<=[.!?])\s", line, maxsplit=1)[0].rstrip(".")
    if len(sentence) <= SUBJECT_CHARS:
        return sentence
    return sentence[: SUBJECT_CHARS - 3].rsplit(" ", 1)[0].rstrip(",;:") + "..."


def commit_message(
    request: CodeRequest,
    model: str,
    cost: Decimal,
    notes: Sequence[str] = (),
    *,
    main: str | None = None,
) -> tuple[str, dict[str, str]]:
    """The commit message (what was asked, and notes on where the code went) and its trailers
    (request, model, cost)."""
    body = f"frugalflow: {commit_subject(request.description, main)}"
    body += f"\n\nRequested: {request.description}"
    body += "".join(f"\n\n{note}" for note in notes)
    trailers = {
        "Frugalflow-Request": request.request_id,
        "Frugalflow-Model": model,
        "Frugalflow-Cost": f"${cost:.6f}",
    }
    return body, trailers


def _place(
    request: CodeRequest,
    context: GenerationContext,
    files: Sequence[GeneratedFile],
    model: str,
    cost: Decimal,
    settings: Settings,
    workdir: Path,
) -> Placement:
    if not files:
        raise RequestError("there is no code to place")
    repository = WorkRepository(Path(request.repo))
    try:
        planned, notes = plan_placement(request, context, files, repository)
        for note in notes:
            logger.info("%s", note)
        main = main_definition(files[0].code, context.language)
        message, trailers = commit_message(request, model, cost, notes, main=main)
        placement = repository.place(
            files=planned,
            branch=f"{settings.work_branch_prefix}{request.request_id}",
            message=message,
            trailers=trailers,
            workdir=workdir,
        )
        if request.merge:
            try:
                placement = repository.fast_forward(placement)
            except PlacementError as exc:  # the commit stands; only the merge did not happen
                logger.warning("%s", exc)
                notes = (*notes, str(exc))
        return placement.model_copy(update={"notes": tuple(notes)})
    finally:
        repository.close()


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

    The target follows :func:`choose_targets`; with ``request.merge`` the checked-out branch
    is then fast-forwarded when that is safe (``Placement.merged``), else a warning says why
    not and the code stays on its branch.

    Raises:
        NameClashError: the target already defines a generated name (``on_name_clash="stop"``).
        PlacementError: the repository or the target is unsafe to write; nothing was changed.
        RequestError: there is no code to place or no file name can be chosen.
    """
    return _place(request, context, [GeneratedFile(code)], model, cost, settings, workdir)

"""Step 7, name: bring the names the generated code defines in line with the repository's styles.

Only the generated code is handed to this step, so the user's own code is never touched; the
user's existing names and the names the request asked for are kept even when off-style.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet

from frugalflow.conform.naming import rename_to_conventions, requested_names
from frugalflow.context import check_naming
from frugalflow.core.python_source import defined_names
from frugalflow.core.schemas import GenerationContext, NamingReport
from frugalflow.tasks import step


def review_naming(code: str, context: GenerationContext) -> NamingReport:
    """Compare the names the code defines with the repository's dominant styles."""
    return check_naming(code, context.naming)


def apply_naming(
    code: str,
    context: GenerationContext,
    description: str,
    protected: AbstractSet[str] = frozenset(),
) -> tuple[str, NamingReport]:
    """Rename what the generated code defines to the repository's styles, uses included.

    Args:
        code: the generated Python code (only it; never the whole target module).
        context: the repository's context; its naming conventions are followed, and the
            names its related module defines and its reuse hints name are kept and never
            renamed to.
        description: the request's words; names it asks for (``slugify(text)``, backticked
            names) are kept as they are.
        protected: more names to keep: the target module's existing identifiers, and the
            names the request's examples call (``requested_names`` on each example).

    Returns:
        The code after renaming, and a report: ``checked`` lists the names the new code
        defines; ``findings`` lists every misfit the generated code had, with the name in
        the project's style as ``suggestion``. A finding whose ``name`` is no longer in
        ``checked`` was renamed (see :func:`renamed_names`); one still there was kept
        (protected, requested, or the new name would collide). Methods are named under
        their class's new name. Non-Python code is reviewed only.
    """
    if context.language != "python":
        return code, review_naming(code, context)
    keep = set(protected) | requested_names(description)
    if context.related_source:
        keep |= defined_names(context.related_source)
    # The existing code the prompt offered for reuse: a call to it must keep its real name.
    keep |= {hint.name for hint in context.hints}
    result = rename_to_conventions(code, context.naming, protected=keep)
    before = check_naming(code, context.naming)
    after = check_naming(result.code, context.naming)
    classes = {old: new for old, new in result.renames.items() if "." not in old}
    findings = []
    for finding in before.findings:
        owner, dot, bare = finding.name.rpartition(".")
        name = f"{classes.get(owner, owner)}.{bare}" if dot else bare
        findings.append(finding.model_copy(update={"name": name}))
    return result.code, NamingReport(
        conventions=context.naming, checked=after.checked, findings=tuple(findings)
    )


def renamed_names(report: NamingReport) -> dict[str, str]:
    """The renames an :func:`apply_naming` report records: finding name to new bare name."""
    present = set(report.checked)
    return {f.name: f.suggestion for f in report.findings if f.name not in present}


name = step("name")(apply_naming)

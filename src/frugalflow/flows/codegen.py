"""The codegen flow: one plain-language request in, validated code committed on a work branch out.

estimate -> budget gate -> context fetch -> routed generation <-> validate -> name -> document
-> place, and cleanup whatever happens (name and document come before place so that one commit
holds the final code). The flow run ends Completed (code placed), Completed
named "Deferred" (the budget cannot pay for it now) or Failed (with the reason); in every case
its result is a :class:`~frugalflow.core.schemas.CodeResult`.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prefect import State, flow
from prefect.artifacts import acreate_markdown_artifact
from prefect.context import SyncClientContext
from prefect.runtime import flow_run
from prefect.states import Cancelled, Completed, Failed

from frugalflow.core.bugreport import write_bug_report
from frugalflow.core.errors import BudgetExceededError, FrugalflowError, ProviderError
from frugalflow.core.redaction import install_redaction, redact
from frugalflow.core.schemas import (
    AttemptRecord,
    Candidate,
    CodeRequest,
    CodeResult,
    DocumentationReport,
    GenerationContext,
    NamingReport,
    Retry,
    RunStatus,
    TaskEstimate,
    ValidationReport,
)
from frugalflow.core.settings import Settings, load_settings
from frugalflow.flows.steps import Outcome, Run, StepEvent, listen_to_steps
from frugalflow.routing.cascade import failover_reason, free_model, route_attempt
from frugalflow.tasks.budget import budget_gate
from frugalflow.tasks.cleanup import cleanup
from frugalflow.tasks.conform import docstring_style, names_to_keep
from frugalflow.tasks.context import fetch_context_task
from frugalflow.tasks.defer import defer, first_run_of
from frugalflow.tasks.document import booked_completer, document, review_documentation
from frugalflow.tasks.estimate import estimate
from frugalflow.tasks.generate import generate, sampling_temperature
from frugalflow.tasks.name import name, review_naming
from frugalflow.tasks.place import place
from frugalflow.tasks.preflight import check_repository, never_affordable, refuse_early
from frugalflow.tasks.route import RoutePlan, model_availability, plan_route, record_attempt
from frugalflow.tasks.summary import run_summary, state_message
from frugalflow.tasks.usage import raise_alerts, request_usage, restore_cached
from frugalflow.tasks.validate import validate
from frugalflow.tasks.workdir import open_workdir

__all__ = ["Outcome", "StepEvent", "codegen", "listen_to_steps", "run_request"]

logger = logging.getLogger("frugalflow.codegen")


async def _generate_validated(
    run: Run,
    context: GenerationContext,
    estimated: TaskEstimate,
    plan: RoutePlan,
    workdir: Path,
) -> Candidate | None:
    """Attempts until one validates; None when every attempt failed validation.

    Attempt N uses the N-th rung of the request's ladder (``plan``). A provider that still
    fails with a transient error after its retries is skipped and the next model of the
    ladder, then of the plan's reserve, takes over (failover); that does not use up an attempt. Each validated attempt
    goes into the ledger's performance history, which the next requests' routing learns from.

    After a failed attempt, the next one builds on it (:class:`Retry`): a model tried before
    for this request repairs the failed code, sampling afresh; a model not tried yet (an
    escalation) gets the task anew with what failed summarised.
    """
    request, settings = run.request, run.settings
    expected_output = {c.model: c.expected_output_tokens for c in estimated.candidates}
    generate_with_retries = generate.with_options(retries=settings.provider_retries)
    candidate: Candidate | None = None
    retry: Retry | None = None
    failed: dict[str, str] = {}
    # What each candidate already seen got: the same code is never validated twice.
    reports: dict[str, ValidationReport] = {}
    attempt = 0
    # A model that cannot be called hands over to the next one, the reserve's after the ladder's.
    cascade = plan.ladder + plan.reserve
    allowed = tuple(dict.fromkeys(cascade))
    while attempt < len(plan.ladder):
        remaining = tuple(model for model in allowed if model not in failed)
        decision = route_attempt(
            attempt + 1,
            cascade,
            remaining,
            run.validation,
            tried=[record.model for record in run.tried],
            first_reason=plan.reason,
        )
        update: dict[str, object] = {
            "attempt": len(run.routing) + 1,
            "rule": plan.rule,
            "options": plan.options,
        }
        if failed:
            update["reason"] = failover_reason(failed, decision.reason)
        decision = decision.model_copy(update=update)
        run.routing.append(decision)
        if candidate is not None and run.validation is not None:
            repair = any(record.model == decision.model for record in run.tried)
            retry = Retry(
                code=candidate.code,
                report=run.validation,
                repair=repair,
                show_code=settings.escalation_shows_failed_code,
                seed=decision.attempt if repair else None,
            )
        try:
            generated = await run.step(
                generate_with_retries,
                request,
                context,
                decision,
                settings,
                workdir,
                task_type=estimated.task_type.value,
                expected_output_tokens=expected_output.get(decision.model),
                flow_run_id=run.flow_run_id,
                retry=retry,
            )
        except ProviderError as exc:
            if not exc.retryable or len(failed) + 1 >= len(allowed):
                raise
            failed[decision.model] = str(exc)
            continue
        attempt += 1
        candidate = generated
        cached = run.steps[-1].cached
        if cached:
            candidate = restore_cached(
                candidate, request, settings, workdir, flow_run_id=run.flow_run_id
            )
        repeated = candidate.code in reports
        if repeated:  # it failed before (a pass would have ended the loop)
            run.validation = reports[candidate.code]
            note = "; it returned code already validated, which failed: not validated again"
            run.routing[-1] = decision.model_copy(update={"reason": decision.reason + note})
        else:
            run.validation = await run.step(
                validate,
                candidate.code,
                request,
                settings,
                workdir / f"validate-{attempt}",
                repo=Path(request.repo),
            )
            reports[candidate.code] = run.validation
        run.tried.append(
            AttemptRecord(
                attempt=decision.attempt,
                model=decision.model,
                code=candidate.code if repeated else run.validation.code or candidate.code,
                passed=run.validation.passed,
                repeated=repeated,
                temperature=sampling_temperature(settings, retry),
            )
        )
        if not cached:  # a cached answer was learned from when it was made
            record_attempt(
                request,
                plan.spec,
                run.routing[-1],
                candidate,
                passed=run.validation.passed,
                repeated=repeated,
                settings=settings,
                flow_run_id=run.flow_run_id,
            )
        if run.validation.passed:
            return candidate
    return None


async def _conform(
    run: Run, context: GenerationContext, allowed: tuple[str, ...], workdir: Path
) -> tuple[str, NamingReport | None, DocumentationReport]:
    """Name and document the validated code the project's way, before it is placed.

    Both steps run before ``place`` (not after it, as a first design had it) so that one
    commit holds the final code. The result is validated again; if renaming or a docstring
    broke anything, the code as first validated is placed instead.
    """
    request, settings = run.request, run.settings
    assert run.validation is not None
    validated = run.validation.code
    if request.language != "python":
        return validated, None, review_documentation(validated)
    code, naming = await run.step(
        name, validated, context, request.description, names_to_keep(request)
    )
    documentation = review_documentation(code)
    free = free_model(allowed)
    if free is not None and documentation.missing_docstrings:
        style = docstring_style(request, context)
        completer = booked_completer(free, request, settings, flow_run_id=run.flow_run_id)
        documented = await run.step(document, code, style, completer)
        code, documentation = documented.code, documented.after
    if code == validated:
        return code, naming, documentation
    recheck = await run.step(
        validate, code, request, settings, workdir / "validate-final", repo=Path(request.repo)
    )
    if recheck.passed:
        return code, naming, documentation
    logger.warning("renaming or documenting broke the code; placing it as validated")
    return validated, review_naming(validated, context), review_documentation(validated)


async def run_request(request: CodeRequest, settings: Settings, run: Run) -> Outcome:
    """Every step, cleanup last whatever happens; raises on a step's error."""
    # Marked with this process, so that a run killed with kill -9 is cleaned up by the next.
    workdir = open_workdir(request)
    try:
        estimated = await run.step(estimate, request, settings)
        decision = await run.step(budget_gate, request, estimated, settings)
        if not decision.admitted:
            never = never_affordable(request, estimated, settings)
            if decision.retry_at is None or never:  # waiting will not help: say what to change
                return Outcome(RunStatus.FAILED, never or decision.reason)
            # Kept to run again once its budget window has money; never dropped.
            retry_at = defer(request, decision.reason, decision.retry_at, settings)
            return Outcome(RunStatus.DEFERRED, decision.reason, retry_at=retry_at)
        context = await run.step(fetch_context_task, request)
        availability = model_availability(decision.allowed_models, settings)
        plan = plan_route(request, estimated, decision, availability, settings)
        if plan.defer_hours is not None:  # the routing policy says: not now
            later = datetime.now(UTC) + timedelta(hours=plan.defer_hours)
            retry_at = defer(request, plan.reason, later, settings)
            return Outcome(RunStatus.DEFERRED, plan.reason, retry_at=retry_at)
        if not plan.ladder:  # known before any call: say so rather than fail half-way
            return Outcome(RunStatus.FAILED, f"no attempt can be afforded: {plan.reason}")
        usable = tuple(model for model, state in availability.items() if state.usable)
        try:
            candidate = await _generate_validated(run, context, estimated, plan, workdir)
        except BudgetExceededError as exc:
            if exc.retry_at is None:
                # Larger than a whole window or the request's own cap: waiting will not help.
                return Outcome(RunStatus.FAILED, f"this request cannot be paid for: {exc}")
            reason = f"the budget ran out while this request ran: {exc}"
            retry_at = defer(request, reason, exc.retry_at, settings)
            return Outcome(RunStatus.DEFERRED, reason, retry_at=retry_at)
        if candidate is None or run.validation is None:
            feedback = run.validation.feedback() if run.validation else ""
            reason = (
                f"no attempt passed validation ({len(run.routing)} tried); nothing was "
                f"committed. Last problems:\n{feedback}"
            )
            return Outcome(RunStatus.FAILED, reason)
        code, naming, documentation = await _conform(run, context, usable, workdir)
        # Every attempt of this request, for the commit's Frugalflow-Cost trailer.
        spent = request_usage(request.request_id, settings).cost_usd
        placement = await run.step(
            place, request, context, code, candidate.model, spent, settings, workdir
        )
        reason = f"committed {', '.join(placement.files)} on branch {placement.branch}"
        if placement.merged:
            reason += ", and fast-forwarded your branch to it"
        reason += "".join(f"\n{note}" for note in placement.notes)
        return Outcome(
            RunStatus.COMPLETED,
            reason,
            files=placement.files,
            branch=placement.branch,
            commit=placement.commit,
            merged=placement.merged,
            naming=naming,
            documentation=documentation,
        )
    finally:
        await run.step(cleanup, workdir, request.repo)


_SLUG_WORDS = 6
_SLUG_CHARS = 48


def run_name(description: str, request_id: str) -> str:
    """A flow run's name: the request's first words as a slug, then its id
    (``add-a-function-count-words-text-3f1c9a2b7e01``), so that the UI's run list says what
    each run was for."""
    words = re.findall(r"[a-z0-9]+", description.lower())[:_SLUG_WORDS]
    slug = "-".join(words)[:_SLUG_CHARS].strip("-") or "codegen"
    return f"{slug}-{request_id}"


def _flow_run_name() -> str:
    """The name of the run being created, from its ``request`` parameter (a CodeRequest, or
    its JSON as the API and the UI send it)."""
    request = flow_run.parameters.get("request")
    if isinstance(request, CodeRequest):
        return run_name(request.description, request.request_id)
    if isinstance(request, dict) and isinstance(request.get("description"), str):
        # No id yet (the request gets one when it is validated): the run's own, shortened.
        ident = request.get("request_id") or str(flow_run.id or "")[:8] or "run"
        return run_name(request["description"], str(ident))
    return "codegen"


# The result is persisted (in Prefect's result storage, PREFECT_LOCAL_STORAGE_PATH by default)
# so that a caller of ``run_deployment`` can read the CodeResult of a run made by a worker. Not
# as JSON: the flow's serializer is its tasks' too, and JSON gives their cached results back
# as dicts.
@flow(name="codegen", flow_run_name=_flow_run_name, validate_parameters=True, persist_result=True)
async def codegen(request: CodeRequest) -> State[CodeResult]:
    """Turn a code request into validated code committed on a work branch.

    Args:
        request: what to write, and where.

    Returns:
        A Completed state (code committed), a Failed one (with the reason), or, when the budget
        cannot pay for it now, a Cancelled-type state named "Deferred" whose message gives the
        retry time and the reason (Prefect colours states by type: a deferred run must not look
        like a success, and it is terminal, so that ``run_deployment`` returns). In every case
        its result is the CodeResult: read it with ``state.result(raise_on_failure=False)``.
    """
    try:
        check_repository(request.repo)  # first: the form's first field, the likeliest mistake
        settings = load_settings(request.repo)
    except FrugalflowError as exc:  # nothing ran and nothing was spent; say what to fix
        refused = CodeResult(
            request_id=request.request_id, status=RunStatus.FAILED, reason=str(exc)
        )
        return Failed(message=refused.reason[:500], data=refused)
    install_redaction(settings)  # keys out of logs, tracebacks, errors (frugalflow.core.redaction)
    try:
        refuse_early(request, settings)  # the same checks as the CLI's, before any money
    except FrugalflowError as exc:  # nothing ran, nothing was spent, no ledger row
        refused = CodeResult(
            request_id=request.request_id, status=RunStatus.FAILED, reason=redact(str(exc))
        )
        return Failed(message=refused.reason[:500], data=refused)
    run = Run(request, settings, str(flow_run.id) if flow_run.id else None)
    try:
        # One API client for every step: each task would otherwise open its own, and each
        # opening loads the CA bundle (about 35 ms, a third of Prefect's time in a request).
        with SyncClientContext.get_or_create():
            outcome = await run_request(request, settings, run)
    except FrugalflowError as exc:
        outcome = Outcome(RunStatus.FAILED, str(exc))
    except Exception as exc:  # a bug, or an SDK error no adapter translated: still a result
        logger.exception("request %s failed unexpectedly", request.request_id)
        log = write_bug_report(exc, settings.home, request.request_id)
        where = f"; this is a bug: the traceback is in {log}" if log else ""
        outcome = Outcome(RunStatus.FAILED, f"unexpected {type(exc).__name__}: {exc}{where}")
    # The reason is shown, stored, and put in the artifact: redacted once, here.
    result = run.result(dataclasses.replace(outcome, reason=redact(outcome.reason)))
    raise_alerts(settings, request.project_name)
    first_run = first_run_of(request.request_id, settings)
    await acreate_markdown_artifact(
        key=f"codegen-{request.request_id.lower().replace('_', '-')}",
        markdown=run_summary(
            result,
            settings,
            request.project_name,
            first_run_id=first_run if first_run != run.flow_run_id else None,
        ),
        description="frugalflow request: model calls, routing, budget left, where the code went",
    )
    message = state_message(result, settings)
    if result.status is RunStatus.FAILED:
        return Failed(message=message[:500], data=result)
    if result.status is RunStatus.DEFERRED:
        return Cancelled(message=message[:500], data=result, name="Deferred")
    return Completed(message=message[:500], data=result)

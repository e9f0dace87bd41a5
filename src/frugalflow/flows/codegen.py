"""The codegen flow: one plain-language request in, validated code committed on a work branch out.

estimate -> budget gate -> context fetch -> routed generation <-> validate -> name -> document
-> place, and cleanup whatever happens (name and document come before place so that one commit
holds the final code). The flow run ends Completed (code placed), Completed
named "Deferred" (the budget cannot pay for it now) or Failed (with the reason); in every case
its result is a :class:`~frugalflow.core.schemas.CodeResult`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar

from prefect import State, Task, flow
from prefect.artifacts import acreate_markdown_artifact
from prefect.runtime import flow_run
from prefect.states import Completed, Failed

from frugalflow.conform.docstrings import detect_docstring_style
from frugalflow.conform.naming import requested_names
from frugalflow.core.bugreport import write_bug_report
from frugalflow.core.errors import BudgetExceededError, FrugalflowError, ProviderError, RequestError
from frugalflow.core.models import parse_address
from frugalflow.core.redaction import install_redaction, redact
from frugalflow.core.schemas import (
    Candidate,
    CodeRequest,
    CodeResult,
    DocumentationReport,
    GenerationContext,
    NamingReport,
    QualityMode,
    RoutingDecision,
    RunStatus,
    StepTiming,
    TaskEstimate,
    Tier,
    ValidationReport,
)
from frugalflow.core.settings import Settings, load_settings
from frugalflow.money.alerts import check_alerts
from frugalflow.money.budget import BudgetManager, day_window
from frugalflow.money.deferred import DeferredStore
from frugalflow.money.ledger import CostLedger, ModelCall
from frugalflow.money.pricing import PriceCatalog
from frugalflow.placement.merge import top_level_names
from frugalflow.placement.repository import WorkRepository
from frugalflow.placement.rundirs import create_run_directory
from frugalflow.providers import Availability, get_provider
from frugalflow.providers.pool import get_pool
from frugalflow.routing.cascade import failover_reason, route_attempt
from frugalflow.tasks import Timed
from frugalflow.tasks.budget import budget_gate
from frugalflow.tasks.cleanup import cleanup
from frugalflow.tasks.context import fetch_context_task
from frugalflow.tasks.document import booked_completer, document, review_documentation
from frugalflow.tasks.estimate import estimate
from frugalflow.tasks.generate import generate
from frugalflow.tasks.name import name, review_naming
from frugalflow.tasks.place import place
from frugalflow.tasks.validate import validate
from frugalflow.validation.preflight import check_request, why_never_affordable

T = TypeVar("T")
logger = logging.getLogger("frugalflow.codegen")


@dataclass(frozen=True)
class StepEvent:
    """Progress of one step, for in-process listeners such as the CLI."""

    step: str
    phase: Literal["start", "end", "error"]
    seconds: float = 0.0
    cached: bool = False
    detail: str = ""


_listeners: list[Callable[[StepEvent], None]] = []


@contextlib.contextmanager
def listen_to_steps(listener: Callable[[StepEvent], None]) -> Iterator[None]:
    """Call ``listener`` with every step event of flows run in this process meanwhile."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def _emit(event: StepEvent) -> None:
    for listener in list(_listeners):
        listener(event)


@dataclass
class _Run:
    """What a run has learned so far; turned into the CodeResult however the run ends."""

    request: CodeRequest
    settings: Settings
    flow_run_id: str | None
    steps: list[StepTiming] = field(default_factory=list)
    routing: list[RoutingDecision] = field(default_factory=list)
    validation: ValidationReport | None = None

    async def step(self, task: Task[..., Timed[T]], *args: Any, **kwargs: Any) -> T:
        _emit(StepEvent(task.name, "start"))
        started = time.perf_counter()
        state = task(*args, return_state=True, **kwargs)
        if not state.is_completed():
            error = await state.aresult(raise_on_failure=False)
            _emit(StepEvent(task.name, "error", detail=str(error)))
            if isinstance(error, BaseException):
                raise error
            raise FrugalflowError(f"step {task.name} ended {state.name}: {state.message}")
        timed: Timed[T] = await state.aresult()
        cached = state.name == "Cached"
        # A cached step's body did not run now: its time is that of the cache lookup.
        seconds = time.perf_counter() - started if cached else timed.seconds
        self.steps.append(StepTiming(step=task.name, seconds=seconds, cached=cached))
        _emit(StepEvent(task.name, "end", seconds=seconds, cached=cached))
        return timed.value

    def result(self, status: RunStatus, reason: str, **fields: Any) -> CodeResult:
        calls = CostLedger(self.settings.ledger_file).calls_for_request(self.request.request_id)
        return CodeResult(
            request_id=self.request.request_id,
            status=status,
            reason=reason,
            flow_run_id=self.flow_run_id,
            attempts=len(self.routing),
            routing=tuple(self.routing),
            validation=self.validation,
            cost_usd=sum((call.actual_cost_usd for call in calls), Decimal(0)),
            input_tokens=sum(call.input_tokens for call in calls),
            output_tokens=sum(call.output_tokens for call in calls),
            steps=tuple(self.steps),
            **fields,
        )


def model_availability(models: tuple[str, ...], settings: Settings) -> dict[str, Availability]:
    """Whether each model can be used now (key, server, CLI, its and its provider's breakers
    closed)."""
    pool = get_pool(settings, get_provider)
    addresses = {model: parse_address(model) for model in models}
    return {model: pool.usable(a.provider, a.model) for model, a in addresses.items()}


async def _generate_validated(
    run: _Run,
    context: Any,
    estimated: TaskEstimate,
    allowed: tuple[str, ...],
    workdir: Path,
) -> Candidate | None:
    """Attempts until one validates; None when every attempt failed validation.

    A provider that still fails with a transient error after its retries is skipped and the
    next model the router allows takes over (failover); that does not use up an attempt.
    """
    request, settings = run.request, run.settings
    expected_output = {c.model: c.expected_output_tokens for c in estimated.candidates}
    generate_with_retries = generate.with_options(retries=settings.provider_retries)
    candidate: Candidate | None = None
    failed: dict[str, str] = {}
    attempt = 0
    while attempt < settings.max_attempts:
        remaining = tuple(model for model in allowed if model not in failed)
        decision = route_attempt(attempt + 1, settings.models, remaining, run.validation)
        update: dict[str, Any] = {"attempt": len(run.routing) + 1}
        if failed:
            update["reason"] = failover_reason(failed, decision.reason)
        decision = decision.model_copy(update=update)
        run.routing.append(decision)
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
                previous_code=candidate.code if candidate else None,
                feedback=run.validation,
            )
        except ProviderError as exc:
            if not exc.retryable or len(failed) + 1 >= len(allowed):
                raise
            failed[decision.model] = str(exc)
            continue
        attempt += 1
        candidate = generated
        if run.steps[-1].cached:
            candidate = _restore_cached(candidate, run, workdir)
        run.validation = await run.step(
            validate,
            candidate.code,
            request,
            settings,
            workdir / f"validate-{attempt}",
            repo=Path(request.repo),
        )
        if run.validation.passed:
            return candidate
    return None


def _restore_cached(candidate: Candidate, run: _Run, workdir: Path) -> Candidate:
    """A cached generation cost nothing now: book it as a cache hit, copy it to this run."""
    address = parse_address(candidate.model)
    CostLedger(run.settings.ledger_file).record(
        ModelCall(
            flow_run_id=run.flow_run_id,
            request_id=run.request.request_id,
            project=run.request.project_name,
            step="generate",
            provider=address.provider,
            model=address.model,
            tier=address.tier,
            cache_hit=True,
            price_catalog=PriceCatalog(run.settings.prices).version,
        )
    )
    path = workdir / f"attempt-{candidate.attempt}" / "candidate.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(candidate.code)
    return candidate.model_copy(update={"path": path, "cost_usd": Decimal(0)})


Outcome = tuple[RunStatus, str, dict[str, Any]]


def _protected_names(request: CodeRequest) -> set[str]:
    """Names renaming must keep: those the examples use, and those the target already has."""
    protected = {name for example in request.examples for name in requested_names(example)}
    if request.target:
        repo = Path(request.repo).resolve()
        target = (repo / request.target).resolve()
        # Only a file inside the repository; placement refuses the others with a message.
        if target.is_relative_to(repo) and target.is_file() and target.suffix == ".py":
            with contextlib.suppress(SyntaxError, UnicodeDecodeError):
                protected |= top_level_names(target.read_text())
    return protected


async def _conform(
    run: _Run, context: GenerationContext, allowed: tuple[str, ...], workdir: Path
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
        name, validated, context, request.description, _protected_names(request)
    )
    documentation = review_documentation(code)
    free = next((m for m in allowed if parse_address(m).tier is not Tier.API), None)
    if free is not None and documentation.missing_docstrings:
        style = detect_docstring_style(Path(request.repo), context.file_layout)
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


def _defer(run: _Run, reason: str, retry_at: datetime | None) -> Outcome:
    """Keep the request to run again once its budget window has money; never drop it."""
    if retry_at is None:  # it will never fit this window: try again tomorrow, settings may change
        retry_at = day_window(datetime.now(UTC), run.settings.timezone)[1]
    DeferredStore(CostLedger(run.settings.ledger_file)).add(
        run.request, reason=reason, retry_at=retry_at
    )
    return RunStatus.DEFERRED, reason, {"retry_at": retry_at}


def _remove_dead_runs(repo: Path) -> None:
    """Remove what earlier runs on this repository left when they were killed (``kill -9``):
    their registered worktrees and temp checkouts. Never the user's worktrees, never a live
    run's; a failure here must not stop this run."""
    try:
        repository = WorkRepository(repo)
        try:
            for path in repository.remove_dead_runs():
                logger.warning("removed %s, left behind by a frugalflow run that was killed", path)
        finally:
            repository.close()
    except FrugalflowError as exc:
        logger.warning("could not clean up after earlier runs on %s: %s", repo, exc)


async def run_request(request: CodeRequest, settings: Settings, run: _Run) -> Outcome:
    """Every step, cleanup last whatever happens; raises on a step's error."""
    _remove_dead_runs(Path(request.repo))
    # Marked with this process, so that a run killed with kill -9 is cleaned up by the next.
    workdir = create_run_directory(request.request_id, Path(request.repo))
    try:
        estimated = await run.step(estimate, request, settings)
        decision = await run.step(budget_gate, request, estimated, settings)
        if not decision.admitted:
            never = why_never_affordable(request, estimated, settings)
            if decision.retry_at is None or never:  # waiting will not help: say what to change
                return RunStatus.FAILED, never or decision.reason, {}
            return _defer(run, decision.reason, decision.retry_at)
        context = await run.step(fetch_context_task, request)
        availability = model_availability(decision.allowed_models, settings)
        allowed = tuple(model for model, state in availability.items() if state.usable)
        if request.quality is QualityMode.MAX:
            allowed = allowed[-1:]  # the strongest model the budget allows, for every attempt
        if not allowed:
            reasons = "; ".join(f"{model}: {state.reason}" for model, state in availability.items())
            raise RequestError(f"no allowed model can be used now: {reasons}")
        try:
            candidate = await _generate_validated(run, context, estimated, allowed, workdir)
        except BudgetExceededError as exc:
            if exc.retry_at is None:
                # Larger than a whole window or the request's own cap: waiting will not help.
                return RunStatus.FAILED, f"this request cannot be paid for: {exc}", {}
            return _defer(run, f"the budget ran out while this request ran: {exc}", exc.retry_at)
        if candidate is None or run.validation is None:
            feedback = run.validation.feedback() if run.validation else ""
            reason = (
                f"no attempt passed validation ({len(run.routing)} tried); nothing was "
                f"committed. Last problems:\n{feedback}"
            )
            return RunStatus.FAILED, reason, {}
        code, naming, documentation = await _conform(run, context, allowed, workdir)
        spent = sum(
            (
                c.actual_cost_usd
                for c in CostLedger(settings.ledger_file).calls_for_request(request.request_id)
            ),
            Decimal(0),
        )  # every attempt of this request, for the commit's Frugalflow-Cost trailer
        placement = await run.step(
            place, request, context, code, candidate.model, spent, settings, workdir
        )
        reason = f"committed {', '.join(placement.files)} on branch {placement.branch}"
        if placement.merged:
            reason += ", and fast-forwarded your branch to it"
        reason += "".join(f"\n{note}" for note in placement.notes)
        return (
            RunStatus.COMPLETED,
            reason,
            {
                "files": placement.files,
                "branch": placement.branch,
                "commit": placement.commit,
                "naming": naming,
                "documentation": documentation,
            },
        )
    finally:
        await run.step(cleanup, workdir, request.repo)


def _raise_alerts(settings: Settings, project: str) -> None:
    """Budget alerts (50/80/100%, once per window); they must never fail the run."""
    try:
        check_alerts(BudgetManager(CostLedger(settings.ledger_file), settings), project)
    except FrugalflowError as exc:
        logger.warning("could not check budget alerts: %s", exc)


def _summary_markdown(result: CodeResult) -> str:
    lines = [
        f"**{result.status.value}**: {result.reason}",
        "",
        f"cost ${result.cost_usd:.6f}, {result.input_tokens} input / {result.output_tokens} "
        f"output tokens, {result.attempts} attempt(s)",
        "",
        "| step | seconds | cached |",
        "| --- | ---: | --- |",
        *(f"| {s.step} | {s.seconds:.2f} | {'yes' if s.cached else ''} |" for s in result.steps),
    ]
    return "\n".join(lines)


@flow(name="codegen", flow_run_name="codegen-{request.request_id}", validate_parameters=True)
async def codegen(request: CodeRequest) -> State[CodeResult]:
    """Turn a code request into validated code committed on a work branch.

    Args:
        request: what to write, and where.

    Returns:
        A Completed state (named "Deferred" when the budget cannot pay now) or a Failed one;
        either way its result is the CodeResult.
    """
    try:
        settings = load_settings(request.repo)
    except FrugalflowError as exc:  # nothing ran and nothing was spent; say what to fix
        refused = CodeResult(
            request_id=request.request_id, status=RunStatus.FAILED, reason=str(exc)
        )
        return Failed(message=refused.reason[:500], data=refused)
    install_redaction(settings)  # keys out of logs, tracebacks, errors (frugalflow.core.redaction)
    try:
        check_request(request, settings)  # the same checks as the CLI's, before any money
    except FrugalflowError as exc:  # nothing ran, nothing was spent, no ledger row
        refused = CodeResult(
            request_id=request.request_id, status=RunStatus.FAILED, reason=redact(str(exc))
        )
        return Failed(message=refused.reason[:500], data=refused)
    run = _Run(request, settings, str(flow_run.id) if flow_run.id else None)
    try:
        status, reason, fields = await run_request(request, settings, run)
    except FrugalflowError as exc:
        status, reason, fields = RunStatus.FAILED, str(exc), {}
    except Exception as exc:  # a bug, or an SDK error no adapter translated: still a result
        logger.exception("request %s failed unexpectedly", request.request_id)
        log = write_bug_report(exc, settings.home, request.request_id)
        where = f"; this is a bug: the traceback is in {log}" if log else ""
        reason = f"unexpected {type(exc).__name__}: {exc}{where}"
        status, fields = RunStatus.FAILED, {}
    result = run.result(status, redact(reason), **fields)  # shown, stored, in the artifact
    _raise_alerts(settings, request.project_name)
    await acreate_markdown_artifact(
        key=f"codegen-{request.request_id.lower().replace('_', '-')}",
        markdown=_summary_markdown(result),
        description="frugalflow request summary",
    )
    if result.status is RunStatus.FAILED:
        return Failed(message=result.reason[:500], data=result)
    if result.status is RunStatus.DEFERRED:
        return Completed(message=result.reason, data=result, name="Deferred")
    return Completed(message=result.reason, data=result)

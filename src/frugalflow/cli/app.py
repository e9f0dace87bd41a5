"""The ``frugalflow`` command line.

Exit codes: 0 done, 1 the request failed (nothing committed), 2 bad usage or settings,
75 deferred (the budget cannot pay for it now; it is kept and re-run later).
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.status import Status
from rich.table import Table

from frugalflow.core.errors import FrugalflowError
from frugalflow.core.schemas import CodeRequest, CodeResult, QualityMode, RunStatus

if TYPE_CHECKING:
    from frugalflow.core.settings import Settings
    from frugalflow.flows.codegen import StepEvent

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_DEFERRED = 75  # EX_TEMPFAIL: try again later

# The repository whose frugalflow.toml applies, for the commands that only read settings.
ConfigRepo = Annotated[
    Path | None, typer.Option("--repo", help="Read this repository's frugalflow.toml too.")
]

app = typer.Typer(
    help="Generate code with the cheapest model that does the job, within a daily budget.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    from frugalflow.core.redaction import redact

    # soft_wrap: one line whatever the terminal's width, for people and for scripts alike.
    errors.print(f"[bold red]error:[/] {escape(redact(message))}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _settings_or_exit(repo: Path | None) -> Settings:
    """The settings for ``repo``, or exit 2 with what is wrong in them."""
    from frugalflow.core.settings import load_settings

    try:
        return load_settings(repo)
    except FrugalflowError as exc:
        raise _fail(str(exc)) from None


def _check_or_exit(request: CodeRequest, settings: Settings) -> None:
    """Exit 2 with what to do when the request cannot be carried out (before any money)."""
    from frugalflow.validation.preflight import check_request

    try:
        check_request(request, settings)
    except FrugalflowError as exc:
        raise _fail(str(exc)) from None


def _crashed(exc: BaseException, settings: Settings | None, name: str) -> typer.Exit:
    """A real bug: one line on the terminal, the traceback in a log file whose path it names."""
    from frugalflow.core.bugreport import write_bug_report
    from frugalflow.core.redaction import redact

    log = write_bug_report(exc, settings.home if settings else None, name)
    where = f"the traceback is in {log}" if log else "no log could be written"
    return _fail(
        f"frugalflow failed unexpectedly ({type(exc).__name__}: {redact(str(exc))}). This is "
        f"a bug: {where}; please report it with that file.",
        EXIT_FAILED,
    )


class _WithoutFinalState(logging.Filter):
    """Drops Prefect's "Finished in state Failed(...)" line: the CLI prints the reason itself,
    once, with what to do. Other errors (a task's traceback: a bug) still show."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Finished in state")


def _quiet_prefect() -> None:
    # The CLI shows its own per-step progress; Prefect's INFO lines would repeat it. Must be
    # set before prefect is imported; a user's own setting wins.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    flow_runs = logging.getLogger("prefect.flow_runs")
    if not any(isinstance(f, _WithoutFinalState) for f in flow_runs.filters):
        flow_runs.addFilter(_WithoutFinalState())


class _StepProgress:
    """A spinner for the running step, then one line per finished step."""

    def __init__(self) -> None:
        self._status: Status | None = None

    def __call__(self, event: StepEvent) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        if event.phase == "start":
            self._status = console.status(f"{event.step}…")
            self._status.start()
        elif event.phase == "end":
            note = " [dim](cached)[/]" if event.cached else ""
            console.print(f"[green]✓[/] {event.step} [dim]{event.seconds:.2f} s[/]{note}")
        else:
            console.print(f"[red]✗[/] {event.step}: {escape(event.detail)}", highlight=False)


def _result_tables(result: CodeResult, calls: list[Any]) -> None:
    steps = Table(title="time per step", title_justify="left")
    steps.add_column("step")
    steps.add_column("seconds", justify="right")
    for timing in result.steps:
        steps.add_row(timing.step + (" (cached)" if timing.cached else ""), f"{timing.seconds:.2f}")
    console.print(steps)
    cost = Table(title="model calls", title_justify="left")
    cost.add_column("model", no_wrap=True)
    for column in ("tier", "in", "out", "cost", "ok"):
        cost.add_column(column, justify="right" if column in ("in", "out", "cost") else "left")
    for call in calls:
        cost.add_row(
            f"{call.provider}:{call.model}",
            call.tier.value,
            str(call.input_tokens),
            str(call.output_tokens),
            f"${call.actual_cost_usd:.4f}",
            "cache" if call.cache_hit else ("yes" if call.success else "no"),
        )
    cost.add_row(
        "total",
        "",
        str(result.input_tokens),
        str(result.output_tokens),
        f"${result.cost_usd:.4f}",
        "",
    )
    console.print(cost)


@app.command()
def generate(
    description: Annotated[str, typer.Argument(help="What the code should do, in plain words.")],
    repo: Annotated[Path, typer.Option(help="The git repository to add the code to.")] = Path("."),
    target: Annotated[
        str | None, typer.Option(help="File to put the code in, relative to the repository.")
    ] = None,
    language: Annotated[str, typer.Option(help="Language of the code.")] = "python",
    project: Annotated[
        str | None, typer.Option(help="Project the cost is booked under (default: repo name).")
    ] = None,
    quality: Annotated[
        QualityMode, typer.Option(help="How much to spend for quality.")
    ] = QualityMode.BALANCED,
    example: Annotated[
        list[str] | None,
        typer.Option("--example", "-e", help="An assert the code must pass (repeatable)."),
    ] = None,
    budget_cap: Annotated[
        Decimal | None, typer.Option(help="Most this request may spend, in USD.")
    ] = None,
    merge: Annotated[
        bool, typer.Option(help="Fast-forward your branch to the result when that is safe.")
    ] = False,
    on_name_clash: Annotated[
        str,
        typer.Option(help="When the target already defines a generated name: stop, or beside."),
    ] = "stop",
    allow_dangerous: Annotated[
        bool,
        typer.Option(help="Place code that validation flags as dangerous instead of refusing."),
    ] = False,
) -> None:
    """Generate code for DESCRIPTION and commit it on a work branch of --repo."""
    _quiet_prefect()
    from frugalflow.core.redaction import install_redaction

    install_redaction()  # keys out of logs and tracebacks; the flow adds its settings' secrets
    try:
        request = CodeRequest(
            description=description,
            repo=repo.resolve(),
            target=target,
            language=language,
            project=project,
            quality=quality,
            examples=tuple(example or ()),
            budget_cap_usd=budget_cap,
            merge=merge,
            on_name_clash=on_name_clash,  # validated by pydantic: stop or beside
            allow_dangerous=allow_dangerous,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise _fail(f"invalid request: {problems}") from None
    settings = _settings_or_exit(request.repo)
    _check_or_exit(request, settings)

    from frugalflow.flows.codegen import codegen, listen_to_steps
    from frugalflow.money.ledger import CostLedger

    console.print(f"[bold]frugalflow[/] request [cyan]{request.request_id}[/] on {request.repo}")

    async def run_flow() -> object:
        state = await codegen(request, return_state=True)
        return await state.aresult(raise_on_failure=False)

    try:
        with listen_to_steps(_StepProgress()):
            result = asyncio.run(run_flow())
    except FrugalflowError as exc:
        raise _fail(str(exc), EXIT_FAILED) from None
    except Exception as exc:  # a bug (or Prefect could not start): the traceback goes to a file
        raise _crashed(exc, settings, request.request_id) from None
    if not isinstance(result, CodeResult):
        if isinstance(result, BaseException):
            raise _crashed(result, settings, request.request_id) from None
        raise _fail(f"the flow crashed: {result}", EXIT_FAILED)
    _result_tables(result, CostLedger(settings.ledger_file).calls_for_request(request.request_id))
    if result.status is RunStatus.COMPLETED:
        console.print(f"[bold green]done:[/] {escape(result.reason)}")
        console.print(f"  see it:   git -C {request.repo} show {result.branch}")
        if "fast-forwarded" not in result.reason:
            console.print(f"  take it:  git -C {request.repo} merge {result.branch}")
        return
    if result.status is RunStatus.DEFERRED:
        console.print(f"[bold yellow]deferred:[/] {escape(result.reason)}")
        raise typer.Exit(EXIT_DEFERRED)
    errors.print(f"[bold red]failed:[/] {escape(result.reason)}", highlight=False)
    raise typer.Exit(EXIT_FAILED)


@app.command()
def ledger(
    limit: Annotated[int, typer.Option(help="How many recent model calls to show.")] = 20,
    repo: ConfigRepo = None,
) -> None:
    """Show recent model calls and today's spend."""
    from frugalflow.core.settings import load_settings
    from frugalflow.money.budget import day_window
    from frugalflow.money.ledger import CostLedger

    try:
        settings = load_settings(repo)
        cost_ledger = CostLedger(settings.ledger_file)
        calls = cost_ledger.recent(limit)
        start, end = day_window(datetime.now().astimezone(), settings.timezone)
        today = cost_ledger.spend_between(start, end)
    except FrugalflowError as exc:
        raise _fail(str(exc)) from None
    table = Table(
        title=f"last {len(calls)} model calls ({settings.ledger_file})", title_justify="left"
    )
    for column in ("time", "request", "project", "step", "model", "in", "out", "cost", "ok"):
        table.add_column(column)
    for call in calls:
        table.add_row(
            call.ts.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
            call.request_id,
            call.project,
            call.step,
            f"{call.provider}:{call.model}",
            str(call.input_tokens),
            str(call.output_tokens),
            f"${call.actual_cost_usd:.4f}",
            "cache" if call.cache_hit else ("yes" if call.success else "no"),
        )
    console.print(table)
    console.print(
        f"today ({settings.timezone}): [bold]${today:.4f}[/] of ${settings.daily_budget_usd:.2f}"
    )


@app.command()
def budget(
    project: Annotated[
        str | None, typer.Option(help="Also show this project's own window, if it has one.")
    ] = None,
    repo: ConfigRepo = None,
) -> None:
    """Show spend, reservations and what is left in each budget window, and waiting requests."""
    from frugalflow.core.settings import load_settings
    from frugalflow.money.budget import BudgetManager
    from frugalflow.money.deferred import DeferredStore
    from frugalflow.money.ledger import CostLedger
    from frugalflow.money.pricing import subscription_cost_per_day

    try:
        settings = load_settings(repo)
        cost_ledger = CostLedger(settings.ledger_file)
        windows = BudgetManager(cost_ledger, settings).status(project)
        waiting = DeferredStore(cost_ledger).pending()
    except FrugalflowError as exc:
        raise _fail(str(exc)) from None
    table = Table(title=f"budget ({settings.timezone})", title_justify="left")
    for column in ("window", "limit", "spent", "reserved", "remaining", "used", "resets"):
        table.add_column(column, justify="left" if column in ("window", "resets") else "right")
    for window in windows:
        used = window.spent_usd / window.limit_usd if window.limit_usd else Decimal(1)
        table.add_row(
            window.key,
            f"${window.limit_usd:.2f}",
            f"${window.spent_usd:.4f}",
            f"${window.reserved_usd:.4f}",
            f"${window.remaining_usd:.4f}",
            f"{used:.0%}",
            window.end.astimezone().strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)
    fees = subscription_cost_per_day(
        settings.subscriptions_usd_per_month, datetime.now().astimezone().date()
    )
    for provider, per_day in fees.items():
        console.print(f"subscription {provider}: ${per_day:.2f} per day (amortised, not budgeted)")
    if any(window.remaining_usd < settings.emergency_threshold_usd for window in windows):
        console.print("[bold yellow]emergency mode:[/] only free tiers are used until a reset")
    console.print(f"deferred requests waiting: {len(waiting)}")
    for deferred in waiting[:10]:
        console.print(
            f"  {deferred.request.request_id}  retry at "
            f"{deferred.retry_at.astimezone():%Y-%m-%d %H:%M}  {escape(deferred.reason)}",
            highlight=False,
        )


@app.command()
def estimate(
    description: Annotated[str, typer.Argument(help="The request, as you would pass to generate.")],
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="Also price this provider:model (repeatable)."),
    ] = None,
    repo: ConfigRepo = None,
    example: Annotated[
        list[str] | None, typer.Option("--example", "-e", help="An assert the code must pass.")
    ] = None,
) -> None:
    """Show what a request would cost on each candidate model, before anything runs."""
    from frugalflow.core.settings import load_settings
    from frugalflow.tasks.estimate import estimate_request

    try:
        settings = load_settings(repo)
        if model:
            settings = settings.model_copy(update={"models": [*settings.models, *model]})
        request = CodeRequest(
            description=description,
            repo=(repo or Path(".")).resolve(),
            examples=tuple(example or ()),
        )
        estimated = estimate_request(request, settings)
    except ValidationError as exc:
        raise _fail(f"invalid request: {exc.errors()[0]['msg']}") from None
    except FrugalflowError as exc:
        raise _fail(str(exc)) from None
    console.print(
        f"{estimated.task_type.value}, {estimated.complexity.value}; at most "
        f"{estimated.max_output_tokens} output tokens per call"
    )
    table = Table(title="cost per candidate model", title_justify="left")
    table.add_column("model", no_wrap=True)
    for column in ("tier", "input tok", "expected out", "expected", "worst case"):
        table.add_column(column, justify="left" if column == "tier" else "right")
    for candidate in estimated.candidates:
        table.add_row(
            candidate.model,
            candidate.tier.value,
            f"{candidate.input_tokens}" + ("" if candidate.exact_count else "~"),
            str(candidate.expected_output_tokens),
            f"${candidate.expected_cost_usd:.5f}",
            f"${candidate.worst_case_cost_usd:.5f}",
        )
    console.print(table)
    console.print("[dim]~ estimated: the vendor's tokenizer is not available offline[/]")


@app.command()
def providers(
    repo: ConfigRepo = None,
) -> None:
    """List every provider, whether it is usable now, and why not."""
    from frugalflow.core.models import PROVIDER_TIERS
    from frugalflow.providers import get_provider

    settings = _settings_or_exit(repo)
    table = Table(title="providers", title_justify="left")
    for column in ("provider", "tier", "usable", "in cascade", "why"):
        table.add_column(column, overflow="fold")
    for name, tier in PROVIDER_TIERS.items():
        availability = get_provider(name, settings).availability()
        cascade = [model for model in settings.models if model.startswith(f"{name}:")]
        table.add_row(
            name,
            tier.value,
            "[green]yes[/]" if availability.usable else "[red]no[/]",
            ", ".join(cascade),
            escape(availability.reason),
        )
    console.print(table)


models_app = typer.Typer(help="Local models.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("pull")
def models_pull(
    repo: ConfigRepo = None,
) -> None:
    """Pull the Ollama models named in the 'models' setting onto the Ollama server."""
    from rich.progress import DownloadColumn, Progress, TaskID

    from frugalflow.providers.ollama import OllamaProvider

    settings = _settings_or_exit(repo)
    wanted = [model.split(":", 1)[1] for model in settings.models if model.startswith("ollama:")]
    if not wanted:
        console.print("no ollama models in the 'models' setting; nothing to pull")
        return
    provider = OllamaProvider(settings)
    with Progress(*Progress.get_default_columns(), DownloadColumn(), console=console) as progress:
        for model in wanted:
            bar: TaskID = progress.add_task(model, total=None)

            def report(
                status: str,
                completed: int | None,
                total: int | None,
                bar: TaskID = bar,
                model: str = model,
            ) -> None:
                progress.update(
                    bar, description=f"{model}: {status}", completed=completed or 0, total=total
                )

            try:
                provider.pull(model, report)
            except FrugalflowError as exc:
                raise _fail(f"pulling {model} failed: {exc}", EXIT_FAILED) from None
    console.print(f"pulled {', '.join(wanted)}")


@app.command("example-repo")
def example_repo(
    path: Annotated[Path, typer.Argument(help="Where to create the example repository.")],
) -> None:
    """Create a small example git repository to try frugalflow on."""
    from frugalflow.cli.example_repo import create_example_repo

    try:
        create_example_repo(path)
    except FrugalflowError as exc:
        raise _fail(str(exc)) from None
    console.print(f"created example repository at {path}")


@app.command()
def doctor(
    repo: Annotated[
        Path | None,
        typer.Option(help="Also check this repository for worktrees of runs that died."),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Only report; repair nothing.")] = False,
) -> None:
    """Check this machine's frugalflow state and repair what a killed run left behind.

    Stale worktrees and temp directories of runs that no longer exist are removed (never the
    user's own worktrees, never a live run's), expired budget reservations are released, and
    the ledger and sandbox are checked. Exit 0 when all is well (after repairs), 1 otherwise.
    """
    from frugalflow.money.budget import BudgetManager
    from frugalflow.money.ledger import CostLedger
    from frugalflow.placement.repository import WorkRepository
    from frugalflow.placement.rundirs import remove_run_directory, run_directories
    from frugalflow.validation import sandbox

    settings = _settings_or_exit(repo)
    problems = 0

    def report(ok: bool, line: str) -> None:
        nonlocal problems
        problems += not ok
        mark = "[green]ok[/]" if ok else "[red]problem[/]"
        console.print(f"{mark}  {escape(line)}", highlight=False)

    stale = [run for run in run_directories() if run.owner.is_dead()]
    repos = {run.repo for run in stale if run.repo.is_dir()} | ({repo.resolve()} if repo else set())
    for path in sorted(repos):
        try:
            work = WorkRepository(path)
        except FrugalflowError as exc:
            asked = repo is not None and path == repo.resolve()  # else a dead run's, now gone
            report(not asked, f"{path}: not checked ({exc})")
            continue
        try:
            leftovers = [w for w in work.frugalflow_worktrees() if w.owner.is_dead()]
            if not dry_run:
                work.remove_stale_worktrees()
        except FrugalflowError as exc:
            report(False, f"{path}: cannot check its worktrees ({exc})")
            continue
        finally:
            work.close()
        for worktree in leftovers:
            done = "would remove" if dry_run else "removed"
            report(not dry_run, f"{done} the worktree {worktree.path} of a dead run, in {path}")
        if not leftovers:
            report(True, f"{path}: no worktree of a dead frugalflow run")
    for run in stale:
        if run.path.exists():
            removed = not dry_run and remove_run_directory(run.path)
            what = "removed" if removed else "would remove" if dry_run else "could not remove"
            report(removed, f"{what} the temp directory {run.path} of a dead run")
    if not stale:
        report(True, "no temp directory of a dead frugalflow run")

    cost_ledger = CostLedger(settings.ledger_file)
    try:
        version = cost_ledger.schema_version()
        if version == 0:
            report(True, f"ledger {settings.ledger_file}: not created yet (the first run does)")
        else:
            report(True, f"ledger {settings.ledger_file}: readable, schema {version}")
            manager = BudgetManager(cost_ledger, settings)
            if dry_run:
                now = manager.now()
                active = manager.reservations(state="active")
                expired = [r for r in active if r.expires_at <= now]
                report(not expired, f"{len(expired)} expired reservation(s) to release")
            else:
                released = manager.expire_stale()
                report(True, f"released {released} expired reservation(s) of crashed runs")
    except FrugalflowError as exc:
        report(False, f"ledger {settings.ledger_file}: {exc}")

    why_not = sandbox.unavailable_reason()
    report(why_not is None, f"sandbox: {why_not or 'available'}")
    if problems:
        raise typer.Exit(EXIT_FAILED)


deferred_app = typer.Typer(
    help="Requests waiting for budget: list them, run them now, or drop them.",
    invoke_without_command=True,
)
app.add_typer(deferred_app, name="deferred")


@deferred_app.callback()
def deferred_list(ctx: typer.Context, repo: ConfigRepo = None) -> None:
    """List the requests waiting for budget (id, description, project, reason, retry at,
    worst case)."""
    if ctx.invoked_subcommand is not None:
        return
    from frugalflow.money.deferred import DeferredStore
    from frugalflow.money.ledger import CostLedger

    settings = _settings_or_exit(repo)
    try:
        waiting = DeferredStore(CostLedger(settings.ledger_file)).pending()
    except FrugalflowError as exc:
        raise _fail(str(exc)) from None
    if not waiting:
        console.print("no deferred requests are waiting")
        return
    table = Table(title=f"{len(waiting)} deferred request(s)", title_justify="left")
    for column in ("id", "description", "project", "reason", "retry at", "worst case"):
        table.add_column(
            column, overflow="fold", justify="right" if column == "worst case" else "left"
        )
    for deferred in waiting:
        request = deferred.request
        table.add_row(
            request.request_id,
            escape(request.description[:60] + ("…" if len(request.description) > 60 else "")),
            escape(request.project_name),
            escape(deferred.reason),
            deferred.retry_at.astimezone().strftime("%Y-%m-%d %H:%M"),
            _worst_case(request, settings),
        )
    console.print(table)
    console.print("run one now: frugalflow deferred run ID; drop one: frugalflow deferred drop ID")


def _worst_case(request: CodeRequest, settings: Settings) -> str:
    """The least a paid model needs free to run the request (its cheapest worst case), now."""
    from frugalflow.core.settings import load_settings
    from frugalflow.money.budget import usd
    from frugalflow.tasks.estimate import estimate_request

    try:
        here = load_settings(request.repo) if Path(request.repo).is_dir() else settings
        candidates = estimate_request(request, here).candidates
    except FrugalflowError:
        return "?"
    worst = min(
        (c.worst_case_cost_usd for c in candidates if c.worst_case_cost_usd), default=Decimal(0)
    )
    return usd(worst)


@deferred_app.command("run")
def deferred_run(
    ids: Annotated[
        list[str] | None,
        typer.Argument(help="Deferred or request ids (see `frugalflow deferred`)."),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Run every waiting request.")] = False,
    repo: ConfigRepo = None,
) -> None:
    """Run waiting requests now, through the rerun-deferred flow, whether due or not.

    Exit 0 when every one completed, 75 when some were deferred again, 1 when one failed (it
    then leaves the queue with its reason).
    """
    _quiet_prefect()
    from frugalflow.money.deferred import DeferredStore
    from frugalflow.money.ledger import CostLedger

    settings = _settings_or_exit(repo)
    store = DeferredStore(CostLedger(settings.ledger_file))
    try:
        if all_:
            chosen = [d.deferred_id for d in store.pending()]
        elif ids:
            unknown = [wanted for wanted in ids if not store.find(wanted)]
            if unknown:
                raise _fail(
                    f"no waiting request has id {', '.join(unknown)}; `frugalflow deferred` "
                    "lists them"
                )
            chosen = list(ids)
        else:
            raise _fail("name the requests to run (ids from `frugalflow deferred`), or pass --all")
    except FrugalflowError as exc:
        raise _fail(str(exc)) from None
    if not chosen:
        console.print("no deferred requests are waiting")
        return
    from frugalflow.flows.deferred import rerun_deferred

    try:
        results = asyncio.run(rerun_deferred(limit=len(chosen), deferred_ids=chosen))
    except FrugalflowError as exc:
        raise _fail(str(exc), EXIT_FAILED) from None
    except Exception as exc:
        raise _crashed(exc, settings, "deferred-run") from None
    for result in results:
        colour = {"completed": "green", "deferred": "yellow"}.get(result.status.value, "red")
        console.print(
            f"[{colour}]{result.status.value}[/] {result.request_id}: {escape(result.reason)}",
            highlight=False,
        )
    statuses = {result.status for result in results}
    if RunStatus.FAILED in statuses or len(results) < len(chosen):
        raise typer.Exit(EXIT_FAILED)
    if RunStatus.DEFERRED in statuses:
        raise typer.Exit(EXIT_DEFERRED)


@deferred_app.command("drop")
def deferred_drop(
    ids: Annotated[list[str], typer.Argument(help="Deferred or request ids to drop.")],
    reason: Annotated[
        str, typer.Option(help="Why, kept with the request in the ledger.")
    ] = "dropped by the user",
    repo: ConfigRepo = None,
) -> None:
    """Take waiting requests out of the queue without running them; the reason is recorded."""
    from frugalflow.money.deferred import DeferredStore
    from frugalflow.money.ledger import CostLedger

    settings = _settings_or_exit(repo)
    store = DeferredStore(CostLedger(settings.ledger_file))
    try:
        found = {wanted: store.find(wanted) for wanted in ids}
        unknown = [wanted for wanted, rows in found.items() if not rows]
        if unknown:
            raise _fail(
                f"no waiting request has id {', '.join(unknown)}; `frugalflow deferred` lists them"
            )
        for rows in found.values():
            for row in rows:
                store.drop(row.deferred_id, reason)
                console.print(f"dropped {row.request.request_id} ({escape(reason)})")
    except FrugalflowError as exc:
        raise _fail(str(exc)) from None

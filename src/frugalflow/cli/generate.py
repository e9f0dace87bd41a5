"""``frugalflow generate`` and ``frugalflow estimate``: run a request, or price it first.

``generate`` runs the codegen flow in this process, shows a line per step while it runs,
then the time per step, the model calls and what happened (exit 0, 1 or 75).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from frugalflow.cli.output import (
    EXIT_DEFERRED,
    EXIT_FAILED,
    ConfigRepo,
    WholeTable,
    check_or_exit,
    console,
    crashed,
    errors,
    fail,
    quiet_prefect,
    settings_or_exit,
)
from frugalflow.cli.server import use_local_server
from frugalflow.core.errors import FrugalflowError
from frugalflow.core.schemas import CodeRequest, CodeResult, QualityMode, RunStatus

if TYPE_CHECKING:
    from collections.abc import Callable

    from frugalflow.flows.codegen import StepEvent
    from frugalflow.money.ledger import ModelCall


class StepProgress:
    """A spinner for the running step with the time it has taken so far, then one line per
    finished step, and under it each model call the step made: model, tokens and cost.

    The calls are read from the ledger only when its files changed since the last read (a
    stat, against a few milliseconds for a read): most steps call no model.
    """

    def __init__(
        self,
        calls: Callable[[], list[ModelCall]] | None = None,
        ledger_file: Path | None = None,
    ) -> None:
        self._running: Progress | None = None
        self._calls = calls
        self._ledger_file = ledger_file
        self._seen_state: tuple[tuple[int, int], ...] | None = None
        self._shown: set[str] = set()

    def __call__(self, event: StepEvent) -> None:
        if self._running is not None:
            self._running.stop()
            self._running = None
        if event.phase == "start":
            if not console.is_terminal:  # piped: the finished steps' lines are enough
                return
            self._running = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self._running.add_task(f"{event.step}…", total=None)
            self._running.start()
            return
        if event.phase == "end":
            note = " [dim](cached)[/]" if event.cached else ""
            console.print(f"[green]✓[/] {event.step} [dim]{event.seconds:.2f} s[/]{note}")
        else:
            console.print(f"[red]✗[/] {event.step}: {escape(event.detail)}", highlight=False)
        self._print_new_calls()

    def _ledger_changed(self) -> bool:
        if self._ledger_file is None:
            return True
        state = []
        for path in (
            self._ledger_file,
            self._ledger_file.with_name(self._ledger_file.name + ".wal"),
        ):
            try:
                stat = path.stat()
                state.append((stat.st_size, stat.st_mtime_ns))
            except OSError:
                state.append((-1, -1))
        changed = tuple(state) != self._seen_state
        self._seen_state = tuple(state)
        return changed

    def _print_new_calls(self) -> None:
        if self._calls is None or not self._ledger_changed():
            return
        try:
            calls = self._calls()
        except FrugalflowError:  # the progress is a courtesy: the result tables tell it all
            return
        for call in calls:
            if call.call_id in self._shown:
                continue
            self._shown.add(call.call_id)
            how = "cache hit" if call.cache_hit else ("ok" if call.success else "failed")
            console.print(
                f"    [dim]{call.provider}:{call.model}  {call.input_tokens} in, "
                f"{call.output_tokens} out  ${call.actual_cost_usd:.4f}  {how}[/]",
                highlight=False,
            )


def result_tables(result: CodeResult, calls: list[ModelCall]) -> None:
    """The time per step, and each model call with its tokens and cost, then the total."""
    steps = WholeTable(title="time per step", title_justify="left")
    steps.add_column("step")
    steps.add_column("seconds", justify="right")
    for timing in result.steps:
        steps.add_row(timing.step + (" (cached)" if timing.cached else ""), f"{timing.seconds:.2f}")
    console.print(steps)
    cost = WholeTable(title="model calls", title_justify="left")
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
    quiet_prefect()
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
        raise fail(f"invalid request: {problems}") from None
    settings = settings_or_exit(request.repo)
    check_or_exit(request, settings)
    use_local_server(settings)  # before the flow's modules import Prefect's client

    from frugalflow.flows.codegen import codegen, listen_to_steps
    from frugalflow.money.ledger import CostLedger

    console.print(f"[bold]frugalflow[/] request [cyan]{request.request_id}[/] on {request.repo}")

    from prefect.context import SyncClientContext

    async def run_flow() -> object:
        # One API client for the flow engine's own calls too (see the flow's).
        with SyncClientContext.get_or_create():
            state = await codegen(request, return_state=True)
            return await state.aresult(raise_on_failure=False)

    try:
        ledger = CostLedger(settings.ledger_file)
        progress = StepProgress(
            lambda: ledger.calls_for_request(request.request_id), settings.ledger_file
        )
        with listen_to_steps(progress):
            result = asyncio.run(run_flow())
    except FrugalflowError as exc:
        raise fail(str(exc), EXIT_FAILED) from None
    except Exception as exc:  # a bug (or Prefect could not start): the traceback goes to a file
        raise crashed(exc, settings, request.request_id) from None
    if not isinstance(result, CodeResult):
        if isinstance(result, BaseException):
            raise crashed(result, settings, request.request_id) from None
        raise fail(f"the flow crashed: {result}", EXIT_FAILED)
    result_tables(result, CostLedger(settings.ledger_file).calls_for_request(request.request_id))
    if result.status is RunStatus.COMPLETED:
        console.print(f"[bold green]done:[/] {escape(result.reason)}")
        console.print(f"  see it:   git -C {request.repo} show {result.branch}")
        if not result.merged:
            console.print(f"  take it:  git -C {request.repo} merge {result.branch}")
        return
    if result.status is RunStatus.DEFERRED:
        console.print(f"[bold yellow]deferred:[/] {escape(result.reason)}")
        raise typer.Exit(EXIT_DEFERRED)
    errors.print(f"[bold red]failed:[/] {escape(result.reason)}", highlight=False)
    raise typer.Exit(EXIT_FAILED)


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
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Show how a request is classed, what it would cost on each candidate model, and the
    models its attempts would use, before anything runs."""
    from frugalflow.core.settings import load_settings
    from frugalflow.tasks.budget import check_budget
    from frugalflow.tasks.estimate import estimate_request
    from frugalflow.tasks.route import model_availability, plan_route

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
        gate = check_budget(request, estimated, settings)
        plan = None
        if gate.admitted:
            availability = model_availability(gate.allowed_models, settings)
            plan = plan_route(request, estimated, gate, availability, settings)
    except ValidationError as exc:
        raise fail(f"invalid request: {exc.errors()[0]['msg']}") from None
    except FrugalflowError as exc:
        raise fail(str(exc)) from None
    if as_json:
        from frugalflow.cli.money import print_json

        print_json(
            {
                "estimate": estimated.model_dump(),
                "quality": request.quality.value,
                "budget": gate.model_dump(),
                "route": None
                if plan is None
                else {
                    "rule": plan.rule,
                    "ladder": list(plan.ladder),
                    "reserve": list(plan.reserve),
                    "reason": plan.reason,
                    "expected_cost_usd": plan.expected_cost_usd,
                    "worst_case_cost_usd": plan.worst_case_cost_usd,
                    "success_probability": plan.success_probability,
                    "defer_hours": plan.defer_hours,
                    "options": [o.model_dump() for o in plan.options],
                },
            }
        )
        return
    spec = estimated.spec
    depth = f", {spec.depth.value} analysis" if spec and spec.depth else ""
    files = f"; files: {', '.join(spec.files)}" if spec and spec.files else ""
    console.print(
        f"{estimated.task_type.value}, {estimated.language}, {estimated.complexity.value}"
        f"{depth}, quality {request.quality.value}{files}; at most "
        f"{estimated.max_output_tokens} output tokens per call"
    )
    table = WholeTable(title="cost per candidate model", title_justify="left")
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
    if plan is None:
        console.print(f"route: none now: {escape(gate.reason)}")
    elif plan.defer_hours is not None:
        console.print(f"route: deferred {plan.defer_hours:g} h: {escape(plan.reason)}")
    else:
        console.print(
            f"route: {' -> '.join(plan.ladder) or 'nothing affordable'} (rule {plan.rule!r}; "
            f"expected ${plan.expected_cost_usd:.5f}, at most ${plan.worst_case_cost_usd:.5f}, "
            f"{plan.success_probability:.0%} likely to pass validation)"
        )

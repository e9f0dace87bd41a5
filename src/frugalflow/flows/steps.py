"""How the codegen flow runs its steps and keeps what it learns: :class:`Run` and :class:`Outcome`.

:meth:`Run.step` runs one step (a task built with :func:`frugalflow.tasks.step`), records its
time, tells in-process listeners (the CLI's progress lines, :func:`listen_to_steps`) and
raises the step's own error when it failed. :meth:`Run.result` turns how the run ended (an
:class:`Outcome`) into the :class:`~frugalflow.core.schemas.CodeResult`, with the request's
cost and tokens from the ledger.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, ParamSpec, TypeVar

from prefect import Task

from frugalflow.core.errors import FrugalflowError
from frugalflow.core.schemas import (
    AttemptRecord,
    CodeRequest,
    CodeResult,
    DocumentationReport,
    NamingReport,
    RoutingDecision,
    RunStatus,
    StepTiming,
    ValidationReport,
)
from frugalflow.core.settings import Settings
from frugalflow.tasks import Timed
from frugalflow.tasks.usage import request_usage

P = ParamSpec("P")
R = TypeVar("R")


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


@dataclass(frozen=True)
class Outcome:
    """How a run ended: its status and reason, and what a completed or deferred run produced.

    Attributes:
        status: completed, deferred or failed.
        reason: what happened, for the user (redacted when it becomes the result).
        files: the files committed, repo-relative.
        branch: the work branch holding the commit.
        commit: the commit's hash.
        merged: whether the user's branch was fast-forwarded to the work branch.
        naming: how the code's names fit the project's styles.
        documentation: the public names the code adds, and those without a docstring.
        retry_at: when a deferred request runs again.
    """

    status: RunStatus
    reason: str
    files: tuple[str, ...] = ()
    branch: str | None = None
    commit: str | None = None
    merged: bool = False
    naming: NamingReport | None = None
    documentation: DocumentationReport | None = None
    retry_at: datetime | None = None


@dataclass
class Run:
    """What a run has learned so far; turned into the CodeResult however the run ends."""

    request: CodeRequest
    settings: Settings
    flow_run_id: str | None
    steps: list[StepTiming] = field(default_factory=list)
    routing: list[RoutingDecision] = field(default_factory=list)
    tried: list[AttemptRecord] = field(default_factory=list)
    validation: ValidationReport | None = None

    async def step(self, task: Task[P, Timed[R]], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run one step and return its value; raise its error if it did not complete."""
        _emit(StepEvent(task.name, "start"))
        started = time.perf_counter()
        state = task(*args, return_state=True, **kwargs)
        if not state.is_completed():
            error = await state.aresult(raise_on_failure=False)
            _emit(StepEvent(task.name, "error", detail=str(error)))
            if isinstance(error, BaseException):
                raise error
            raise FrugalflowError(f"step {task.name} ended {state.name}: {state.message}")
        timed: Timed[R] = await state.aresult()
        cached = state.name == "Cached"
        # A cached step's body did not run now: its time is that of the cache lookup.
        seconds = time.perf_counter() - started if cached else timed.seconds
        self.steps.append(StepTiming(step=task.name, seconds=seconds, cached=cached))
        _emit(StepEvent(task.name, "end", seconds=seconds, cached=cached))
        return timed.value

    def result(self, outcome: Outcome) -> CodeResult:
        """The CodeResult of a run that ended with ``outcome``; cost and tokens summed over
        every call the ledger holds for the request."""
        usage = request_usage(self.request.request_id, self.settings)
        return CodeResult(
            request_id=self.request.request_id,
            status=outcome.status,
            reason=outcome.reason,
            flow_run_id=self.flow_run_id,
            files=outcome.files,
            branch=outcome.branch,
            commit=outcome.commit,
            merged=outcome.merged,
            attempts=len(self.routing),
            routing=tuple(self.routing),
            tried=tuple(self.tried),
            validation=self.validation,
            naming=outcome.naming,
            documentation=outcome.documentation,
            cost_usd=usage.cost_usd,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            steps=tuple(self.steps),
            retry_at=outcome.retry_at,
        )

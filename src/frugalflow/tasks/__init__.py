"""One module per step of the codegen flow.

Each module holds the step's domain logic as plain functions, callable and testable without
Prefect, and one thin ``@task`` built with :func:`step`, which says how the step runs (retries,
caching) and measures the time spent in the step's own body, so that Prefect's overhead can be
told apart from the work.

Importing a task module does not import Prefect (about 0.7 s): the ``@task`` is built the first
time it is used, so the CLI's ``estimate`` and the read-only commands, which call the plain
functions, answer without it.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, cast

from frugalflow.core.errors import CallRefusedError, is_retryable
from frugalflow.core.models import ModelAddress
from frugalflow.core.settings import Settings
from frugalflow.money.metering import Send
from frugalflow.providers import ChatMessage, Completion, get_provider
from frugalflow.providers.pool import ProviderPool, get_pool

if TYPE_CHECKING:
    from prefect import State, Task
    from prefect.client.schemas.objects import TaskRun

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class Timed(Generic[T]):
    """A step's return value and the seconds its body took."""

    value: T
    seconds: float


# A wait for a provider logs a line this often, so that a run never looks hung.
WAIT_PROGRESS_SECONDS = 5.0
logger = logging.getLogger("frugalflow.retry")


def pooled_send(
    address: ModelAddress,
    settings: Settings,
    repo: Path,
    *,
    temperature: float,
    seed: int | None = None,
) -> tuple[Send, ProviderPool]:
    """The call a step's meter makes, and the pool it goes through.

    Through the pool: its circuit breakers rest a failing provider, and its slots keep a
    laptop's local model to the calls it can serve at once.
    """
    provider = get_provider(address.provider, settings, repo=repo)
    pool = get_pool(settings, get_provider)

    def send(messages: Sequence[ChatMessage], max_tokens: int) -> Completion:
        return pool.call(
            address.provider,
            address.model,
            messages,
            max_tokens=max_tokens,
            temperature=temperature,
            provider=provider,
            seed=seed,
        )

    return send, pool


def max_retry_after() -> float:
    """The ``max_retry_after_seconds`` of the running task's settings (its ``settings``
    parameter), or the default outside a task."""
    from prefect.context import TaskRunContext

    context = TaskRunContext.get()
    settings = context.parameters.get("settings") if context and context.parameters else None
    if isinstance(settings, Settings):
        return settings.max_retry_after_seconds
    default: float = Settings.model_fields["max_retry_after_seconds"].default
    return default


def too_long_to_wait(error: BaseException, limit: float) -> bool:
    """Whether ``error`` asks for a longer wait than ``limit`` seconds before the next call."""
    retry_after = getattr(error, "retry_after", None)
    return retry_after is not None and float(retry_after) > limit


def wait_as_asked(
    seconds: float,
    why: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Wait ``seconds`` as a provider asked, saying so at the start and every few seconds.

    Args:
        seconds: how long the provider asked to wait.
        why: what asked for it (the provider's error), for the log.
        sleep: injectable for tests.
        clock: monotonic seconds; injectable for tests.
    """
    # A warning, so that it shows in a terminal (the CLI lets only warnings through): a
    # silent wait of half a minute looks like a hang.
    logger.warning("waiting %.0f s before calling again, as asked: %s", seconds, why)
    deadline = clock() + seconds
    while (left := deadline - clock()) > 0:
        sleep(min(left, WAIT_PROGRESS_SECONDS))
        left = deadline - clock()
        if left > 0:
            logger.warning("still waiting: %.0f s left", left)


def retry_only_transient(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect ``retry_condition_fn``: retry only errors marked retryable (429, 5xx, timeouts).

    When the provider said how long to wait (``Retry-After``, or a resting circuit breaker),
    wait that long first, logging progress: Prefect's own retry delays are fixed per task, and
    retrying a 429 early only earns another 429. A provider that asks for more than
    ``max_retry_after_seconds`` is not waited for, nor is a model refused for a reason that
    waiting does not cure (no key): the task fails at once, so that the flow hands the call to
    the next allowed model (failover).
    """
    error = state.data if isinstance(state.data, BaseException) else None
    if not is_retryable(error):
        return False
    assert error is not None
    if isinstance(error, CallRefusedError) and error.retry_after is None:
        return False  # no key, no server: waiting here will not help; another model may
    limit = max_retry_after()
    if too_long_to_wait(error, limit):
        logger.warning(
            "not waiting %g s (more than max_retry_after_seconds, %g s): %s",
            float(getattr(error, "retry_after", 0)),
            limit,
            error,
        )
        return False
    retry_after = getattr(error, "retry_after", None)
    if retry_after and task_run.run_count <= task.retries:
        wait_as_asked(float(retry_after), str(error))
    return True


class LazyTask:
    """A Prefect task built on first use: calling it, or reading any attribute (``submit``,
    ``with_options``, ``fn``...), builds the task once and hands over to it.

    ``options`` is called at build time, so that option values from Prefect (cache policies)
    are imported then, not when the step's module is.
    """

    def __init__(
        self,
        name: str,
        body: Callable[..., Any],
        options: Callable[[], dict[str, Any]],
    ) -> None:
        self._name = name
        self._body = body
        self._options = options
        self._task: Task[..., Any] | None = None
        self._lock = threading.Lock()

    def build(self) -> Task[..., Any]:
        """The Prefect task, built the first time it is asked for."""
        if self._task is None:
            with self._lock:
                if self._task is None:
                    from prefect import task

                    self._task = task(name=self._name, task_run_name=self._name, **self._options())(
                        self._body
                    )
        return self._task

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.build()(*args, **kwargs)

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("_"):  # not built yet: no Prefect lookups through here
            raise AttributeError(attribute)
        return getattr(self.build(), attribute)

    def __repr__(self) -> str:
        return f"<step {self._name!r}{'' if self._task is not None else ' (not built yet)'}>"


def step(
    name: str,
    *,
    options: Callable[[], dict[str, Any]] | None = None,
    **task_options: Any,
) -> Callable[[Callable[P, T]], Task[P, Timed[T]]]:
    """Turn a plain step function into a Prefect task that reports its body's duration.

    The task is built on first use (see :class:`LazyTask`), so that importing the step's
    module does not import Prefect.

    Args:
        name: the step's name, as shown in the Prefect UI and in the result's timings.
        options: returns more options for ``prefect.task``, called when the task is built;
            for values that come from Prefect itself (``cache_policy=NO_CACHE``).
        **task_options: passed to ``prefect.task`` (retries, cache_key_fn, ...).
    """

    def decorate(fn: Callable[P, T]) -> Task[P, Timed[T]]:
        @functools.wraps(fn)
        def body(*args: P.args, **kwargs: P.kwargs) -> Timed[T]:
            started = time.perf_counter()
            value = fn(*args, **kwargs)
            return Timed(value, time.perf_counter() - started)

        def all_options() -> dict[str, Any]:
            return {**task_options, **(options() if options else {})}

        return cast("Task[P, Timed[T]]", LazyTask(name, body, all_options))

    return decorate

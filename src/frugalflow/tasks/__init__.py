"""One module per step of the codegen flow.

Each module holds the step's domain logic as plain functions, callable and testable without
Prefect, and one thin ``@task`` built with :func:`step`, which says how the step runs (retries,
caching) and measures the time spent in the step's own body, so that Prefect's overhead can be
told apart from the work.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, TypeVar

from prefect import State, Task, task
from prefect.client.schemas.objects import TaskRun

from frugalflow.errors import is_retryable

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class Timed(Generic[T]):
    """A step's return value and the seconds its body took."""

    value: T
    seconds: float


# The longest a provider's Retry-After is honoured before retrying anyway.
MAX_RETRY_AFTER_SECONDS = 120.0


def retry_only_transient(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect ``retry_condition_fn``: retry only errors marked retryable (429, 5xx, timeouts).

    When the provider said how long to wait (``Retry-After``), wait that long first: Prefect's
    own retry delays are fixed per task, and retrying a 429 early only earns another 429.
    """
    error = state.data if isinstance(state.data, BaseException) else None
    if not is_retryable(error):
        return False
    retry_after = getattr(error, "retry_after", None)
    if retry_after and task_run.run_count <= task.retries:
        time.sleep(min(float(retry_after), MAX_RETRY_AFTER_SECONDS))
    return True


def step(name: str, **task_options: Any) -> Callable[[Callable[P, T]], Task[P, Timed[T]]]:
    """Turn a plain step function into a Prefect task that reports its body's duration.

    Args:
        name: the step's name, as shown in the Prefect UI and in the result's timings.
        **task_options: passed to ``prefect.task`` (retries, cache_key_fn, ...).
    """

    def decorate(fn: Callable[P, T]) -> Task[P, Timed[T]]:
        @functools.wraps(fn)
        def body(*args: P.args, **kwargs: P.kwargs) -> Timed[T]:
            started = time.perf_counter()
            value = fn(*args, **kwargs)
            return Timed(value, time.perf_counter() - started)

        return task(name=name, task_run_name=name, **task_options)(body)

    return decorate

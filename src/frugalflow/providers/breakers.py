"""Circuit breakers: a provider, or one of its models, that keeps failing rests for a while.

The pool (:mod:`frugalflow.providers.pool`) keeps one breaker per provider and one per model,
and :func:`failure_scope` says which of them a failed call counts against.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Literal

from frugalflow.core.errors import (
    ConfigurationError,
    MalformedReplyError,
    ProviderError,
    RateLimitedError,
)

__all__ = ["BreakerState", "CircuitBreaker", "Scope", "failure_scope"]

Scope = Literal["model", "provider"]


def failure_scope(error: BaseException) -> Scope | None:
    """Which breaker a failed call counts against.

    Returns:
        ``"model"`` for a failure that is the model's own (a 429: vendors limit each model;
        a malformed reply); ``"provider"`` for any other retryable failure (the server or the
        connection to it: refused, timed out, 5xx); None for errors that say nothing about
        health (permanent ones: a bad key, a bad request; and foreign exceptions).
    """
    if not (isinstance(error, ProviderError) and error.retryable):
        return None
    if isinstance(error, RateLimitedError | MalformedReplyError):
        return "model"
    return "provider"


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    """Rests a provider after consecutive transient failures.

    * **closed**: calls are allowed; ``failures_to_open`` consecutive *retryable* failures
      (timeouts, 429s, 5xx, dropped connections) open it. A success resets the count.
    * **open**: :meth:`allow` is False until ``reset_seconds`` have passed.
    * **half-open**: after the rest, one trial call is allowed (others are refused while it
      runs); its success closes the breaker, its retryable failure opens it again for
      another ``reset_seconds``.

    Permanent errors (authentication, bad request, prompt too long) do not count: they say
    that this call, or this configuration, is wrong, not that the provider is unhealthy, and
    retrying elsewhere or fixing the settings is the answer, not resting. Such an error, or any
    exception that is not a :class:`ProviderError`, neither opens nor closes the breaker; it
    ends a half-open trial undecided, so that the next call becomes the trial.

    Thread-safe.

    Args:
        failures_to_open: consecutive retryable failures that open the breaker (at least 1).
        reset_seconds: how long the breaker stays open before a trial call.
        clock: monotonic seconds; injectable for tests.
    """

    def __init__(
        self,
        failures_to_open: int,
        reset_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures_to_open < 1:
            raise ConfigurationError(
                f"circuit_breaker_failures must be at least 1, not {failures_to_open}"
            )
        if reset_seconds <= 0:
            raise ConfigurationError(
                f"circuit_breaker_reset_seconds must be positive, not {reset_seconds}"
            )
        self.failures_to_open = failures_to_open
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False
        self._last_error = ""

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state()

    def _state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at < self.reset_seconds:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    @property
    def consecutive_failures(self) -> int:
        with self._lock:
            return self._failures

    @property
    def last_error(self) -> str:
        """The message of the last retryable failure, or ``""``."""
        with self._lock:
            return self._last_error

    def seconds_until_trial(self) -> float:
        """How long the breaker stays open; 0 when it is not open."""
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self._opened_at + self.reset_seconds - self._clock())

    def trial_running(self) -> bool:
        with self._lock:
            return self._state() is BreakerState.HALF_OPEN and self._trial_running

    def allow(self) -> bool:
        """Whether a call may go ahead now. In half-open state, True claims the single trial:
        the caller must then report its outcome (:meth:`record_success`,
        :meth:`record_failure` or :meth:`release`)."""
        with self._lock:
            state = self._state()
            if state is BreakerState.CLOSED:
                return True
            if state is BreakerState.OPEN or self._trial_running:
                return False
            self._trial_running = True
            return True

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_running = False
            self._last_error = ""

    def record_failure(self, error: BaseException) -> None:
        """Count a failed call if its error is retryable (see the class docstring)."""
        if not (isinstance(error, ProviderError) and error.retryable):
            self.release()
            return
        with self._lock:
            self._failures += 1
            self._last_error = str(error)
            was_trial = self._trial_running
            self._trial_running = False
            if was_trial or self._failures >= self.failures_to_open:
                self._opened_at = self._clock()

    def release(self) -> None:
        """End a call without a verdict on the provider's health (a half-open trial included)."""
        with self._lock:
            self._trial_running = False

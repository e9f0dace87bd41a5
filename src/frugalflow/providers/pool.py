"""The LLM pool manager: concurrency limits, circuit breakers and cached availability.

Every model call goes through :meth:`ProviderPool.call`, which

1. refuses at once, sending nothing, while the provider's or the model's circuit breaker is
   open (it failed ``circuit_breaker_failures`` times in a row and is resting for
   ``circuit_breaker_reset_seconds``), so that a dead server or an exhausted subscription does
   not cost every request a timeout;
2. waits for one of the provider's ``provider_concurrency`` slots (a laptop serves one local
   generation at a time; a server a few);
3. calls the provider and tells the breakers how it went.

Breakers come in two scopes (:func:`failure_scope`). A failure of the transport or the server
(connection refused, timeouts, 5xx) rests the whole provider: every model behind it is
unreachable. A failure that is the model's own (429: rate limits are per model; a malformed
reply) rests that model only, so that another model of the same provider still takes the call
(failover from ``openai:gpt-4o-mini`` to ``openai:gpt-4o``).

The pool is **process-local**: its semaphores, breakers and caches live in this process's
memory. Each worker process has its own pool (one per distinct provider configuration, see
:func:`get_pool`), so limits apply per process, not across a fleet of workers, and a breaker
opened in one worker does not rest the provider in another. A forked child starts with no
pools.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

from frugalflow.core.errors import (
    CallRefusedError,
    ConfigurationError,
    SlotTimeoutError,
)
from frugalflow.core.settings import Settings
from frugalflow.providers.base import Availability, ChatMessage, Completion, Provider
from frugalflow.providers.breakers import BreakerState, CircuitBreaker, failure_scope

UNLIMITED_SLOTS = 1 << 16
AVAILABILITY_TTL_SECONDS = 30.0
_DETAIL_CHARS = 200


class ProviderPool:
    """Shares providers among the threads of one process, within limits.

    Process-local (see the module docstring): one pool per worker process, shared by the flow
    runs in it through :func:`get_pool` so that breaker state survives from run to run.
    Thread-safe.

    Args:
        settings: ``provider_concurrency`` (slots per provider name; unlisted providers are
            unlimited), ``circuit_breaker_failures``, ``circuit_breaker_reset_seconds`` and
            ``provider_timeout_seconds`` (the longest :meth:`call` waits for a slot).
        providers: the providers, by name.
        factory: builds a provider that ``providers`` lacks, on first use (``get_provider``).
        clock: monotonic seconds, for the breakers and the availability cache.
        availability_ttl: how long a provider's :meth:`Provider.availability` answer is reused.
    """

    def __init__(
        self,
        settings: Settings,
        providers: Mapping[str, Provider],
        *,
        factory: Callable[[str, Settings], Provider] | None = None,
        clock: Callable[[], float] = time.monotonic,
        availability_ttl: float = AVAILABILITY_TTL_SECONDS,
    ) -> None:
        for name, limit in settings.provider_concurrency.items():
            if limit < 1:
                raise ConfigurationError(
                    f"provider_concurrency for {name!r} must be at least 1, not {limit}"
                )
        self._settings = settings
        self._factory = factory
        self._clock = clock
        self._availability_ttl = availability_ttl
        self._lock = threading.Lock()
        self._providers: dict[str, Provider] = dict(providers)
        self._semaphores: dict[str, threading.BoundedSemaphore] = {}
        self._breakers: dict[str, CircuitBreaker] = {}
        self._availability: dict[str, tuple[float, Availability]] = {}
        self._availability_locks: dict[str, threading.Lock] = {}
        # Validate the breaker settings now rather than on the first call.
        CircuitBreaker(
            settings.circuit_breaker_failures, settings.circuit_breaker_reset_seconds, clock
        )

    @property
    def names(self) -> tuple[str, ...]:
        """The providers built so far."""
        with self._lock:
            return tuple(self._providers)

    def provider(self, name: str) -> Provider:
        """The provider called ``name``, built by the factory on first use.

        Raises:
            ConfigurationError: the pool has no such provider and no factory to build it.
        """
        with self._lock:
            found = self._providers.get(name)
        if found is not None:
            return found
        if self._factory is None:
            raise ConfigurationError(
                f"provider {name!r} is not in this pool (it has: {', '.join(self.names) or 'none'})"
            )
        built = self._factory(name, self._settings)  # outside the lock: it may be slow
        with self._lock:
            return self._providers.setdefault(name, built)

    def slots(self, name: str) -> int:
        """How many calls ``name`` may serve at once in this process."""
        return self._settings.provider_concurrency.get(name, UNLIMITED_SLOTS)

    def breaker(self, name: str, model: str | None = None) -> CircuitBreaker:
        """The breaker of provider ``name``, or of its ``model`` (see :func:`failure_scope`)."""
        key = name if model is None else f"{name}:{model}"
        with self._lock:
            if key not in self._breakers:
                self._breakers[key] = CircuitBreaker(
                    self._settings.circuit_breaker_failures,
                    self._settings.circuit_breaker_reset_seconds,
                    self._clock,
                )
            return self._breakers[key]

    def _semaphore(self, name: str) -> threading.BoundedSemaphore:
        with self._lock:
            if name not in self._semaphores:
                self._semaphores[name] = threading.BoundedSemaphore(self.slots(name))
            return self._semaphores[name]

    @contextmanager
    def slot(self, name: str, timeout: float | None = None) -> Iterator[None]:
        """Hold one of ``name``'s slots for the duration of the block.

        Args:
            name: the provider.
            timeout: the most seconds to wait for a slot; None waits as long as it takes.

        Raises:
            SlotTimeoutError: no slot freed up within ``timeout`` (a retryable
                ProviderUnavailableError).
        """
        semaphore = self._semaphore(name)
        if not semaphore.acquire(timeout=timeout):
            limit = self.slots(name)
            raise SlotTimeoutError(
                f"all {limit} slot{'s' if limit != 1 else ''} of {name} are busy (waited "
                f"{timeout:g} s); try again later or raise provider_concurrency for {name}",
                provider=name,
            )
        try:
            yield
        finally:
            semaphore.release()

    def usable(self, name: str, model: str | None = None) -> Availability:
        """Whether ``name`` (and its ``model``, when given) can take a call now, and if not,
        why and until when.

        Combines the circuit breakers (no cost) with the provider's own
        :meth:`Provider.availability`, whose answer is cached for ``availability_ttl``.
        """
        breakers = [(name, self.breaker(name))]
        if model is not None:
            breakers.append((f"{name}:{model}", self.breaker(name, model)))
        for label, breaker in breakers:
            refusal = self._refusal(label, breaker)
            if refusal is not None:
                return Availability(usable=False, reason=refusal)
        availability = self._provider_availability(name)
        trials = [breaker for _, breaker in breakers if breaker.state is BreakerState.HALF_OPEN]
        if availability.usable and trials:
            return Availability(
                usable=True,
                reason=f"{availability.reason}; a trial call is allowed after "
                f"{trials[0].consecutive_failures} failures",
            )
        return availability

    def refuse_if_unusable(self, name: str, model: str) -> None:
        """Refuse ``name:model`` before anything is sent when :meth:`usable` says it cannot
        take a call (a breaker is open, no key is configured, the server is down).

        Raises:
            CallRefusedError: with the reason; ``retry_after`` is when a resting breaker
                allows a trial, None when waiting will not help.
        """
        availability = self.usable(name, model)
        if availability.usable:
            return
        resting = max(
            self.breaker(name).seconds_until_trial(),
            self.breaker(name, model).seconds_until_trial(),
        )
        raise CallRefusedError(
            f"{name}:{model} was not called: {availability.reason}",
            provider=f"{name}:{model}",
            retry_after=resting or None,
        )

    @staticmethod
    def _refusal(name: str, breaker: CircuitBreaker) -> str | None:
        """Why the breaker refuses calls to ``name`` now, or None; never calls the provider."""
        if breaker.state is BreakerState.OPEN:
            resting = breaker.seconds_until_trial()
            until = (datetime.now().astimezone() + timedelta(seconds=resting)).strftime("%H:%M:%S")
            return (
                f"{name} is resting after {breaker.consecutive_failures} consecutive failures "
                f"until {until} (last: {breaker.last_error[:_DETAIL_CHARS]})"
            )
        if breaker.trial_running():
            return (
                f"{name} failed {breaker.consecutive_failures} times in a row and a trial call "
                "is in progress; try again shortly"
            )
        return None

    def _provider_availability(self, name: str) -> Availability:
        with self._lock:
            lock = self._availability_locks.setdefault(name, threading.Lock())
        with lock:  # one check per provider at a time; others wait and reuse its answer
            cached = self._availability.get(name)
            if cached is not None and self._clock() - cached[0] < self._availability_ttl:
                return cached[1]
            try:
                answer = self.provider(name).availability()
            except ConfigurationError as exc:
                answer = Availability(usable=False, reason=str(exc))
            except Exception as exc:
                answer = Availability(
                    usable=False, reason=f"checking {name} failed: {type(exc).__name__}: {exc}"
                )
            self._availability[name] = (self._clock(), answer)
            return answer

    def forget_availability(self, name: str | None = None) -> None:
        """Drop cached availability answers (all, or one provider's)."""
        with self._lock:
            if name is None:
                self._availability.clear()
            else:
                self._availability.pop(name, None)

    def call(
        self,
        name: str,
        model: str,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        on_text: Callable[[str], None] | None = None,
        slot_timeout: float | None = None,
        provider: Provider | None = None,
        seed: int | None = None,
    ) -> Completion:
        """Call ``name``'s ``model`` within the breaker and the concurrency limit.

        Args:
            slot_timeout: the most seconds to wait for a slot; ``provider_timeout_seconds``
                when None.
            provider: an instance to call instead of the pool's own, sharing ``name``'s slots
                and breaker: a per-request ``ClaudeCodeProvider(settings, cwd=repo)``.
            seed: another sample than the default one (a retry); passed to the provider only
                when set.

        Raises:
            CallRefusedError: the provider's or the model's breaker is open (``retry_after``
                says when it will allow a trial); nothing was sent.
            SlotTimeoutError: no slot freed up in time; nothing was sent.
            ProviderError: the provider's own error, recorded in the breaker of its scope
                (:func:`failure_scope`).
        """
        provider = provider or self.provider(name)
        address = f"{name}:{model}"
        provider_breaker, model_breaker = self.breaker(name), self.breaker(name, model)
        for label, breaker in ((name, provider_breaker), (address, model_breaker)):
            if not breaker.allow():
                if breaker is model_breaker:
                    provider_breaker.release()  # a trial it granted did not happen
                raise CallRefusedError(
                    self._refusal(label, breaker) or f"{label} is resting; try again shortly",
                    provider=address,
                    retry_after=breaker.seconds_until_trial() or None,
                )
        wait = self._settings.provider_timeout_seconds if slot_timeout is None else slot_timeout
        sampling: dict[str, int] = (
            {} if seed is None or not takes_seed(provider) else {"seed": seed}
        )
        try:
            with self.slot(name, timeout=wait):
                completion = provider.complete(
                    model,
                    messages,
                    max_tokens=max_tokens,
                    temperature=temperature,
                    on_text=on_text,
                    **sampling,
                )
        except SlotTimeoutError:
            # This process is busy; the provider was not even called.
            provider_breaker.release()
            model_breaker.release()
            raise
        except BaseException as exc:
            scope = failure_scope(exc)
            if scope == "model":
                model_breaker.record_failure(exc)
                provider_breaker.record_success()  # it answered: the server is up
            elif scope == "provider":
                provider_breaker.record_failure(exc)
                model_breaker.release()
            else:
                provider_breaker.release()
                model_breaker.release()
            raise
        provider_breaker.record_success()
        model_breaker.record_success()
        return completion


def takes_seed(provider: Provider) -> bool:
    """Whether ``provider.complete`` accepts ``seed``: a provider registered before the
    argument existed is called without it (its retries then differ by temperature only)."""
    try:
        parameters = inspect.signature(provider.complete).parameters
    except (TypeError, ValueError):
        return False
    return "seed" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def _pool_key(settings: Settings) -> str:
    """What distinguishes one pool from another: every setting except those that only concern
    budgets, routing and the work itself (new settings count, to be safe)."""
    irrelevant = {
        "home",
        "ledger_path",
        "daily_budget_usd",
        "timezone",
        "emergency_threshold_usd",
        "models",
        "max_attempts",
        "max_output_tokens",
        "temperature",
        "retry_temperature",
        "escalation_shows_failed_code",
        "provider_retries",
        "work_branch_prefix",
        "sandbox_timeout_seconds",
        "sandbox_memory_mb",
        "monthly_budget_usd",
        "project_budgets_usd",
        "reservation_ttl_seconds",
        "alert_thresholds_percent",
        "alert_webhook_url",
        "prices",
        "subscriptions_usd_per_month",
        "local_cost_usd_per_hour",
        "repository_limits",
        "max_retry_after_seconds",
    }
    dumped = settings.model_dump_json(exclude=irrelevant)
    return hashlib.sha256(dumped.encode()).hexdigest()


_pools: dict[str, ProviderPool] = {}
_pools_lock = threading.Lock()


def get_pool(settings: Settings, factory: Callable[[str, Settings], Provider]) -> ProviderPool:
    """This process's pool for these settings, created on first use.

    Flow runs in one worker that use the same provider configuration (concurrency, breaker
    and provider settings: endpoints, timeouts, commands...) share one pool, so a provider
    that failed in one run is still resting in the next. Settings that do not affect
    providers (budgets, the model list, sandbox limits) do not split pools. Providers are
    built by ``factory`` (``frugalflow.providers.get_provider``) on first use.
    """
    key = _pool_key(settings)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = ProviderPool(settings, {}, factory=factory)
        return pool


def reset_pools() -> None:
    """Forget every pool of this process (tests; a forked child does this by itself)."""
    global _pools_lock
    _pools.clear()
    _pools_lock = threading.Lock()


os.register_at_fork(after_in_child=reset_pools)

"""The provider pool: circuit breakers, concurrency slots and cached availability."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import pytest

from frugalflow.core.errors import (
    AuthenticationError,
    BadRequestError,
    CallRefusedError,
    ConfigurationError,
    MalformedReplyError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
    SlotTimeoutError,
)
from frugalflow.core.schemas import Tier
from frugalflow.core.settings import Settings
from frugalflow.providers import pool as pool_module
from frugalflow.providers.base import Availability, ChatMessage, Completion
from frugalflow.providers.breakers import BreakerState, CircuitBreaker
from frugalflow.providers.pool import ProviderPool, get_pool

MESSAGES = [ChatMessage(role="user", content="hi")]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeProvider:
    """Answers, fails or sleeps as told; records calls and how many ran at once."""

    tier = Tier.LOCAL

    def __init__(self, name: str = "fake", *, sleep: float = 0.0) -> None:
        self.name = name
        self.sleep = sleep
        self.failures: list[BaseException] = []  # raised first, one per call
        self.calls = 0
        self.availability_checks = 0
        self.available = Availability(usable=True, reason="fake is up")
        self.running = 0
        self.max_running = 0
        self._lock = threading.Lock()

    def complete(
        self,
        model: str,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        on_text: Callable[[str], None] | None = None,
    ) -> Completion:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            failure = self.failures.pop(0) if self.failures else None
        try:
            if self.sleep:
                time.sleep(self.sleep)
            if failure is not None:
                raise failure
            if on_text is not None:
                on_text("ok")
            return Completion(text="ok", model=model, input_tokens=1, output_tokens=1)
        finally:
            with self._lock:
                self.running -= 1

    def availability(self) -> Availability:
        self.availability_checks += 1
        return self.available


def make_pool(
    *providers: FakeProvider, clock: FakeClock | None = None, **settings: Any
) -> ProviderPool:
    values: dict[str, Any] = {
        "circuit_breaker_failures": 3,
        "circuit_breaker_reset_seconds": 60,
        **settings,
    }
    return ProviderPool(
        Settings(**values),
        {p.name: p for p in providers},
        clock=clock or FakeClock(),
    )


def call(pool: ProviderPool, name: str = "fake", **kw: Any) -> Completion:
    return pool.call(name, "m", MESSAGES, max_tokens=10, temperature=0.0, **kw)


def timeout_error() -> ProviderTimeoutError:
    return ProviderTimeoutError("too slow", provider="fake:m")


# --- the breaker on its own -------------------------------------------------------------------


def test_breaker_opens_after_consecutive_retryable_failures() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(3, 60, clock=clock)

    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure(timeout_error())
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure(RateLimitedError("429"))

    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    clock.advance(59)
    assert not breaker.allow()
    assert breaker.seconds_until_trial() == pytest.approx(1)


def test_a_success_resets_the_count() -> None:
    breaker = CircuitBreaker(3, 60, clock=FakeClock())
    breaker.record_failure(timeout_error())
    breaker.record_failure(timeout_error())
    breaker.record_success()
    breaker.record_failure(timeout_error())
    breaker.record_failure(timeout_error())

    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 2


def test_permanent_and_foreign_errors_do_not_count() -> None:
    breaker = CircuitBreaker(2, 60, clock=FakeClock())
    for _ in range(5):
        breaker.record_failure(AuthenticationError("bad key"))
        breaker.record_failure(BadRequestError("malformed"))
        breaker.record_failure(ValueError("a bug"))
        breaker.record_failure(KeyboardInterrupt())

    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0


def test_half_open_allows_one_trial_then_closes_on_success() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(1, 60, clock=clock)
    breaker.record_failure(timeout_error())
    clock.advance(60)

    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()  # the trial
    assert not breaker.allow()  # only one at a time
    breaker.record_success()

    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow() and breaker.allow()


def test_a_failed_trial_reopens_for_another_rest() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(3, 60, clock=clock)
    for _ in range(3):
        breaker.record_failure(timeout_error())
    clock.advance(61)
    assert breaker.allow()

    breaker.record_failure(ProviderUnavailableError("502"))  # one failure is enough now

    assert breaker.state is BreakerState.OPEN
    assert breaker.seconds_until_trial() == pytest.approx(60)
    clock.advance(60)
    assert breaker.allow()


def test_an_undecided_trial_frees_the_trial_for_the_next_call() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(1, 60, clock=clock)
    breaker.record_failure(timeout_error())
    clock.advance(60)
    assert breaker.allow()

    breaker.record_failure(AuthenticationError("bad key"))

    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()


def test_breaker_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="at least 1"):
        CircuitBreaker(0, 60)


# --- the pool ---------------------------------------------------------------------------------


def test_call_passes_through_and_streams() -> None:
    provider = FakeProvider()
    pieces: list[str] = []

    completion = call(make_pool(provider), on_text=pieces.append)

    assert completion.text == "ok"
    assert pieces == ["ok"]
    assert provider.calls == 1


def test_an_open_breaker_refuses_without_calling_the_provider() -> None:
    clock = FakeClock()
    provider = FakeProvider()
    pool = make_pool(provider, clock=clock)
    provider.failures = [timeout_error() for _ in range(3)]
    for _ in range(3):
        with pytest.raises(ProviderTimeoutError):
            call(pool)
    assert provider.calls == 3

    with pytest.raises(ProviderUnavailableError, match="resting after 3 consecutive") as caught:
        call(pool)

    assert provider.calls == 3
    assert caught.value.retry_after == pytest.approx(60)
    assert caught.value.provider == "fake:m"

    clock.advance(60)  # half-open: one trial, which succeeds and closes the breaker
    assert call(pool).text == "ok"
    assert provider.calls == 4
    assert pool.breaker("fake").state is BreakerState.CLOSED


def test_a_failed_trial_call_reopens_the_breaker() -> None:
    clock = FakeClock()
    provider = FakeProvider()
    pool = make_pool(provider, clock=clock, circuit_breaker_failures=2)
    provider.failures = [timeout_error(), timeout_error(), ProviderUnavailableError("503 again")]
    for _ in range(2):
        with pytest.raises(ProviderTimeoutError):
            call(pool)
    clock.advance(60)

    with pytest.raises(ProviderUnavailableError, match="503 again"):
        call(pool)
    with pytest.raises(ProviderUnavailableError, match="resting"):
        call(pool)

    assert provider.calls == 3


def test_permanent_errors_do_not_rest_the_provider() -> None:
    provider = FakeProvider()
    pool = make_pool(provider, circuit_breaker_failures=1)
    provider.failures = [AuthenticationError("bad key"), BadRequestError("malformed")]

    with pytest.raises(AuthenticationError):
        call(pool)
    with pytest.raises(BadRequestError):
        call(pool)

    assert call(pool).text == "ok"
    assert provider.calls == 3


@pytest.mark.parametrize("limit", [1, 2])
def test_concurrency_limit_is_respected(limit: int) -> None:
    provider = FakeProvider("slow", sleep=0.2)
    pool = make_pool(provider, provider_concurrency={"slow": limit})
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            call(pool, "slow")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert provider.calls == 3
    assert provider.max_running == limit


def test_unlisted_providers_are_not_limited() -> None:
    provider = FakeProvider("roomy", sleep=0.2)
    pool = make_pool(provider, provider_concurrency={})
    threads = [threading.Thread(target=call, args=(pool, "roomy")) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert provider.max_running == 4


def test_waiting_too_long_for_a_slot_is_a_retryable_error_that_rests_nothing() -> None:
    provider = FakeProvider("slow")
    pool = make_pool(provider, provider_concurrency={"slow": 1})
    held = threading.Event()
    release = threading.Event()

    def hold_the_slot() -> None:
        with pool.slot("slow"):
            held.set()
            release.wait(5)

    holder = threading.Thread(target=hold_the_slot)
    holder.start()
    try:
        assert held.wait(5)
        started = time.monotonic()
        with pytest.raises(SlotTimeoutError, match=r"all 1 slot of slow are busy") as caught:
            call(pool, "slow", slot_timeout=0.1)
        assert 0.09 < time.monotonic() - started < 2
    finally:
        release.set()
        holder.join()

    assert isinstance(caught.value, ProviderUnavailableError)
    assert caught.value.retryable
    assert provider.calls == 0
    assert pool.breaker("slow").consecutive_failures == 0
    assert call(pool, "slow").text == "ok"  # the slot was given back


def test_slot_timeout_during_a_trial_frees_the_trial() -> None:
    clock = FakeClock()
    provider = FakeProvider("slow")
    pool = make_pool(provider, clock=clock, provider_concurrency={"slow": 1})
    provider.failures = [timeout_error() for _ in range(3)]
    for _ in range(3):
        with pytest.raises(ProviderTimeoutError):
            call(pool, "slow")
    clock.advance(60)

    with pool.slot("slow"), pytest.raises(SlotTimeoutError):
        call(pool, "slow", slot_timeout=0.01)

    assert call(pool, "slow").text == "ok"
    assert pool.breaker("slow").state is BreakerState.CLOSED


def test_usable_reports_the_providers_own_reason_and_caches_it() -> None:
    clock = FakeClock()
    provider = FakeProvider()
    provider.available = Availability(usable=False, reason="run `fake login` first")
    pool = make_pool(provider, clock=clock)

    assert pool.usable("fake") == provider.available
    assert pool.usable("fake") == provider.available
    assert provider.availability_checks == 1

    provider.available = Availability(usable=True, reason="fake is up")
    clock.advance(29)
    assert not pool.usable("fake").usable  # still cached
    clock.advance(2)
    assert pool.usable("fake").usable
    assert provider.availability_checks == 2


def test_usable_says_how_long_a_provider_rests() -> None:
    clock = FakeClock()
    provider = FakeProvider()
    pool = make_pool(provider, clock=clock)
    provider.failures = [timeout_error() for _ in range(3)]
    for _ in range(3):
        with pytest.raises(ProviderTimeoutError):
            call(pool)

    resting = pool.usable("fake")

    assert not resting.usable
    assert re.search(r"resting after 3 consecutive failures until \d\d:\d\d:\d\d", resting.reason)
    assert "too slow" in resting.reason
    assert provider.availability_checks == 0  # the breaker answered; the provider was spared

    clock.advance(60)
    trial = pool.usable("fake")
    assert trial.usable
    assert "trial call is allowed" in trial.reason
    assert pool.breaker("fake").allow()  # someone takes the trial
    busy = pool.usable("fake")
    assert not busy.usable
    assert "trial call is in progress" in busy.reason


def test_usable_when_the_check_itself_fails() -> None:
    provider = FakeProvider()

    def broken() -> Availability:
        raise OSError("no such file")

    provider.availability = broken  # type: ignore[method-assign]
    reason = make_pool(provider).usable("fake")

    assert not reason.usable
    assert "OSError: no such file" in reason.reason


def test_unknown_providers_and_bad_limits_are_configuration_errors() -> None:
    pool = make_pool(FakeProvider())
    with pytest.raises(ConfigurationError, match="'nope' is not in this pool"):
        call(pool, "nope")
    assert not pool.usable("nope").usable

    with pytest.raises(ConfigurationError, match="at least 1"):
        make_pool(FakeProvider(), provider_concurrency={"fake": 0})


def test_providers_are_built_by_the_factory_once() -> None:
    built: list[str] = []

    def factory(name: str, settings: Settings) -> FakeProvider:
        built.append(name)
        return FakeProvider(name)

    pool = ProviderPool(Settings(), {}, factory=factory)

    call(pool, "a")
    call(pool, "a")
    call(pool, "b")

    assert built == ["a", "b"]
    assert pool.names == ("a", "b")


def test_a_per_request_instance_shares_the_slots_and_the_breaker() -> None:
    shared = FakeProvider("claude-code")
    per_request = FakeProvider("claude-code")
    pool = make_pool(shared, circuit_breaker_failures=1)
    per_request.failures = [timeout_error()]

    with pytest.raises(ProviderTimeoutError):
        call(pool, "claude-code", provider=per_request)

    assert (shared.calls, per_request.calls) == (0, 1)
    with pytest.raises(ProviderUnavailableError, match="resting"):
        call(pool, "claude-code")
    assert shared.calls == 0


@pytest.fixture
def fresh_pools() -> Iterator[None]:
    pool_module.reset_pools()
    yield
    pool_module.reset_pools()


def test_get_pool_shares_one_pool_per_provider_configuration(fresh_pools: None) -> None:
    made: list[FakeProvider] = []

    def factory(name: str, settings: Settings) -> FakeProvider:
        made.append(FakeProvider(name))
        return made[-1]

    first = get_pool(Settings(), factory)
    first.breaker("fake").record_failure(timeout_error())

    # another run, another budget and model list: the same pool, the same breaker state
    again = get_pool(
        Settings(daily_budget_usd=Decimal(3), models=["ollama:qwen"], max_attempts=3), factory
    )
    assert again is first
    assert again.breaker("fake").consecutive_failures == 1

    # a setting that changes how providers behave: another pool
    assert get_pool(Settings(provider_concurrency={"fake": 5}), factory) is not first
    assert get_pool(Settings(provider_timeout_seconds=5), factory) is not first
    assert get_pool(Settings(claude_code_command="/opt/claude"), factory) is not first


# --- breakers per model and per provider -------------------------------------------------------


def call_model(pool: ProviderPool, model: str) -> Completion:
    return pool.call("fake", model, MESSAGES, max_tokens=10, temperature=0.0)


def test_a_rate_limited_model_rests_alone_and_another_model_of_the_provider_is_called() -> None:
    provider = FakeProvider()
    pool = make_pool(provider)
    provider.failures = [RateLimitedError("429 for gpt-4o-mini", provider="fake:mini")] * 3
    for _ in range(3):
        with pytest.raises(RateLimitedError):
            call_model(pool, "mini")

    assert call_model(pool, "big").text == "ok"  # the provider itself is not resting
    with pytest.raises(CallRefusedError, match="fake:mini is resting") as caught:
        call_model(pool, "mini")
    assert caught.value.retryable and caught.value.provider == "fake:mini"
    assert provider.calls == 4  # the refused call sent nothing
    assert not pool.usable("fake", "mini").usable
    assert pool.usable("fake", "big").usable and pool.usable("fake").usable


def test_a_malformed_reply_rests_the_model_not_the_provider() -> None:
    provider = FakeProvider()
    pool = make_pool(provider, circuit_breaker_failures=1)
    provider.failures = [MalformedReplyError("fake:mini answered 200 with no choices")]
    with pytest.raises(MalformedReplyError):
        call_model(pool, "mini")
    assert call_model(pool, "big").text == "ok"
    assert pool.breaker("fake", "mini").state is BreakerState.OPEN


def test_transport_failures_rest_every_model_of_the_provider() -> None:
    provider = FakeProvider()
    pool = make_pool(provider)
    provider.failures = [
        ProviderUnavailableError("connection refused"),
        timeout_error(),
        ProviderUnavailableError("HTTP 503"),
    ]
    for _ in range(3):
        with pytest.raises((ProviderUnavailableError, ProviderTimeoutError)):
            call_model(pool, "mini")

    with pytest.raises(CallRefusedError, match="fake is resting"):
        call_model(pool, "big")
    assert provider.calls == 3
    assert not pool.usable("fake", "big").usable


def test_a_model_failure_does_not_keep_the_provider_count_going() -> None:
    provider = FakeProvider()
    pool = make_pool(provider)
    provider.failures = [timeout_error(), timeout_error(), RateLimitedError("429")]
    for error in (ProviderTimeoutError, ProviderTimeoutError, RateLimitedError):
        with pytest.raises(error):
            call_model(pool, "mini")
    # The 429 proved the server answers: two timeouts and a 429 do not rest the provider.
    assert pool.breaker("fake").state is BreakerState.CLOSED
    assert pool.breaker("fake").consecutive_failures == 0
    assert call_model(pool, "big").text == "ok"


def test_a_refusal_by_the_model_frees_the_trial_the_provider_granted() -> None:
    clock = FakeClock()
    provider = FakeProvider()
    pool = make_pool(provider, clock=clock, circuit_breaker_failures=1)
    provider.failures = [RateLimitedError("429")]
    with pytest.raises(RateLimitedError):
        call_model(pool, "mini")  # the model rests
    clock.advance(1)
    provider.failures = [timeout_error()]
    with pytest.raises(ProviderTimeoutError):
        call_model(pool, "big")  # the provider rests too
    clock.advance(61)  # both half-open
    assert pool.breaker("fake", "mini").allow()  # another thread runs the model's trial

    with pytest.raises(CallRefusedError, match="trial call is in progress"):
        call_model(pool, "mini")
    assert call_model(pool, "big").text == "ok"  # the provider's trial was not kept
    assert pool.breaker("fake").state is BreakerState.CLOSED

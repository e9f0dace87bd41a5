"""Waiting as a provider asks: said at the start and every few seconds, never silent."""

from __future__ import annotations

import logging

import pytest

from frugalflow.core.errors import RateLimitedError
from frugalflow.tasks import WAIT_PROGRESS_SECONDS, max_retry_after, too_long_to_wait, wait_as_asked


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_a_long_wait_logs_its_length_and_reason_then_progress(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeTime()
    caplog.set_level(logging.INFO, logger="frugalflow.retry")

    wait_as_asked(
        12, "openai:gpt-4o-mini is rate limited (HTTP 429)", sleep=fake.sleep, clock=fake.clock
    )

    assert fake.now == pytest.approx(12)
    assert fake.sleeps == [WAIT_PROGRESS_SECONDS, WAIT_PROGRESS_SECONDS, 2]
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "waiting 12 s before calling again, as asked: openai:gpt-4o-mini is rate limited (HTTP 429)",
        "still waiting: 7 s left",
        "still waiting: 2 s left",
    ]


def test_a_short_wait_logs_one_line(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeTime()
    caplog.set_level(logging.INFO, logger="frugalflow.retry")
    wait_as_asked(3, "429", sleep=fake.sleep, clock=fake.clock)
    assert len(caplog.records) == 1 and fake.sleeps == [3]
    assert caplog.records[0].levelno == logging.WARNING  # seen in a terminal, not only in logs


def test_too_long_to_wait_compares_the_providers_ask_with_the_cap() -> None:
    assert too_long_to_wait(RateLimitedError("429", retry_after=31), 30)
    assert not too_long_to_wait(RateLimitedError("429", retry_after=30), 30)
    assert not too_long_to_wait(RateLimitedError("429"), 30)


def test_outside_a_task_the_cap_is_the_default() -> None:
    assert max_retry_after() == 30

"""The one metering path, against real DuckDB ledgers: reserve, call, price, record, settle or
release; refused calls not booked, failed calls booked, replies without usage counted."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import pytest

from frugalflow.core.errors import (
    BudgetExceededError,
    CallRefusedError,
    RateLimitedError,
    SlotTimeoutError,
)
from frugalflow.core.schemas import CodeRequest
from frugalflow.core.settings import Settings
from frugalflow.money.budget import BudgetManager
from frugalflow.money.estimation import count_input_tokens, count_message_tokens
from frugalflow.money.ledger import CostLedger
from frugalflow.money.metering import Booking, Meter, book_cache_hit, booked_usage
from frugalflow.money.pricing import PriceCatalog
from frugalflow.providers.base import ChatMessage, Completion

MINI = "openai:gpt-4o-mini"
LOCAL = "llamacpp:qwen2.5-coder-0.5b-instruct"
MESSAGES = [
    ChatMessage(role="system", content="You write Python."),
    ChatMessage(role="user", content="Write add(a, b)."),
]
REPLY = "def add(a, b):\n    return a + b\n"


class Script:
    """A ``send`` that answers with a completion, or raises; remembers what it was asked."""

    def __init__(self, answer: Completion | BaseException) -> None:
        self.answer = answer
        self.asked: list[tuple[list[ChatMessage], int]] = []

    def __call__(self, messages: Sequence[ChatMessage], max_tokens: int) -> Completion:
        self.asked.append((list(messages), max_tokens))
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def reply(
    input_tokens: int = 120, output_tokens: int = 30, *, cached: int = 0, reported: bool = True
) -> Completion:
    return Completion(
        text=REPLY,
        model="m",
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_tokens=cached,
        usage_reported=reported,
        seconds=0.25,
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", models=[MINI, LOCAL], max_output_tokens=500)


@pytest.fixture
def request_(tmp_path: Path) -> CodeRequest:
    return CodeRequest(description="Add a function add(a, b)", repo=tmp_path, request_id="r1")


def meter(model: str, request: CodeRequest, settings: Settings, step: str = "generate") -> Meter:
    return Meter(model, Booking(request, step, "code_generation", "flow-1"), settings)


def price(settings: Settings, model: str, input_tokens: int, output_tokens: int) -> Decimal:
    catalog = PriceCatalog(settings.prices)
    return catalog.price_call(model, input_tokens=input_tokens, output_tokens=output_tokens)


def test_a_paid_call_reserves_its_worst_case_then_settles_with_the_priced_call(
    settings: Settings, request_: CodeRequest
) -> None:
    send = Script(reply(120, 30))
    metered = meter(MINI, request_, settings).call(MESSAGES, send, max_tokens=500)

    assert send.asked == [(MESSAGES, 500)]
    ledger = CostLedger(settings.ledger_file)
    [call] = ledger.recent()
    assert (call.input_tokens, call.output_tokens) == (120, 30)
    assert call.actual_cost_usd == price(settings, MINI, 120, 30) > 0
    assert (call.step, call.task_type, call.flow_run_id) == (
        "generate",
        "code_generation",
        "flow-1",
    )
    assert (call.provider, call.model, call.request_id) == ("openai", "gpt-4o-mini", "r1")
    assert call.success and call.latency_ms == 250
    prompt = [(m.role, m.content) for m in MESSAGES]
    assert call.estimated_input_tokens == count_message_tokens(MINI, prompt).tokens
    [reservation] = BudgetManager(ledger, settings).reservations()
    assert reservation.state == "settled"
    assert call.reservation_id == reservation.reservation_id
    # The worst case: the exact prompt count and the most output the call may have.
    assert reservation.amount_usd >= price(settings, MINI, call.estimated_input_tokens, 500)
    assert (metered.input_tokens, metered.output_tokens, metered.cost_usd) == (
        120,
        30,
        call.actual_cost_usd,
    )
    assert metered.completion.text == REPLY


def test_a_refused_call_is_not_booked_and_gives_its_reservation_back(
    settings: Settings, request_: CodeRequest
) -> None:
    for refusal in (CallRefusedError("openai is resting"), SlotTimeoutError("all slots busy")):
        with pytest.raises(type(refusal)) as caught:
            meter(MINI, request_, settings).call(MESSAGES, Script(refusal), max_tokens=500)
        assert caught.value.provider == MINI

    ledger = CostLedger(settings.ledger_file)
    assert ledger.recent() == []
    states = [r.state for r in BudgetManager(ledger, settings).reservations()]
    assert states == ["released", "released"]


def test_a_failed_call_is_booked_as_failed_and_releases_its_reservation(
    settings: Settings, request_: CodeRequest
) -> None:
    key = "sk-test-0123456789abcdefghijklmnopqrstuvwxyzABCD"
    with pytest.raises(RateLimitedError) as caught:
        meter(MINI, request_, settings).call(
            MESSAGES, Script(RateLimitedError(f"429 for {key}")), max_tokens=500
        )
    assert caught.value.provider == MINI
    with pytest.raises(RuntimeError, match="an SDK bug"):  # not translated: booked all the same
        meter(MINI, request_, settings).call(
            MESSAGES, Script(RuntimeError("an SDK bug")), max_tokens=500
        )

    ledger = CostLedger(settings.ledger_file)
    failed = ledger.calls_for_request("r1")
    assert [c.success for c in failed] == [False, False]
    assert failed[0].error is not None and failed[0].error.startswith("RateLimitedError: 429")
    assert key not in failed[0].error
    assert failed[1].error == "RuntimeError: an SDK bug"
    assert all(c.actual_cost_usd == 0 and c.estimated_input_tokens for c in failed)
    states = [r.state for r in BudgetManager(ledger, settings).reservations()]
    assert states == ["released", "released"]


def test_a_paid_reply_without_usage_is_counted_and_priced_never_free(
    settings: Settings, request_: CodeRequest
) -> None:
    prompt = [(m.role, m.content) for m in MESSAGES]
    counted = (
        count_message_tokens(MINI, prompt).tokens,
        count_input_tokens(MINI, REPLY).tokens,
    )
    # Reported as none (the openai adapter, when a proxy strips it), or zero both ways.
    for answer in (reply(0, 0, reported=False), reply(0, 0)):
        metered = meter(MINI, request_, settings).call(MESSAGES, Script(answer), max_tokens=500)
        assert (metered.input_tokens, metered.output_tokens) == counted
        assert metered.cost_usd == price(settings, MINI, *counted) > 0

    calls = CostLedger(settings.ledger_file).calls_for_request("r1")
    assert [(c.input_tokens, c.output_tokens) for c in calls] == [counted, counted]
    assert all(c.actual_cost_usd > 0 for c in calls)


def test_usage_is_counted_only_when_it_was_not_reported() -> None:
    from frugalflow.core.models import parse_address

    def booked(address: str, completion: Completion) -> tuple[int, int, int]:
        usage = booked_usage(parse_address(address), MESSAGES, completion)
        return usage.input_tokens, usage.output_tokens, usage.cached_tokens

    assert booked(MINI, reply(120, 30, cached=100)) == (120, 30, 100)
    assert booked(MINI, reply(10, 3, cached=50)) == (10, 3, 10)  # clipped
    assert booked(LOCAL, reply(0, 0)) == (0, 0, 0)  # a free model said so
    prompt = [(m.role, m.content) for m in MESSAGES]
    assert booked(LOCAL, reply(0, 0, reported=False)) == (
        count_message_tokens(LOCAL, prompt).tokens,
        count_input_tokens(LOCAL, REPLY).tokens,
        0,
    )


def test_booked_parts_are_clipped_to_their_totals() -> None:
    from frugalflow.core.models import parse_address

    answer = reply(100, 20, cached=60).model_copy(
        update={"cache_write_tokens": 70, "cache_write_1h_tokens": 90, "reasoning_tokens": 25}
    )
    usage = booked_usage(parse_address(MINI), MESSAGES, answer)
    assert (usage.cached_tokens, usage.cache_write_tokens, usage.cache_write_1h_tokens) == (
        60,
        40,  # what is left of the prompt after the reads
        40,
    )
    assert usage.reasoning_tokens == 20
    assert usage.uncached_input_tokens == 0


def test_a_free_call_without_a_reservation_is_recorded_as_it_is(
    settings: Settings, request_: CodeRequest
) -> None:
    booking = Booking(request_, "document", "documentation", None)
    metered = Meter(LOCAL, booking, settings).call(
        MESSAGES, Script(reply(40, 12)), max_tokens=256, reserve=False
    )

    ledger = CostLedger(settings.ledger_file)
    [call] = ledger.recent()
    assert (call.step, call.task_type, call.tier.value) == ("document", "documentation", "local")
    assert (call.input_tokens, call.output_tokens, call.actual_cost_usd) == (40, 12, 0)
    assert call.reservation_id is None and call.estimated_input_tokens is None
    assert metered.cost_usd == 0
    assert BudgetManager(ledger, settings).reservations() == []


def test_a_paid_call_cannot_skip_its_reservation(settings: Settings, request_: CodeRequest) -> None:
    send = Script(reply())
    with pytest.raises(ValueError, match="must reserve"):
        meter(MINI, request_, settings).call(MESSAGES, send, max_tokens=500, reserve=False)
    assert send.asked == []
    assert CostLedger(settings.ledger_file).recent() == []


def test_a_call_that_does_not_fit_is_never_sent(tmp_path: Path, request_: CodeRequest) -> None:
    broke = Settings(home=tmp_path / "home", models=[MINI], daily_budget_usd=Decimal("0.0001"))
    capped = request_.model_copy(update={"budget_cap_usd": Decimal("0.00001")})
    unaffordable = ((broke, request_, "daily"), (Settings(home=tmp_path / "home"), capped, "cap"))
    for settings, request, why in unaffordable:
        send = Script(reply())
        with pytest.raises(BudgetExceededError, match=why):
            meter(MINI, request, settings).call(MESSAGES, send, max_tokens=4000)
        assert send.asked == []
    assert CostLedger(broke.ledger_file).recent() == []


def test_a_cache_hit_is_booked_free_for_its_step(settings: Settings, request_: CodeRequest) -> None:
    book_cache_hit(MINI, request_, settings, flow_run_id="flow-2")

    [call] = CostLedger(settings.ledger_file).recent()
    assert call.cache_hit and call.success
    assert (call.step, call.flow_run_id, call.provider, call.model) == (
        "generate",
        "flow-2",
        "openai",
        "gpt-4o-mini",
    )
    assert call.actual_cost_usd == 0 and call.input_tokens == 0
    assert call.price_catalog == PriceCatalog(settings.prices).version

"""The generation step never books a paid call as free, and never lets a request pass its cap."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from frugalflow.core.errors import BudgetExceededError
from frugalflow.core.schemas import Candidate, CodeRequest, GenerationContext, RoutingDecision, Tier
from frugalflow.core.settings import Settings
from frugalflow.generation.prompts import build_messages
from frugalflow.money import metering
from frugalflow.money.estimation import count_input_tokens, count_message_tokens
from frugalflow.money.ledger import CostLedger
from frugalflow.money.pricing import PriceCatalog
from frugalflow.providers.base import Availability, ChatMessage, Completion
from frugalflow.tasks.generate import generate_candidate

MINI = "openai:gpt-4o-mini"
REPLY = '```python\ndef add(a, b):\n    """Add."""\n    return a + b\n```'


class PaidProvider:
    name = "openai"
    tier = Tier.API

    def __init__(self, usage: tuple[int, int], *, reported: bool = True) -> None:
        self.usage = usage
        self.reported = reported
        self.calls = 0

    def complete(
        self,
        model: str,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        on_text: Callable[[str], None] | None = None,
    ) -> Completion:
        self.calls += 1
        return Completion(
            text=REPLY,
            model=model,
            input_tokens=self.usage[0],
            output_tokens=self.usage[1],
            usage_reported=self.reported,
        )

    def availability(self) -> Availability:
        return Availability(usable=True, reason="test")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", models=[MINI], max_output_tokens=1000)


def generate(
    tmp_path: Path,
    settings: Settings,
    provider: PaidProvider,
    use_providers: Callable[..., None],
    **request: object,
) -> Candidate:
    use_providers({"openai": provider})
    return generate_candidate(
        CodeRequest(description="Add a function add(a, b)", repo=tmp_path, **request),  # type: ignore[arg-type]
        GenerationContext(language="python", file_layout=(), source_dir="."),
        RoutingDecision(attempt=1, model=MINI, tier=Tier.API, reason="test"),
        settings,
        tmp_path / "work",
    )


def test_a_paid_reply_without_usage_is_counted_not_booked_as_free(
    tmp_path: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    use_providers: Callable[..., None],
) -> None:
    generate(tmp_path, settings, PaidProvider(usage=(0, 0)), use_providers)

    [call] = CostLedger(settings.ledger_file).recent()
    assert call.input_tokens > 0 and call.output_tokens > 0
    assert call.actual_cost_usd > 0


def test_a_paid_reply_the_adapter_reports_no_usage_for_is_counted_exactly(
    tmp_path: Path, settings: Settings, use_providers: Callable[..., None]
) -> None:
    # What the openai adapter reports when a proxy strips the usage: no usage, zero tokens.
    # The meter counts the prompt it sent and the reply (exactly: an OpenAI model) and books
    # that, priced; the candidate carries the same numbers as the ledger.
    candidate = generate(
        tmp_path, settings, PaidProvider(usage=(0, 0), reported=False), use_providers
    )

    [call] = CostLedger(settings.ledger_file).recent()
    request = CodeRequest(description="Add a function add(a, b)", repo=tmp_path)
    context = GenerationContext(language="python", file_layout=(), source_dir=".")
    prompt = [(m.role, m.content) for m in build_messages(request, context)]
    assert call.input_tokens == count_message_tokens(MINI, prompt).tokens
    assert call.output_tokens == count_input_tokens(MINI, REPLY).tokens
    assert call.actual_cost_usd == PriceCatalog(settings.prices).price_call(
        MINI, input_tokens=call.input_tokens, output_tokens=call.output_tokens
    )
    assert call.actual_cost_usd > 0
    assert (candidate.input_tokens, candidate.output_tokens, candidate.cost_usd) == (
        call.input_tokens,
        call.output_tokens,
        call.actual_cost_usd,
    )


def test_a_request_cannot_spend_past_its_own_cap_across_attempts(
    tmp_path: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    use_providers: Callable[..., None],
) -> None:
    provider = PaidProvider(usage=(200, 900))
    # Room for one worst case (about $0.0006 at gpt-4o-mini prices), not for two.
    cap = Decimal("0.001")

    generate(tmp_path, settings, provider, use_providers, request_id="capped", budget_cap_usd=cap)
    with pytest.raises(BudgetExceededError, match="--budget-cap"):
        generate(
            tmp_path, settings, provider, use_providers, request_id="capped", budget_cap_usd=cap
        )

    assert provider.calls == 1
    spent = sum(c.actual_cost_usd for c in CostLedger(settings.ledger_file).recent())
    assert 0 < spent <= cap


def test_a_completed_call_the_ledger_cannot_settle_is_journaled_and_booked_by_the_next_run(
    tmp_path: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    use_providers: Callable[..., None],
) -> None:
    from functools import partial

    from frugalflow.money.budget import BudgetManager
    from tests.support.money import journal_of, lock_held_elsewhere

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    path = settings.ledger_file
    # Another process takes the ledger's lock while the model answers and keeps it until the
    # step has given up settling (a short lock timeout and one attempt keep the test fast).
    monkeypatch.setattr(metering, "CostLedger", partial(CostLedger, lock_timeout_seconds=0.2))
    monkeypatch.setattr(metering, "SETTLE_ATTEMPTS", 1)
    held = contextlib.ExitStack()

    class LockedDuringTheCall(PaidProvider):
        def complete(self, model: str, messages: Sequence[ChatMessage], **kw: Any) -> Completion:
            held.enter_context(lock_held_elsewhere(path))
            return super().complete(model, messages, **kw)

    with held:
        generate(tmp_path, settings, LockedDuringTheCall(usage=(200, 900)), use_providers)
        assert journal_of(path).exists()  # the step did not fail: its cost is journaled

    ledger = CostLedger(path)
    [call] = ledger.recent()  # the next run books it
    assert call.actual_cost_usd > 0 and call.reservation_id is not None
    assert not journal_of(path).exists()
    manager = BudgetManager(ledger, settings)
    assert manager.reservations(state="active") == []
    assert manager.windows()[0].spent_usd == call.actual_cost_usd

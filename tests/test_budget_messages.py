"""Budget messages show money to the cent: ``$0.43``, never ``$0.4``, ``$0.4300`` or ``$0.430000``.

Money left is rounded down, so that a message never promises a cent that is not there.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from frugalflow.core.errors import BudgetExceededError
from frugalflow.core.schemas import Tier
from frugalflow.core.settings import Settings
from frugalflow.money.budget import BudgetManager, money_left
from frugalflow.money.ledger import CostLedger, ModelCall
from frugalflow.tasks.budget import check_budget
from tests.support.money import budget_request as request
from tests.support.money import estimate_of, settings_for

NOW = datetime(2025, 3, 14, 12, tzinfo=UTC)


def spent(settings: Settings, amount: str) -> None:
    CostLedger(settings.ledger_file).record(
        ModelCall(
            request_id="earlier",
            project="demo",
            step="generate",
            provider="openai",
            model="gpt-4o-mini",
            tier=Tier.API,
            actual_cost_usd=Decimal(amount),
            ts=NOW,
        )
    )


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        ("0.43", "$0.43"),
        ("0.4", "$0.40"),
        ("0.430000", "$0.43"),
        ("0.43999999", "$0.43"),
        ("12", "$12.00"),
        ("0", "$0.00"),
    ],
)
def test_money_left_is_to_the_cent_rounded_down(amount: str, shown: str) -> None:
    assert money_left(Decimal(amount)) == shown


def test_the_gate_says_what_is_left_to_the_cent_never_rounded_up(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, daily_budget_usd=Decimal("2"))
    spent(settings, "1.565")  # $0.435 left

    decision = check_budget(request(tmp_path), estimate_of(mini="0.6"), settings, now=NOW)

    assert "$0.43 left in daily:2025-03-14" in decision.reason


def test_the_cap_is_shown_to_the_cent(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)

    decision = check_budget(
        request(tmp_path, cap="0.43"), estimate_of(mini="0.5"), settings, now=NOW
    )

    assert "$0.43 cap" in decision.reason
    assert "0.4300" not in decision.reason


def test_a_reservation_that_does_not_fit_says_what_is_left_to_the_cent(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, daily_budget_usd=Decimal("2"))
    spent(settings, "1.56876544")  # $0.43123456 left
    manager = BudgetManager(CostLedger(settings.ledger_file), settings, clock=lambda: NOW)

    with pytest.raises(BudgetExceededError) as refused:
        manager.reserve(
            request_id="r", project="demo", model="openai:gpt-4o", amount_usd=Decimal("0.5")
        )

    assert "$0.43 of $2.00 left" in str(refused.value)
    assert "0.43123456" not in str(refused.value)


def test_the_request_cap_message_shows_money_to_the_cent(tmp_path: Path) -> None:
    from frugalflow.money.metering import check_request_cap

    capped = request(tmp_path, cap="0.43")
    with pytest.raises(BudgetExceededError) as refused:
        check_request_cap(capped, CostLedger(tmp_path / "ledger.duckdb"), Decimal("0.5"))

    message = str(refused.value)
    assert "could cost $0.50" in message and "$0.00 of its $0.43 cap" in message
    assert "0.4300" not in message and "0.5000" not in message

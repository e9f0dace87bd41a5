"""bench/accounting.py: the recorded workload, replayed through the real adapters and the meter,
costs to the cent what the vendors' rate cards (written in the bench) say, and the comparison
catches a wrong rate."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support.bench import load_bench

accounting = load_bench("accounting", "bench_accounting")


def test_the_workload_is_priced_exactly_as_the_rate_cards_say(tmp_path: Path) -> None:
    rows = accounting.replay(tmp_path)
    assert len(rows) == len(accounting.workload())
    assert [row.difference_usd for row in rows] == [Decimal(0)] * len(rows)
    assert all(row.frugalflow_usd > 0 for row in rows)
    # The workload exercises what it says: cache reads and writes, reasoning, a fallback.
    assert sum(row.cached_tokens for row in rows) > 0
    assert sum(row.cache_write_tokens for row in rows) > 0
    assert sum(row.reasoning_tokens for row in rows) > 0
    assert any(row.asked != row.priced_as for row in rows)


def test_a_wrong_rate_on_the_card_shows_as_a_difference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cards = dict(accounting.RATE_CARDS)
    sonnet = cards["anthropic:claude-sonnet-4-5"]
    cards["anthropic:claude-sonnet-4-5"] = dataclasses.replace(sonnet, cache_write_1h="3.75")
    monkeypatch.setattr(accounting, "RATE_CARDS", cards)
    rows = {row.case: row for row in accounting.replay(tmp_path)}
    # 2,000 one-hour writes priced at the 5-minute rate: $6 - $3.75 per million, short.
    assert rows["Anthropic 5m + 1h cache writes"].difference_usd == Decimal("0.0045")
    assert rows["Anthropic cache hit, streamed"].difference_usd == 0


def test_the_bench_prints_each_row_and_a_zero_total(capsys: pytest.CaptureFixture[str]) -> None:
    assert accounting.main() == 0
    printed = capsys.readouterr().out
    assert "total difference: $0.00" in printed
    assert "3 batch calls, at 50% of the rate cards" in printed
    calls = len(accounting.workload()) + len(accounting.batch_workload())
    assert printed.count("0.00000000\n") >= calls


def test_batch_calls_cost_half_the_rate_card_and_a_wrong_discount_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = accounting.replay_batches(tmp_path / "right")
    assert len(rows) == 3 and {row.asked.split(":")[0] for row in rows} == {
        "openai",
        "anthropic",
        "gemini",
    }
    assert [row.difference_usd for row in rows] == [Decimal(0)] * 3
    assert all(row.frugalflow_usd > 0 and row.cached_tokens > 0 for row in rows)
    monkeypatch.setattr(accounting, "BATCH_PRICE", Decimal("0.6"))
    wrong = accounting.replay_batches(tmp_path / "wrong")
    assert all(row.difference_usd < 0 for row in wrong)

"""Ledgers, budgets and estimates as the money tests need them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from frugalflow.core.schemas import (
    CandidateCost,
    CodeRequest,
    Complexity,
    TaskEstimate,
    TaskType,
    Tier,
)
from frugalflow.core.settings import Settings
from frugalflow.money.ledger import JOURNAL_SUFFIX, CostLedger, ModelCall

LOCAL = "llamacpp:qwen2.5-coder-0.5b-instruct"
MINI = "openai:gpt-4o-mini"
BIG = "openai:gpt-4o"


def spend_today(ledger_path: Path, amount: str) -> None:
    """Book a paid call made earlier today, so that only ``budget - amount`` is left."""
    CostLedger(ledger_path).record(
        ModelCall(
            request_id="earlier",
            project="elsewhere",
            step="generate",
            provider="openai",
            model="gpt-4o-mini",
            tier=Tier.API,
            actual_cost_usd=Decimal(amount),
        )
    )


def settings_for(tmp_path: Path, **changes: object) -> Settings:
    """Settings with a $20 day, a $1 emergency threshold, UTC, and a ledger in ``tmp_path``."""
    values: dict[str, object] = {
        "ledger_path": tmp_path / "ledger.duckdb",
        "home": tmp_path,
        "daily_budget_usd": Decimal("20"),
        "emergency_threshold_usd": Decimal("1"),
        "timezone": "UTC",
    }
    return Settings(**{**values, **changes})  # type: ignore[arg-type]


def budget_request(tmp_path: Path, cap: str | None = None) -> CodeRequest:
    """A small request on ``tmp_path``, with a budget cap when ``cap`` is given."""
    return CodeRequest(
        description="Write a function add(a, b)",
        repo=tmp_path,
        budget_cap_usd=None if cap is None else Decimal(cap),
    )


def estimate_of(**worst_cases: str) -> TaskEstimate:
    """An estimate whose candidates have the given worst-case costs (local/mini/big -> USD)."""
    names = {"local": LOCAL, "mini": MINI, "big": BIG}
    return TaskEstimate(
        task_type=TaskType.CODE_GENERATION,
        language="python",
        complexity=Complexity.TRIVIAL,
        input_tokens=1_900,
        expected_output_tokens=200,
        max_output_tokens=768,
        candidates=tuple(
            CandidateCost(
                model=names[key],
                tier=Tier.LOCAL if key == "local" else Tier.API,
                input_tokens=1_900,
                expected_output_tokens=200,
                exact_count=key != "local",
                expected_cost_usd=Decimal(cost) / 2,
                worst_case_cost_usd=Decimal(cost),
            )
            for key, cost in worst_cases.items()
        ),
    )


def journal_of(path: Path) -> Path:
    """The journal a ledger file keeps beside it."""
    return path.with_name(path.name + JOURNAL_SUFFIX)


@contextmanager
def lock_held_elsewhere(ledger: Path, *, shared: bool = False) -> Iterator[None]:
    """Another process holds the ledger's flock, as a long frugalflow run would."""
    mode = "LOCK_SH" if shared else "LOCK_EX"
    code = (
        "import fcntl, os, sys\n"
        f"fd = os.open({str(ledger) + '.lock'!r}, os.O_RDWR | os.O_CREAT)\n"
        f"fcntl.flock(fd, fcntl.{mode})\n"
        "print('locked', flush=True)\n"
        "sys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)

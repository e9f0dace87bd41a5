"""Stress the budget: many concurrent paid requests against one $1.00 daily budget.

4 processes (spawned) x 8 threads x 8 requests = 256 requests share one ledger file. Each one
prices its worst case for openai:gpt-4o (random 2k-20k input tokens, 4096 max output tokens,
$0.05-$0.09), reserves it, then either gets deferred (BudgetExceededError, stored with
DeferredStore), fails (10 %: the reservation is released), or is charged by a fake provider at
real catalog prices for a random actual output below the maximum and settled.

A quarter of the requests take the batch tier instead (BatchBook): the worst case is reserved
for the batch window (25 h), the batch is recorded in the ledger's ``batches`` table, and it
then either ends with a result, booked at the batch rate (50%) and settled, or ends failed or
expired (10 %: the reservation is released). A batch reservation holds its money the whole
time, so it competes with the other requests for the same $1.00.

The run fails (exit 1) if the settled spend of any budget day passes $1.00. It prints the
reservation latency (lock wait included) under this load; it asserts nothing about time.

    .venv/bin/python bench/budget_stress.py
"""

from __future__ import annotations

import multiprocessing
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from frugalflow.core.errors import BudgetExceededError
from frugalflow.core.models import parse_address
from frugalflow.core.schemas import CodeRequest, Tier
from frugalflow.core.settings import Settings
from frugalflow.money.batches import BatchBook, BatchRecord
from frugalflow.money.budget import BudgetManager
from frugalflow.money.deferred import DeferredStore
from frugalflow.money.ledger import CostLedger, ModelCall
from frugalflow.money.pricing import CATALOG_VERSION, price_call
from frugalflow.providers.base import Completion

PROCESSES, THREADS, REQUESTS_PER_THREAD = 4, 8, 8
DAILY_BUDGET = Decimal("1.00")
MODEL = parse_address("openai:gpt-4o")
MAX_OUTPUT_TOKENS = 4096
FAILURE_RATE = 0.10
BATCH_SHARE = 0.25


def settings_for(ledger_path: Path) -> Settings:
    return Settings(
        home=ledger_path.parent / "home",
        ledger_path=ledger_path,
        daily_budget_usd=DAILY_BUDGET,
        timezone="UTC",
    )


def one_request(
    manager: BudgetManager, deferred: DeferredStore, rng: random.Random, request_id: str
) -> tuple[str, float]:
    """Run one request; returns its outcome and how long reserving took (seconds)."""
    input_tokens = rng.randint(2_000, 20_000)
    worst_case = price_call(MODEL, input_tokens=input_tokens, output_tokens=MAX_OUTPUT_TOKENS)
    batch = rng.random() < BATCH_SHARE
    book = BatchBook(manager.ledger, manager.settings)
    started = time.perf_counter()
    try:
        if batch:
            held = book.reserve(
                request_id=request_id,
                project="bench",
                model=str(MODEL),
                input_tokens=input_tokens,
                max_tokens=MAX_OUTPUT_TOKENS,
            )
        else:
            held = manager.reserve(
                request_id=request_id, project="bench", model=str(MODEL), amount_usd=worst_case
            )
    except BudgetExceededError as refused:
        latency = time.perf_counter() - started
        request = CodeRequest(
            description=f"bench request {request_id}",
            repo=manager.ledger.path.parent,
            project="bench",
            request_id=request_id,
        )
        retry_at = refused.retry_at or datetime.now(UTC) + timedelta(days=1)
        deferred.add(request, reason=str(refused), retry_at=retry_at)
        return "deferred", latency
    latency = time.perf_counter() - started
    if batch:
        return one_batch(book, rng, request_id, held.reservation_id, input_tokens), latency
    time.sleep(rng.uniform(0.0, 0.01))  # the provider call: other runs reserve meanwhile
    if rng.random() < FAILURE_RATE:
        manager.release(held)
        return "released", latency
    output_tokens = rng.randint(50, MAX_OUTPUT_TOKENS)
    cost = price_call(MODEL, input_tokens=input_tokens, output_tokens=output_tokens)
    manager.settle(
        held,
        ModelCall(
            request_id=request_id,
            project="bench",
            step="generate",
            provider=MODEL.provider,
            model=MODEL.model,
            tier=Tier.API,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            estimated_cost_usd=worst_case,
            actual_cost_usd=cost,
            price_catalog=CATALOG_VERSION,
            estimated_input_tokens=input_tokens,
            estimated_output_tokens=MAX_OUTPUT_TOKENS,
        ),
    )
    return "admitted", latency


def one_batch(
    book: BatchBook, rng: random.Random, request_id: str, reservation_id: str, input_tokens: int
) -> str:
    """A batch request after its reservation: recorded, then settled or closed."""
    now = datetime.now(UTC)
    record = BatchRecord(
        batch_id=f"batch_{request_id}",
        provider=MODEL.provider,
        model=MODEL.model,
        request_id=request_id,
        project="bench",
        reservation_id=reservation_id,
        custom_id=f"{request_id}:generate:1",
        submitted_at=now,
        updated_at=now,
    )
    book.record(record)
    time.sleep(rng.uniform(0.0, 0.02))  # the batch runs: other runs reserve meanwhile
    if rng.random() < FAILURE_RATE:
        book.close(record, rng.choice(("failed", "expired")), "bench: the batch ended empty")
        return "batch closed"
    result = Completion(
        text="def f():\n    pass\n",
        model=MODEL.model,
        input_tokens=input_tokens,
        output_tokens=rng.randint(50, MAX_OUTPUT_TOKENS),
    )
    book.settle(record, result)
    return "batch settled"


def worker_process(ledger_path: str, worker: int, start: Any, results: Any) -> None:
    """One process: THREADS threads, each running REQUESTS_PER_THREAD requests."""
    path = Path(ledger_path)
    manager = BudgetManager(CostLedger(path, lock_timeout_seconds=120), settings_for(path))
    deferred = DeferredStore(manager.ledger)
    outcomes: list[tuple[str, float]] = []
    errors: list[str] = []

    def thread_body(thread: int) -> None:
        rng = random.Random(worker * 1000 + thread)
        for index in range(REQUESTS_PER_THREAD):
            try:
                outcomes.append(one_request(manager, deferred, rng, f"p{worker}t{thread}r{index}"))
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=thread_body, args=(t,)) for t in range(THREADS)]
    start.wait(120)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((outcomes, errors))


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="frugalflow-budget-stress-") as directory:
        path = Path(directory) / "ledger.duckdb"
        CostLedger(path).schema_version()  # fail early on a broken setup
        spawn = multiprocessing.get_context("spawn")
        start, results = spawn.Barrier(PROCESSES + 1), spawn.Queue()
        processes = [
            spawn.Process(target=worker_process, args=(str(path), worker, start, results))
            for worker in range(PROCESSES)
        ]
        for process in processes:
            process.start()
        start.wait(120)
        began = time.perf_counter()
        outcomes: list[tuple[str, float]] = []
        errors: list[str] = []
        for _ in processes:
            process_outcomes, process_errors = results.get(timeout=600)
            outcomes += process_outcomes
            errors += process_errors
        elapsed = time.perf_counter() - began
        for process in processes:
            process.join(timeout=60)

        ledger = CostLedger(path)
        per_day = ledger.query(
            "SELECT CAST(ts AT TIME ZONE 'UTC' AS DATE), sum(actual_cost_usd) "
            "FROM model_calls GROUP BY 1"
        )
        settled = sum((Decimal(total) for _, total in per_day), Decimal(0))
        overspend = max((Decimal(total) - DAILY_BUDGET for _, total in per_day), default=0)
        overspend = max(overspend, Decimal(0))
        kinds = ("admitted", "deferred", "released", "batch settled", "batch closed")
        counts = {kind: sum(1 for outcome, _ in outcomes if outcome == kind) for kind in kinds}
        [[active]] = ledger.query("SELECT count(*) FROM reservations WHERE state = 'active'")
        stored_deferred = len(DeferredStore(ledger).pending())
        [[open_batches]] = ledger.query("SELECT count(*) FROM batches WHERE state = 'running'")
        latencies_ms = sorted(latency * 1000 for _, latency in outcomes)

    total = len(outcomes)
    print(
        f"requests:           {total} ({PROCESSES} processes x {THREADS} threads), {elapsed:.1f} s"
    )
    print(f"model:              {MODEL}, worst case per request $0.05-$0.09")
    print(f"daily budget:       ${DAILY_BUDGET:.2f}")
    print(f"settled spend:      ${settled:.8f}")
    print(f"admitted (settled): {counts['admitted']}")
    print(f"deferred:           {counts['deferred']} (stored pending: {stored_deferred})")
    print(f"released (failed):  {counts['released']}")
    print(f"batch, settled:     {counts['batch settled']} (at the batch rate)")
    print(f"batch, failed/expired (released): {counts['batch closed']}")
    print(f"active reservations left: {active}")
    print(f"overspend:          ${overspend:.2f}")
    if latencies_ms:
        p95 = statistics.quantiles(latencies_ms, n=20)[-1]
        print(
            f"reserve latency:    median {statistics.median(latencies_ms):.1f} ms, p95 {p95:.1f} ms"
        )
    problems = list(errors)
    if total != PROCESSES * THREADS * REQUESTS_PER_THREAD:
        problems.append(
            f"{total} outcomes for {PROCESSES * THREADS * REQUESTS_PER_THREAD} requests"
        )
    if overspend > 0:
        problems.append(f"overspent by ${overspend}")
    if stored_deferred != counts["deferred"] or active != 0 or open_batches != 0:
        problems.append("deferred rows or reservations do not match the outcomes")
    if problems:
        print("FAIL: " + "; ".join(problems[:5]))
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""bench/free_tier.py's figures from its result rows: what counts as solved, a false reject, a
false accept, a retry that changed or fixed the code (the rows are what run_task writes)."""

from __future__ import annotations

from typing import Any

from tests.support.bench import load_bench

free_tier = load_bench("free_tier", "bench_free_tier")


def attempt(code: str, passed: bool, plus: bool, repeated: bool = False) -> dict[str, Any]:
    return {
        "model": "m",
        "passed": passed,
        "repeated": repeated,
        "temperature": 0.0,
        "code": code,
        "hidden": {"visible": passed, "base": plus, "plus": plus},
    }


def row(task: str, tried: list[dict[str, Any]], committed_plus: bool | None) -> dict[str, Any]:
    committed = (
        None if committed_plus is None else {"files": ["x.py"], "hidden": {"plus": committed_plus}}
    )
    return {
        "task_id": task,
        "status": "x",
        "reason": "",
        "seconds": 2.0,
        "tried": tried,
        "committed": committed,
    }


def test_the_figures_count_each_outcome_once() -> None:
    rows = [
        row("a", [attempt("A", True, True)], True),  # solved at once
        row("b", [attempt("B1", False, False), attempt("B2", True, True)], True),  # fixed
        row("c", [attempt("C", False, True), attempt("C", False, True, repeated=True)], None),
        row("d", [attempt("D", True, False)], False),  # the example let a wrong answer through
    ]
    figures = free_tier.flow_figures("cfg", rows)
    assert (figures.tasks, figures.solved) == (4, 2)
    # c: a right answer rejected (once: its repeat was not validated again), and the task lost
    assert (figures.false_reject_attempts, figures.false_reject_tasks) == (1, 1)
    assert figures.false_accepts == 1
    assert (figures.retries, figures.retries_changed, figures.retries_fixed) == (2, 1, 1)
    assert figures.seconds == 2.0


def test_the_plain_baseline_is_the_recording() -> None:
    figures = free_tier.plain_figures("0.5b", list(free_tier.mbpp.BENCH_TASKS))
    assert (figures.tasks, figures.solved) == (89, 48)  # 53.9%, as bench/data/README.md says

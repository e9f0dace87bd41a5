"""bench/routing.py: its figures from result rows, and a small real run through the flow on the
replay provider (two tasks, two strategies, one seed), scored on hidden inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.bench import BENCH, load_bench

routing = load_bench("routing", "bench_routing")


def row(
    task: str, *, solved: bool, cost: str, attempts: int = 1, local: bool = False
) -> dict[str, Any]:
    return {
        "task_id": task,
        "status": "completed",
        "cost_usd": cost,
        "attempts": attempts,
        "committed": True,
        "solved": solved,
        "local": local,
    }


def test_figures_count_solved_cost_local_escalations_and_false_accepts() -> None:
    rows = [
        row("a", solved=True, cost="0", local=True),
        row("b", solved=False, cost="0", local=True),  # committed, fails hidden: false accept
        row("c", solved=True, cost="0.002", attempts=2),
        {**row("d", solved=False, cost="0.001", attempts=3), "committed": False},
    ]
    figures = routing.figures(rows)
    assert (figures.solved, figures.tasks, figures.local, figures.escalated) == (2, 4, 2, 2)
    assert figures.false_accepts == 1
    assert str(figures.cost) == "0.003"
    assert figures.solve_rate == 0.5
    assert str(figures.cost_per_solved) == "0.0015"


def test_the_table_compares_every_strategy_with_premium() -> None:
    premium = routing.figures([row("a", solved=True, cost="0.004")])
    cheap = routing.figures([row("a", solved=True, cost="0.0004", local=True)])
    text = routing.table({"premium": [premium, premium], "learned": [cheap, cheap]}, 2, 1)
    learned = next(line for line in text.splitlines() if line.startswith("| learned"))
    assert "90.0% less" in learned
    assert "100.0% ± 0.0%" in learned


def test_the_learning_curve_is_in_task_order_over_windows() -> None:
    seed = [row(str(i), solved=i >= 2, cost="0") for i in range(4)]
    curve = routing.learning_curve([seed, seed], window=2)
    assert "| 1-2 | 0.0% |" in curve
    assert "| 3-4 | 100.0% |" in curve


@pytest.mark.prefect
def test_a_small_run_through_the_real_flow(tmp_path: Path) -> None:
    """Two tasks, premium and learned, one seed: every row is scored, premium pays, the
    learned router starts on the free local tier, and the table and its file are written."""
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "FRUGALFLOW_"))}
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH / "routing.py"),
            "--seeds",
            "1",
            "--tasks",
            "Mbpp/3",
            "Mbpp/4",
            "--strategies",
            "premium",
            "learned",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env={**env, "HOME": str(tmp_path)},
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {
        name: [json.loads(line) for line in (out / f"{name}-seed1.jsonl").read_text().splitlines()]
        for name in ("premium", "learned")
    }
    assert [r["task_id"] for r in rows["premium"]] == ["Mbpp/3", "Mbpp/4"]
    assert all(r["status"] == "completed" and r["score_error"] is not None for r in rows["premium"])
    assert all(r["models"][0].startswith("anthropic:") for r in rows["premium"])
    assert all(float(r["cost_usd"]) > 0 for r in rows["premium"])
    assert all(r["models"][0].startswith("ollama:") for r in rows["learned"])
    assert "| premium |" in done.stdout and "| learned |" in done.stdout
    assert (out / "routing.md").read_text().strip() == done.stdout.strip()

"""Routing strategies side by side, through the real flow: what they cost, what they solve.

Each task of the benchmark (by default the 89 MBPP+ problems of ``bench/data``) becomes the
request a user would type: the problem's words as the description, its visible example as the
one ``--example``, against a fresh git repository of its own. The real codegen flow runs it
(estimate, budget gate, routing, generation, validation with that example only, naming,
placement, the ledger) under a temporary Prefect server. The models answer through the replay
provider (``bench/replay.py``): as each did in the recorded evaluations (EvalPerf pass@1 and
correct solutions; real wrong answers of the embedded models, or verified mutants), priced
by the catalog as the real models. Only after the flow run ended is the committed code scored
on the problem's hidden base and plus inputs (``bench/mbpp.py``), which the flow never saw.

Strategies (each its own ledger, tasks in the same order, the same seeds):

* ``premium``: always claude-3-5-sonnet; ``gpt-4o``, ``gpt-4o-mini``: always that model;
* ``static``: the seed's rules as written (``routing_learn = false``): the local model
  (a replayed Qwen2.5-7B-Instruct standing in for a user's Ollama model, $0), then the
  cheapest API model, then the others, cheapest first;
* ``learned``: frugalflow's router: the same rules, the ladder chosen by the lowest expected
  cost per validated success from the ledger's performance history, which starts empty and
  grows task by task (online; no decision uses the outcome of its own task: a task's hidden
  score never reaches the flow, and its validation outcome is recorded only after its
  attempts were routed).

Every strategy has ``max_attempts`` attempts (``--attempts``, default 3) and a daily budget of
``$20``. Per strategy, over the seeds (mean and spread), the table gives: solve rate on the
hidden tests, total cost, cost per solved task, share of tasks finished on the local tier,
escalation rate (tasks that needed more than one attempt), false accepts (committed, failing
the hidden tests). The learned router's learning curve (solve rate and cost per task over
windows of tasks, in task order) is printed too. ``--out`` (default ``bench/results/routing``)
keeps one JSON line per task, strategy and seed (a stopped run resumes), and the table
(``routing.md``) and the plot of cost against solve rate (``routing.png``).

    .venv/bin/python bench/routing.py                         # 5 strategies x 5 seeds x 89 tasks
    .venv/bin/python bench/routing.py --seeds 1 --limit 20    # a quick look
    .venv/bin/python bench/routing.py --table                 # only print what is recorded
    .venv/bin/python bench/routing.py --problems P.jsonl.gz --outcomes O.json.gz --answers A.json.gz
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import free_tier  # bench/ is not a package: its directory is on the path above
import mbpp
import replay

OUT = Path(__file__).resolve().parent / "results" / "routing"
LOCAL = "ollama:qwen2.5:7b-instruct"
MINI = "openai:gpt-4o-mini-2024-07-18"
GPT4O = "openai:gpt-4o-2024-08-06"
SONNET = "anthropic:claude-3-5-sonnet-20240620"
CASCADE = [LOCAL, MINI, GPT4O, SONNET]  # cheapest first, as a user would configure them


@dataclass(frozen=True)
class Strategy:
    """One way of routing: the configured models and whether the router learns."""

    name: str
    models: tuple[str, ...]
    learn: bool

    def environment(self, attempts: int) -> dict[str, str]:
        """The settings, as the environment variables a user would set."""
        return {
            "FRUGALFLOW_MODELS": json.dumps(list(self.models)),
            "FRUGALFLOW_ROUTING_LEARN": "true" if self.learn else "false",
            "FRUGALFLOW_MAX_ATTEMPTS": str(attempts),
            "FRUGALFLOW_DAILY_BUDGET_USD": "20",
        }


STRATEGIES = {
    strategy.name: strategy
    for strategy in (
        Strategy("premium", (SONNET,), learn=False),
        Strategy("gpt-4o", (GPT4O,), learn=False),
        Strategy("gpt-4o-mini", (MINI,), learn=False),
        Strategy("static", tuple(CASCADE), learn=False),
        Strategy("learned", tuple(CASCADE), learn=True),
    )
}


def run_task(problem: Any, scratch: Path, verdicts: dict[tuple[str, str], Any]) -> dict[str, Any]:
    """Run one problem through the codegen flow and score what it committed."""
    from frugalflow.core.models import parse_address
    from frugalflow.core.schemas import CodeRequest, RunStatus, Tier

    repo = free_tier.make_repository(Path(tempfile.mkdtemp(prefix="task-", dir=scratch)))
    examples = (problem.example,) if problem.example else ()  # HumanEval: some have none
    request = CodeRequest(description=problem.description, repo=repo, examples=examples)

    result, seconds = free_tier.run_flow(request)
    score = None
    final_model = None
    if result.status is RunStatus.COMPLETED and result.commit:
        code = free_tier.committed_code(repo, result.commit, result.files)
        key = (problem.task_id, code)
        if key not in verdicts:
            verdicts[key] = mbpp.score(problem, code)
        score = verdicts[key]
        final_model = next(r.model for r in reversed(result.tried) if r.passed)
    return {
        "task_id": problem.task_id,
        "status": result.status.value,
        "reason": result.reason[:300],
        "cost_usd": str(result.cost_usd),
        "attempts": len(result.tried),
        "models": [record.model for record in result.tried],
        "route": result.routing[0].reason[:400] if result.routing else None,
        "committed": result.status is RunStatus.COMPLETED,
        "solved": bool(score and score.plus),
        "score_error": score.error[:300] if score else None,
        "local": final_model is not None and parse_address(final_model).tier is Tier.LOCAL,
        "seconds": round(seconds, 2),
    }


def results_path(out: Path, strategy: str, seed: int) -> Path:
    return out / f"{strategy}-seed{seed}.jsonl"


def run_strategy(
    strategy: Strategy,
    seed: int,
    tasks: Sequence[str],
    problems: dict[str, Any],
    outcomes: replay.Outcomes,
    attempts: int,
    out: Path,
) -> None:
    """Every task not done yet for (strategy, seed), in task order, on one fresh ledger."""
    path = results_path(out, strategy.name, seed)
    done = free_tier.done_rows(path)
    todo = [task for task in tasks if task not in done]
    if not todo:
        return
    # A resumed run continues its own ledger: the learner's history is the tasks before.
    scratch = out / "scratch" / f"{strategy.name}-seed{seed}"
    scratch.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "PREFECT_HOME": str(scratch / "prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "CRITICAL",
            "PREFECT_TASKS_REFRESH_CACHE": "true",
            "FRUGALFLOW_HOME": str(scratch / "home"),
            "XDG_CONFIG_HOME": str(scratch / "config"),
            **strategy.environment(attempts),
        }
    )
    from prefect.testing.utilities import prefect_test_harness

    verdicts: dict[tuple[str, str], Any] = {}  # (task, code) -> mbpp.Score
    print(f"{strategy.name} seed {seed}: {len(todo)} tasks", file=sys.stderr, flush=True)
    with (
        prefect_test_harness(server_startup_timeout=120),
        replay.install(outcomes, replay.DEFAULT_MAPPING, seed=seed),
    ):
        for index, task in enumerate(todo, 1):
            row = {
                "strategy": strategy.name,
                "seed": seed,
                **run_task(problems[task], scratch, verdicts),
            }
            with path.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            if index % 10 == 0 or index == len(todo):
                print(f"  [{index}/{len(todo)}] {task}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Figures:
    """One strategy over one seed."""

    solved: int
    tasks: int
    cost: Decimal
    local: int
    escalated: int
    false_accepts: int

    @property
    def solve_rate(self) -> float:
        return self.solved / self.tasks

    @property
    def cost_per_solved(self) -> Decimal | None:
        return self.cost / self.solved if self.solved else None


def figures(rows: Sequence[dict[str, Any]]) -> Figures:
    """The figures of one (strategy, seed) run."""
    return Figures(
        solved=sum(row["solved"] for row in rows),
        tasks=len(rows),
        cost=sum((Decimal(row["cost_usd"]) for row in rows), Decimal(0)),
        local=sum(row["local"] for row in rows),
        escalated=sum(row["attempts"] > 1 for row in rows),
        false_accepts=sum(row["committed"] and not row["solved"] for row in rows),
    )


def _spread(values: Sequence[float], fmt: str) -> str:
    mean = statistics.mean(values)
    if len(values) < 2:
        return fmt.format(mean)
    return f"{fmt.format(mean)} ± {fmt.format(statistics.stdev(values))}"


def table(runs: dict[str, list[Figures]], seeds: int, tasks: int) -> str:
    """The markdown table: per strategy, the mean ± standard deviation over its seeds."""
    premium = runs.get("premium")
    premium_cost = statistics.mean(float(f.cost) for f in premium) if premium else None
    lines = [
        f"{tasks} tasks, {seeds} seed(s); mean ± standard deviation over the seeds",
        "",
        "| strategy | solved (hidden tests) | total cost | vs premium | cost per solved task "
        "| finished on the local tier | escalated | false accepts |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, items in runs.items():
        cost = [float(f.cost) for f in items]
        per_solved = [float(f.cost_per_solved or 0) for f in items]
        saving = (
            f"{1 - statistics.mean(cost) / premium_cost:.1%} less"
            if premium_cost and name != "premium"
            else ""
        )
        lines.append(
            f"| {name} | {_spread([f.solve_rate for f in items], '{:.1%}')} "
            f"| {_spread(cost, '${:.4f}')} | {saving} | {_spread(per_solved, '${:.5f}')} "
            f"| {_spread([f.local / f.tasks for f in items], '{:.0%}')} "
            f"| {_spread([f.escalated / f.tasks for f in items], '{:.0%}')} "
            f"| {_spread([float(f.false_accepts) for f in items], '{:.1f}')} |"
        )
    return "\n".join(lines)


def learning_curve(rows_by_seed: Sequence[Sequence[dict[str, Any]]], window: int = 15) -> str:
    """Solve rate and cost per task of consecutive windows of tasks, mean over the seeds."""
    lines = [
        "| tasks | solved | cost per task | finished locally |",
        "| --- | ---: | ---: | ---: |",
    ]
    length = min(len(rows) for rows in rows_by_seed)
    for start in range(0, length, window):
        chunks = [rows[start : start + window] for rows in rows_by_seed]
        solved = statistics.mean(sum(r["solved"] for r in c) / len(c) for c in chunks)
        cost = statistics.mean(
            float(sum(Decimal(r["cost_usd"]) for r in c)) / len(c) for c in chunks
        )
        local = statistics.mean(sum(r["local"] for r in c) / len(c) for c in chunks)
        end = start + len(chunks[0])
        lines.append(f"| {start + 1}-{end} | {solved:.1%} | ${cost:.5f} | {local:.0%} |")
    return "\n".join(lines)


def plot(runs: dict[str, list[Figures]], path: Path) -> bool:
    """Cost against solve rate, one point per strategy and seed; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (./dev install installs it)", file=sys.stderr)
        return False
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for name, items in runs.items():
        xs = [float(f.cost) for f in items]
        ys = [100 * f.solve_rate for f in items]
        axes.scatter(xs, ys, label=name, alpha=0.7)
        axes.annotate(name, (statistics.mean(xs), statistics.mean(ys)), fontsize=8)
    axes.set_xscale("symlog", linthresh=0.001)
    axes.set_xlabel("total cost of the run (USD, log scale)")
    axes.set_ylabel("solved on hidden tests (%)")
    axes.set_title("Routing strategies on the benchmark (one point per seed)")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


def report(strategies: Sequence[str], seeds: Sequence[int], tasks: Sequence[str], out: Path) -> str:
    """The table and the learning curve of what is recorded, over the tasks every run has."""
    rows = {
        (name, seed): free_tier.done_rows(results_path(out, name, seed))
        for name in strategies
        for seed in seeds
    }
    common = [task for task in tasks if all(task in done for done in rows.values())]
    if not common:
        return "nothing recorded yet"
    runs = {
        name: [figures([rows[(name, seed)][task] for task in common]) for seed in seeds]
        for name in strategies
    }
    text = table(runs, len(seeds), len(common))
    if "learned" in strategies:
        curve = learning_curve([[rows[("learned", s)][t] for t in common] for s in seeds])
        text += "\n\nThe learned router, in task order (mean over the seeds):\n\n" + curve
    if plot(runs, out / "routing.png"):
        text += "\n\n![cost against solve rate](routing.png)"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    parser.add_argument("--seeds", type=int, default=5, help="seeds 1..N (default 5)")
    parser.add_argument("--attempts", type=int, default=3, help="max_attempts (default 3)")
    parser.add_argument("--limit", type=int, help="only the first N tasks")
    parser.add_argument("--tasks", nargs="+", help="only these task ids")
    parser.add_argument("--problems", type=Path, help="an EvalPlus problem file (MBPP+ default)")
    parser.add_argument("--outcomes", type=Path, default=replay.DEFAULT_OUTCOMES)
    parser.add_argument("--answers", type=Path, nargs="+", default=list(replay.DEFAULT_ANSWERS))
    parser.add_argument("--out", type=Path, default=OUT, help=f"results directory ({OUT})")
    parser.add_argument("--table", action="store_true", help="print the table, run nothing")
    args = parser.parse_args(argv)
    problems = mbpp.load_problems(path=args.problems) if args.problems else mbpp.load_problems()
    recorded = replay.read_json(args.outcomes)["models"]
    in_outcomes = set().union(*(set(tasks) for tasks in recorded.values()))
    tasks = [task for task in (args.tasks or problems) if task in problems and task in in_outcomes]
    unknown = sorted(set(args.tasks or ()) - set(tasks))
    if unknown:
        raise SystemExit(f"not both in the problems and the outcomes: {', '.join(unknown)}")
    tasks = tasks[: args.limit] if args.limit else tasks
    # Only the tasks run: the outcomes' wrong answers (mutants) are found for these alone.
    outcomes = replay.Outcomes.load(
        args.outcomes,
        answers=args.answers,
        problems={task: problems[task] for task in tasks},
        cache_dir=args.out / "cache",
    )
    seeds = list(range(1, args.seeds + 1))
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.table:
        for seed in seeds:
            for name in args.strategies:
                run_strategy(
                    STRATEGIES[name], seed, tasks, problems, outcomes, args.attempts, args.out
                )
    text = report(args.strategies, seeds, tasks, args.out)
    (args.out / "routing.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The free tier through the real flow, against the same models given the plain problem.

Each of the 89 MBPP+ problems of ``bench/data`` becomes a request a user could type: the
problem's words as the description, its visible ``assert`` as the one ``--example``, against a
fresh git repository of its own. The real codegen flow runs it (estimate, budget gate, context,
generation on the embedded models, validation with that example only, naming, documenting,
placement) under a temporary Prefect server, ledger and home, with Prefect's cache refreshed so
that every step really runs. Only then is the code scored on the problem's hidden base and
plus inputs (``bench/mbpp.py``), which the flow never saw: what was committed, and every
attempt's code on the way.

Beside it, the plain baseline: the same models' recorded answers to the plain problem
statement in ``bench/data`` (temperature 0, one user message), which ``--check-plain N``
re-generates on this machine to show the recording still holds.

    .venv/bin/python bench/free_tier.py                        # 0.5B, then the 0.5B -> 1.5B cascade
    .venv/bin/python bench/free_tier.py --models 0.5b --attempts 2 --limit 20
    .venv/bin/python bench/free_tier.py --table                # only print what is recorded

Figures (per configuration):

* solved: committed, and the committed file passes the hidden base and plus inputs;
* false rejects: attempts whose code validation rejected although it passes the hidden
  inputs (the pipeline threw away a right answer), and the tasks left unsolved by one;
* false accepts: committed code that fails the hidden inputs (the visible example let it
  through; the flow cannot know better without more examples);
* retries changed / fixed: attempts after a failed one whose code differs from the failed
  code, and those whose code then passes the hidden inputs;
* seconds per request: the median wall time of one flow run.

Results go to ``--out`` (default ``bench/results/free_tier``), one JSON line per task and
configuration; a run that is stopped resumes where it stopped. No decision of the flow uses
the hidden inputs: they are read only by the scorer, after the flow run ended.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mbpp  # bench/ is not a package: its directory is on the path above

MODELS = {
    "0.5b": "llamacpp:qwen2.5-coder-0.5b-instruct",
    "1.5b": "llamacpp:qwen2.5-coder-1.5b-instruct",
}
DEFAULT_CONFIGS = ("0.5b", "0.5b,1.5b")
OUT = Path(__file__).resolve().parent / "results" / "free_tier"


@dataclass(frozen=True)
class Config:
    """One way of running the flow: its cascade and attempts, and how retries are made."""

    models: tuple[str, ...]  # keys of MODELS, cheapest first
    attempts: int
    show_code: bool
    retry_temperature: float

    @property
    def name(self) -> str:
        """A file-name-safe label, also the table's row label."""
        code = "-code" if self.show_code else ""
        return f"{'+'.join(self.models)}-a{self.attempts}-t{self.retry_temperature:g}{code}"

    def environment(self) -> dict[str, str]:
        """The settings the flow reads, as the environment variables a user would set."""
        return {
            "FRUGALFLOW_MODELS": json.dumps([MODELS[key] for key in self.models]),
            "FRUGALFLOW_MAX_ATTEMPTS": str(self.attempts),
            "FRUGALFLOW_ESCALATION_SHOWS_FAILED_CODE": "true" if self.show_code else "false",
            "FRUGALFLOW_RETRY_TEMPERATURE": f"{self.retry_temperature:g}",
        }


def make_repository(path: Path) -> Path:
    """An empty Python project in a git repository, as a new project would be."""
    (path / "src" / "solutions").mkdir(parents=True)
    (path / "src" / "solutions" / "__init__.py").write_text('"""Solutions."""\n')
    (path / "pyproject.toml").write_text('[project]\nname = "solutions"\nversion = "0.1.0"\n')
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True)
    subprocess.run(["git", "add", "-A"], cwd=path, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "Start"], cwd=path, check=True)
    return path


def committed_code(repo: Path, commit: str, files: Sequence[str]) -> str:
    """The Python files the flow committed, as one module (normally there is one)."""
    sources = [
        subprocess.run(
            ["git", "show", f"{commit}:{name}"], cwd=repo, check=True, capture_output=True
        ).stdout.decode()
        for name in files
        if name.endswith(".py")
    ]
    return "\n\n".join(sources)


def hidden(problem: mbpp.Problem, code: str) -> dict[str, Any]:
    """The hidden-input score of ``code``, as JSON."""
    score = mbpp.score(problem, code)
    return {"visible": score.visible, "base": score.base, "plus": score.plus}


def run_flow(request: Any) -> tuple[Any, float]:
    """Run the codegen flow on ``request``: its CodeResult, and the seconds the run took."""
    from frugalflow.core.schemas import CodeResult
    from frugalflow.flows.codegen import codegen

    async def go() -> CodeResult:
        state = await codegen(request, return_state=True)
        result = await state.aresult(raise_on_failure=False)
        assert isinstance(result, CodeResult), result
        return result

    started = time.perf_counter()
    result = asyncio.run(go())
    return result, time.perf_counter() - started


def run_task(problem: mbpp.Problem, scratch: Path) -> dict[str, Any]:
    """Run one problem through the codegen flow and score what it produced."""
    from frugalflow.core.schemas import CodeRequest, RunStatus

    repo = make_repository(Path(tempfile.mkdtemp(prefix="task-", dir=scratch)))
    request = CodeRequest(description=problem.description, repo=repo, examples=(problem.example,))

    result, seconds = run_flow(request)
    row: dict[str, Any] = {
        "task_id": problem.task_id,
        "status": result.status.value,
        "reason": result.reason[:400],
        "seconds": round(seconds, 2),
        "tried": [
            {
                "model": record.model,
                "passed": record.passed,
                "repeated": record.repeated,
                "temperature": record.temperature,
                "code": record.code,
                "hidden": hidden(problem, record.code),
            }
            for record in result.tried
        ],
        "committed": None,
    }
    if result.status is RunStatus.COMPLETED and result.commit:
        code = committed_code(repo, result.commit, result.files)
        row["committed"] = {"files": list(result.files), "hidden": hidden(problem, code)}
    return row


def done_rows(path: Path) -> dict[str, dict[str, Any]]:
    """The rows a previous (perhaps stopped) run of this configuration wrote."""
    if not path.exists():
        return {}
    rows = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            rows[row["task_id"]] = row
    return rows


def run_config(config: Config, tasks: Sequence[str], out: Path) -> None:
    """Every task of ``tasks`` not done yet for ``config``, appended to its results file."""
    path = out / f"{config.name}.jsonl"
    todo = [task for task in tasks if task not in done_rows(path)]
    if not todo:
        return
    problems = mbpp.load_problems(todo)
    scratch = Path(tempfile.mkdtemp(prefix="frugalflow-free-tier-"))
    os.environ.update(
        {
            "PREFECT_HOME": str(scratch / "prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "ERROR",
            "PREFECT_TASKS_REFRESH_CACHE": "true",  # every step runs: no answer from a cache
            "FRUGALFLOW_HOME": str(scratch / "home"),
            "XDG_CONFIG_HOME": str(scratch / "config"),
            **config.environment(),
        }
    )
    from prefect.testing.utilities import prefect_test_harness

    print(f"{config.name}: {len(todo)} tasks to run", file=sys.stderr)
    with prefect_test_harness(server_startup_timeout=120):
        for index, task in enumerate(todo, 1):
            row = run_task(problems[task], scratch)
            with path.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            solved = bool(row["committed"] and row["committed"]["hidden"]["plus"])
            print(
                f"  [{index}/{len(todo)}] {task:10} {row['status']:9} attempts "
                f"{len(row['tried'])} {'solved' if solved else '-'} {row['seconds']:.1f} s",
                file=sys.stderr,
                flush=True,
            )


@dataclass(frozen=True)
class Figures:
    """One table row."""

    label: str
    tasks: int
    solved: int
    false_reject_attempts: int | None = None
    false_reject_tasks: int | None = None
    false_accepts: int | None = None
    retries: int | None = None
    retries_changed: int | None = None
    retries_fixed: int | None = None
    seconds: float | None = None


def flow_figures(label: str, rows: Iterable[dict[str, Any]]) -> Figures:
    """The figures of one configuration's results."""
    rows = list(rows)
    solved = [bool(r["committed"] and r["committed"]["hidden"]["plus"]) for r in rows]
    false_reject_attempts = false_reject_tasks = retries = changed = fixed = 0
    for row, ok in zip(rows, solved, strict=True):
        rejected_right = [
            t for t in row["tried"] if not t["passed"] and not t["repeated"] and t["hidden"]["plus"]
        ]
        false_reject_attempts += len(rejected_right)
        false_reject_tasks += bool(rejected_right) and not ok
        for before, after in zip(row["tried"], row["tried"][1:], strict=False):
            retries += 1
            if after["code"] != before["code"]:
                changed += 1
                fixed += bool(after["passed"] and after["hidden"]["plus"])
    false_accepts = sum(bool(r["committed"] and not r["committed"]["hidden"]["plus"]) for r in rows)
    return Figures(
        label,
        len(rows),
        sum(solved),
        false_reject_attempts,
        false_reject_tasks,
        false_accepts,
        retries,
        changed,
        fixed,
        statistics.median(r["seconds"] for r in rows) if rows else None,
    )


def plain_figures(key: str, tasks: Sequence[str]) -> Figures:
    """The recorded plain-problem answers of one model, over the same tasks."""
    recorded = mbpp.load_recorded(key)
    return Figures(
        f"{key} plain (recorded)",
        len(tasks),
        sum(bool(recorded[task].plus) for task in tasks),
        seconds=statistics.median(recorded[task].seconds for task in tasks),
    )


def print_table(figures: Sequence[Figures]) -> None:
    """The figures as a Markdown table."""

    def cell(value: float | int | None, fmt: str = "{}") -> str:
        return "" if value is None else fmt.format(value)

    print(
        "| configuration | tasks | solved | false rejects (attempts / tasks lost) "
        "| false accepts | retries: changed / fixed | s per request (median) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for f in figures:
        rejects = (
            ""
            if f.false_reject_attempts is None
            else f"{f.false_reject_attempts} / {f.false_reject_tasks}"
        )
        retries = (
            "" if f.retries is None else f"{f.retries}: {f.retries_changed} / {f.retries_fixed}"
        )
        print(
            f"| {f.label} | {f.tasks} | {f.solved} ({f.solved / f.tasks:.1%}) | {rejects} "
            f"| {cell(f.false_accepts)} | {retries} | {cell(f.seconds, '{:.1f}')} |"
        )


def check_plain(count: int) -> int:
    """Re-generate the first ``count`` recorded plain answers of the 0.5B on this machine."""
    from frugalflow.core.settings import load_settings
    from frugalflow.providers.base import ChatMessage
    from frugalflow.providers.llamacpp import LlamaCppProvider

    recorded = mbpp.load_recorded("0.5b")
    provider = LlamaCppProvider(load_settings())
    same = 0
    for task in mbpp.BENCH_TASKS[:count]:
        message = ChatMessage(role="user", content=recorded[task].user_message)
        reply = provider.complete(
            MODELS["0.5b"].split(":", 1)[1], [message], max_tokens=512, temperature=0.0
        )
        same += reply.text == recorded[task].reply
    print(f"{same}/{count} plain answers re-generated identically")
    return 0 if same == count else 1


def parse_configs(values: Sequence[str], attempts: int, show: bool, temp: float) -> list[Config]:
    """``--models`` values (``0.5b`` or ``0.5b,1.5b``) as configurations."""
    configs = []
    for value in values:
        keys = tuple(part.strip() for part in value.split(",") if part.strip())
        unknown = [key for key in keys if key not in MODELS]
        if unknown or not keys:
            raise SystemExit(f"--models {value!r}: use {', '.join(MODELS)}, comma-separated")
        configs.append(Config(keys, attempts, show, temp))
    return configs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        nargs="+",
        default=list(DEFAULT_CONFIGS),
        help="cascades to run, each cheapest first: 0.5b, or 0.5b,1.5b (default: both)",
    )
    parser.add_argument("--attempts", type=int, default=2, help="max_attempts (default 2)")
    parser.add_argument(
        "--show-failed-code",
        action="store_true",
        help="escalations also see the failed code (escalation_shows_failed_code)",
    )
    parser.add_argument(
        "--retry-temperature", type=float, default=0.7, help="retry_temperature (default 0.7)"
    )
    parser.add_argument("--limit", type=int, help="only the first N tasks (task-id order)")
    parser.add_argument("--tasks", nargs="+", help="only these task ids (Mbpp/2 ...)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"results directory ({OUT})")
    parser.add_argument("--table", action="store_true", help="print the table, run nothing")
    parser.add_argument(
        "--check-plain", type=int, metavar="N", help="re-generate N recorded plain answers"
    )
    args = parser.parse_args(argv)
    if args.check_plain:
        return check_plain(args.check_plain)
    tasks = list(args.tasks or mbpp.BENCH_TASKS)
    unknown = sorted(set(tasks) - set(mbpp.BENCH_TASKS))
    if unknown:
        raise SystemExit(f"not among the benchmark's tasks: {', '.join(unknown)}")
    tasks = tasks[: args.limit] if args.limit else tasks
    configs = parse_configs(
        args.models, args.attempts, args.show_failed_code, args.retry_temperature
    )
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.table:
        for config in configs:
            run_config(config, tasks, args.out)
    figures = [plain_figures(key, tasks) for key in MODELS]
    for config in configs:
        rows = done_rows(args.out / f"{config.name}.jsonl")
        done = [task for task in tasks if task in rows]
        if done and len(done) < len(tasks):  # a stopped run: the baselines on the same tasks
            figures += [plain_figures(key, done) for key in config.models]
        figures.append(flow_figures(config.name, (rows[task] for task in done)))
    print_table(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

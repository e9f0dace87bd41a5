"""Median time of each codegen step, and Prefect's overhead, over 5 requests on the embedded model.

Prefect overhead = flow wall time minus the sum of the step bodies (task orchestration, state
reporting to the server, result persistence, artifact). Runs against a temporary Prefect server
(the test harness) and a temporary ledger, so it leaves nothing behind.

Then the CLI as a user runs it: pairs of ``frugalflow generate`` processes, and for the second
of each pair the wall time minus the time inside the steps (imports, model load, Prefect), in
three modes side by side: frugalflow's local Prefect server with the preloaded runner that
starts beside it (``prefect_server = auto``, the default), the same without the runner
(``FRUGALFLOW_RUNNER=0``: every process imports Prefect and loads the model), and a temporary
server per run (``ephemeral``). The local server and the runner are stopped at the end.

    .venv/bin/python bench/step_times.py [--runs 5] [--cli-pairs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEP_LINE = re.compile(r"^✓ .+ (\d+\.\d+) s", re.MULTILINE)

REQUESTS = [
    (
        "Add a function count_words(text) that returns the number of words in text",
        'assert count_words("a b  c") == 3',
    ),
    (
        "Add a function sum_digits(n) that returns the sum of the decimal digits of n",
        "assert sum_digits(1234) == 10",
    ),
    (
        "Add a function reverse_words(text) that reverses the order of the words in text",
        'assert reverse_words("a b c") == "c b a"',
    ),
    (
        "Add a function count_vowels(text) that returns how many vowels text contains",
        'assert count_vowels("banana") == 3',
    ),
    (
        "Add a function capitalize_words(text) that capitalizes the first letter of every word",
        'assert capitalize_words("hello big world") == "Hello Big World"',
    ),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cli-pairs", type=int, default=3, help="0: skip the CLI timing")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="frugalflow-bench-"))
    clean_environment = dict(os.environ)
    os.environ.update(
        {
            "PREFECT_HOME": str(scratch / "prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "ERROR",
            "FRUGALFLOW_HOME": str(scratch / "home"),
            "XDG_CONFIG_HOME": str(scratch / "config"),
        }
    )
    from prefect.testing.utilities import prefect_test_harness

    from frugalflow.cli.example_repo import create_example_repo
    from frugalflow.core.schemas import CodeRequest, CodeResult
    from frugalflow.core.settings import load_settings
    from frugalflow.flows.codegen import codegen
    from frugalflow.providers.base import ChatMessage
    from frugalflow.providers.llamacpp import LlamaCppProvider

    # Load the model before timing: its one-off load is not a per-request cost.
    LlamaCppProvider(load_settings()).complete(
        "qwen2.5-coder-0.5b-instruct",
        [ChatMessage(role="user", content="Say ok.")],
        max_tokens=2,
        temperature=0,
    )
    per_step: dict[str, list[float]] = {}
    walls: list[float] = []
    overheads: list[float] = []
    statuses: list[str] = []
    with prefect_test_harness(server_startup_timeout=90):
        for index in range(args.runs):
            description, example = REQUESTS[index % len(REQUESTS)]
            repo = create_example_repo(scratch / f"repo-{index}")
            request = CodeRequest(description=description, repo=repo, examples=(example,))

            async def run(request: CodeRequest = request) -> CodeResult:
                state = await codegen(request, return_state=True)
                result = await state.aresult(raise_on_failure=False)
                assert isinstance(result, CodeResult)
                return result

            started = time.perf_counter()
            result = asyncio.run(run())
            wall = time.perf_counter() - started
            body = sum(step.seconds for step in result.steps)
            walls.append(wall)
            overheads.append(wall - body)
            statuses.append(result.status.value)
            for step in result.steps:
                per_step.setdefault(step.step, []).append(step.seconds)
            print(
                f"run {index + 1}: {result.status.value:9} wall {wall:6.2f} s, "
                f"steps {body:6.2f} s, attempts {result.attempts}",
                file=sys.stderr,
            )
    print(f"\n{args.runs} requests on the embedded model ({', '.join(statuses)})")
    print(f"{'step':<15}{'median s':>10}{'runs':>6}")
    for step, seconds in per_step.items():
        print(f"{step:<15}{statistics.median(seconds):>10.3f}{len(seconds):>6}")
    wall_median = statistics.median(walls)
    overhead_median = statistics.median(overheads)
    print(f"{'flow wall':<15}{wall_median:>10.3f}")
    print(
        f"{'prefect overhead':<15}{overhead_median:>9.3f} "
        f"({overhead_median / wall_median:.0%} of the flow's wall time)"
    )
    if args.cli_pairs:
        cli_overhead(scratch, clean_environment, args.cli_pairs)
    return 0


def cli_overhead(scratch: Path, environment: dict[str, str], pairs: int) -> None:
    """Wall minus step time of the second of two ``frugalflow generate`` runs, per server mode,
    the modes alternating so that both see the same machine."""
    frugalflow = Path(sys.executable).with_name("frugalflow")
    home = scratch / "cli-home"
    base = {
        k: v for k, v in environment.items() if not k.startswith(("PREFECT_API", "FRUGALFLOW_"))
    }
    base.update(
        {
            "FRUGALFLOW_HOME": str(home),
            "PREFECT_HOME": str(scratch / "cli-prefect"),
            "XDG_RUNTIME_DIR": str(scratch / "run"),  # the runner's socket, this run's own
        }
    )
    modes = {
        "runner": {"FRUGALFLOW_PREFECT_SERVER": "auto"},
        "no runner": {"FRUGALFLOW_PREFECT_SERVER": "auto", "FRUGALFLOW_RUNNER": "0"},
        "ephemeral": {"FRUGALFLOW_PREFECT_SERVER": "ephemeral", "FRUGALFLOW_RUNNER": "0"},
    }
    subprocess.run(
        [frugalflow, "example-repo", scratch / "cli-repo"],
        check=True,
        env=base,
        capture_output=True,
    )
    seconds: dict[str, list[float]] = {mode: [] for mode in modes}
    walls: dict[str, list[float]] = {mode: [] for mode in modes}
    count = 0
    try:
        for pair in range(pairs):
            for mode in seconds:
                for second in (False, True):
                    if second and mode == "runner":
                        wait_for_runner(base)  # a user's next request comes after its preload
                    description, _ = REQUESTS[count % len(REQUESTS)]
                    count += 1
                    started = time.perf_counter()
                    done = subprocess.run(
                        [
                            frugalflow,
                            "generate",
                            description.replace("function ", f"function v{count}_"),
                            "--repo",
                            scratch / "cli-repo",
                        ],
                        env={**base, **modes[mode]},
                        capture_output=True,
                        text=True,
                    )
                    wall = time.perf_counter() - started
                    steps = sum(float(m) for m in STEP_LINE.findall(done.stdout))
                    if second:
                        seconds[mode].append(wall - steps)
                        walls[mode].append(wall)
                        print(
                            f"cli pair {pair + 1} {mode:9}: exit {done.returncode}, wall "
                            f"{wall:6.2f} s, steps {steps:6.2f} s",
                            file=sys.stderr,
                        )
    finally:
        subprocess.run([frugalflow, "server", "stop"], env=base, capture_output=True)
    best = statistics.median(seconds["runner"])
    print(f"\nCLI, second of two requests (median of {pairs}; target: runner under 1.5 s):")
    print(f"{'mode':<12}{'wall - steps':>14}{'wall':>9}{'ratio':>8}")
    for mode in modes:
        overhead = statistics.median(seconds[mode])
        print(
            f"{mode:<12}{overhead:>12.2f} s{statistics.median(walls[mode]):>7.2f} s"
            f"{overhead / best:>7.1f}x"
        )


def wait_for_runner(environment: dict[str, str], timeout: float = 120.0) -> None:
    """Wait until the runner started by the previous request takes requests."""
    code = "from frugalflow.cli import runner; print(runner.running() or '')"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = subprocess.run(
            [sys.executable, "-c", code], env=environment, capture_output=True, text=True
        )
        if done.stdout.strip():
            return
        time.sleep(0.5)
    print("the runner did not start: this pair runs without it", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())

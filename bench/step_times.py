"""Median time of each codegen step, and Prefect's overhead, over 5 requests on the embedded model.

Prefect overhead = flow wall time minus the sum of the step bodies (task orchestration, state
reporting to the server, result persistence, artifact). Runs against a temporary Prefect server
(the test harness) and a temporary ledger, so it leaves nothing behind.

    .venv/bin/python bench/step_times.py [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

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
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="frugalflow-bench-"))
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How close frugalflow's offline estimates come to real usage, over 89 MBPP+ tasks.

"Actual" is what the embedded model really used: the recorded runs of Qwen2.5-Coder-0.5B and
1.5B-Instruct (Q4_K_M, llama.cpp, temperature 0, max_tokens 512, one user message per task) in
``bench/data``. The evaluation is online and honest: tasks are taken in task-id order, and
the estimator sees only the prompt of the task at hand plus the actual usage of *earlier*
tasks, from which it learns, as frugalflow does from its ledger,

* the input correction factor (``learn_correction`` over earlier (estimate, actual) pairs),
* the expected reply length (``expected_output_tokens`` over earlier output tokens; the
  fallback until 5 exist).

Costs price the same usage as if it had been sent to paid models from the catalog (the
tokens a paid model's own tokenizer would count differ; this measures the estimator, not the
vendors). The uncorrected rows show what the learning is worth.

    .venv/bin/python bench/estimate_accuracy.py [--live N]

``--live N`` also re-runs the first N prompts through the real embedded model (0.5B) and
compares its usage with the recorded numbers. Only ``bench/data`` is read.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from frugalflow.money.estimation import (
    count_input_tokens,
    count_message_tokens,
    estimate_call,
    expected_output_tokens,
    learn_correction,
)
from frugalflow.money.pricing import PriceCatalog

DATA = Path(__file__).resolve().parent / "data"
RUNS = {
    "Qwen2.5-Coder-0.5B": "qwen05b_mbppplus.json.gz",
    "Qwen2.5-Coder-1.5B": "qwen15b_mbppplus.json.gz",
}
LOCAL = "llamacpp:qwen2.5-coder-0.5b-instruct"  # counted like any local model: o200k, inexact
PAID = ("openai:gpt-4o-mini", "anthropic:claude-3-5-haiku-latest")
FALLBACK_OUTPUT = 200  # the estimate step's default reply length for a small request
MAX_OUTPUT = 512  # the recorded runs' max_tokens


def load_run(name: str) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    with gzip.open(DATA / name, "rt", encoding="utf-8") as handle:
        run = json.load(handle)
    tasks = sorted(run["results"].items(), key=lambda item: int(item[0].split("/")[1]))
    return run, tasks


def check_prompts(run: dict[str, Any], tasks: list[tuple[str, dict[str, Any]]]) -> str:
    """Rebuild each user message from the MBPP+ problem and the run's template."""
    problems = {}
    with gzip.open(DATA / "MbppPlus.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            problem = json.loads(line)
            problems[problem["task_id"]] = problem["prompt"]
    template = run["settings"]["prompt_template"]
    same = sum(
        template.format(prompt=problems[task_id].strip()) == result["user_message"]
        or template.format(prompt=problems[task_id]) == result["user_message"]
        for task_id, result in tasks
    )
    return f"{same}/{len(tasks)} user messages rebuilt from MbppPlus.jsonl.gz + template"


def p90(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[8]


def row(label: str, estimates: Sequence[float], actuals: Sequence[float], scale: float) -> str:
    errors = [abs(e - a) * scale for e, a in zip(estimates, actuals, strict=True)]
    percent = [abs(e - a) / a * 100 for e, a in zip(estimates, actuals, strict=True) if a]
    return (
        f"  {label:<44} {statistics.median(errors):>9.1f} {p90(errors):>9.1f}"
        f" {statistics.median(percent):>8.1f}% {p90(percent):>8.1f}%"
    )


def evaluate(label: str, file_name: str, catalog: PriceCatalog) -> None:
    run, tasks = load_run(file_name)
    actual_in = [result["prompt_tokens"] for _, result in tasks]
    actual_out = [result["completion_tokens"] for _, result in tasks]
    raw_in: list[int] = []
    framed_in: list[int] = []
    corrected_in: list[int] = []
    learned_out: list[int] = []
    pairs: list[tuple[int, int]] = []
    correction = 1.0
    for index, (_, result) in enumerate(tasks):
        message = result["user_message"]
        # what the estimator may know: this prompt, and the usage of tasks before it
        correction = learn_correction(pairs)
        expected = expected_output_tokens(actual_out[:index], FALLBACK_OUTPUT, cap=MAX_OUTPUT)
        estimate = estimate_call(
            LOCAL,
            [("user", message)],
            correction=correction,
            expected_output=expected,
            max_output=MAX_OUTPUT,
            catalog=catalog,
        )
        framed = count_message_tokens(LOCAL, [("user", message)]).tokens
        raw_in.append(count_input_tokens(LOCAL, message).tokens)
        framed_in.append(framed)
        corrected_in.append(estimate.input_tokens)
        learned_out.append(estimate.expected_output_tokens)
        pairs.append((framed, result["prompt_tokens"]))  # learned only after the estimate

    print(f"\n{label}  ({len(tasks)} tasks, {run['model']}; {check_prompts(run, tasks)})")
    print(
        f"  final learned input correction {correction:.3f}, expected output "
        f"{learned_out[-1]} tokens; tasks 1-5 use correction 1.0 and {FALLBACK_OUTPUT} output"
    )
    print(f"  {'':<44} {'med |err|':>9} {'p90 |err|':>9} {'med APE':>9} {'p90 APE':>9}")
    print("  input tokens")
    print(row("tiktoken o200k of the user message (raw)", raw_in, actual_in, 1))
    print(row("+ chat framing (3/message + 3)", framed_in, actual_in, 1))
    print(row("+ framing x learned correction", corrected_in, actual_in, 1))
    print("  output tokens")
    print(row(f"fallback ({FALLBACK_OUTPUT})", [FALLBACK_OUTPUT] * len(tasks), actual_out, 1))
    print(row("learned median of earlier tasks", learned_out, actual_out, 1))
    for model in PAID:

        def cost(inputs: Sequence[int], outputs: Sequence[int], model: str = model) -> list[float]:
            return [
                float(catalog.price_call(model, input_tokens=i, output_tokens=o))
                for i, o in zip(inputs, outputs, strict=True)
            ]

        actual = cost(actual_in, actual_out)
        worst = cost(corrected_in, [MAX_OUTPUT] * len(tasks))
        covered = sum(w >= a for w, a in zip(worst, actual, strict=True))
        print(
            f"  cost as {model}, |err| in micro-USD (actual median {statistics.median(actual) * 1e6:.1f})"
        )
        print(
            row(
                "raw input, fallback output (no learning)",
                cost(raw_in, [FALLBACK_OUTPUT] * len(tasks)),
                actual,
                1e6,
            )
        )
        print(row("raw input, learned output", cost(raw_in, learned_out), actual, 1e6))
        print(row("corrected input, learned output", cost(corrected_in, learned_out), actual, 1e6))
        print(f"  {'worst case (corrected in, 512 out) >= actual':<44} {covered}/{len(tasks)}")


def live(count: int) -> int:
    """Re-run the first ``count`` recorded prompts through the embedded 0.5B model."""
    from frugalflow.core.settings import load_settings
    from frugalflow.providers.base import ChatMessage
    from frugalflow.providers.llamacpp import BUNDLED_MODEL, LlamaCppProvider

    _, tasks = load_run(RUNS["Qwen2.5-Coder-0.5B"])
    provider = LlamaCppProvider(load_settings())
    print(f"\nlive: {count} recorded 0.5B prompts re-run on this machine ({BUNDLED_MODEL})")
    print(
        f"  {'task':<10} {'prompt rec/live':>16} {'completion rec/live':>20} {'reply':>10} {'s':>6}"
    )
    mismatches = 0
    for task_id, result in tasks[:count]:
        completion = provider.complete(
            BUNDLED_MODEL,
            [ChatMessage(role="user", content=result["user_message"])],
            max_tokens=MAX_OUTPUT,
            temperature=0.0,
        )
        same_in = completion.input_tokens == result["prompt_tokens"]
        same_out = completion.output_tokens == result["completion_tokens"]
        same_reply = completion.text == result["reply"]
        mismatches += not (same_in and same_out)
        print(
            f"  {task_id:<10} {result['prompt_tokens']:>7}/{completion.input_tokens:<8}"
            f" {result['completion_tokens']:>9}/{completion.output_tokens:<10}"
            f" {'same' if same_reply else 'differs':>10} {completion.seconds:>6.1f}"
        )
    print(f"  usage matches the recording for {count - mismatches}/{count} prompts")
    return 1 if mismatches else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--live", type=int, default=0, metavar="N", help="re-run N prompts")
    args = parser.parse_args(argv)
    catalog = PriceCatalog()
    print(f"prices: {catalog.version}; actual usage: bench/data (recorded runs)")
    for model in PAID:
        price = catalog.price_of(model)
        assert price is not None, f"{model} is not in the catalog"
        print(f"  {model}: ${price.input_per_mtok} in / ${price.output_per_mtok} out per MTok")
    for label, file_name in RUNS.items():
        evaluate(label, file_name, catalog)
    return live(args.live) if args.live > 0 else 0


if __name__ == "__main__":
    sys.exit(main())

"""The cost report on 10 million ledger rows: its time, against the same figures in pandas.

Generates the rows with DuckDB SQL (no Python loop) in a temporary ledger: a month (November
2026, UTC) of model calls, four per request, on local, subscription and API models, with
estimates, failures and cache hits, and one or two attempt outcomes per request. Then, in one
run, times:

- ``report``: :func:`frugalflow.money.report.cost_report` for the month (every row) and for one
  day, through :class:`CostLedger` as the CLI and the flow use it (its engine runs one thread);
- ``pandas``: the same figures (totals, the six breakdowns, cost per day and tier, the
  requests' validation figures, cache hits, the median estimate error) from DataFrames already
  in memory, money as exact integer units of 1e-8 dollars; and, apart, the time to load the two
  tables into pandas.

Each timing is the median of ``--runs`` runs; the pandas figures are checked equal to the
report's. The result is printed and written to bench/results/report_scale/<rows>.json.

    .venv/bin/python bench/report_scale.py [--rows 10000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from frugalflow.core.settings import Settings
from frugalflow.money.ledger import CostLedger
from frugalflow.money.report import CostReport, cost_report

RESULTS = Path(__file__).resolve().parent / "results" / "report_scale"
UNITS = 100_000_000  # money as integer units of 1e-8 dollars in pandas: sums are exact
MONTH_START = "2026-11-01 00:00:00+00"
SECONDS = 30 * 86_400

_CALLS = f"""
INSERT INTO model_calls
WITH g AS (
    SELECT i, i // 4 AS r, hash(i // 4) AS h, hash(i) AS hc FROM range(?) t(i))
SELECT
    'c' || i, TIMESTAMPTZ '{MONTH_START}' + to_seconds(CAST((r * 4 * {SECONDS}) // ? AS BIGINT)
        + CAST(i % 4 AS BIGINT)),
    NULL, 'r' || r, ['textkit', 'webapp', 'infra'][1 + CAST(h % 3 AS INTEGER)],
    CASE WHEN i % 4 = 3 THEN 'document' ELSE 'generate' END,
    prov, prov_model, tier,
    tin, tout, 0,
    CAST(cost * (0.6 + (hc % 80) / 100.0) AS DECIMAL(18, 8)),
    cost, 100 + CAST(hc % 900 AS BIGINT), hc % 50 <> 0, hc % 40 = 1, NULL, 'bench',
    ['code_generation', 'file_editing', 'documentation'][1 + CAST(h % 3 AS INTEGER)],
    tin, tout, NULL
FROM (
    SELECT *,
        ['llamacpp', 'openai', 'anthropic', 'claude-code'][1 + CAST(h % 4 AS INTEGER)] AS prov,
        ['qwen2.5-coder-0.5b-instruct', 'gpt-4o-mini', 'claude-sonnet-4', 'sonnet']
            [1 + CAST(h % 4 AS INTEGER)] AS prov_model,
        ['local', 'api', 'api', 'subscription'][1 + CAST(h % 4 AS INTEGER)] AS tier,
        CAST(200 + hc % 3000 AS BIGINT) AS tin, CAST(50 + hc % 800 AS BIGINT) AS tout,
        CASE WHEN h % 4 IN (1, 2) AND hc % 40 <> 1
            THEN CAST((200 + hc % 3000) * 0.0000025 + (50 + hc % 800) * 0.00001 AS DECIMAL(18, 8))
            ELSE CAST(0 AS DECIMAL(18, 8)) END AS cost
    FROM g)
"""

_OUTCOMES = f"""
INSERT INTO attempt_outcomes
WITH g AS (SELECT r, hash(r) AS h FROM range(?) t(r)),
a AS (
    SELECT r, h, 1 AS attempt, h % 10 < 7 AS passed FROM g
    UNION ALL SELECT r, h, 2, true FROM g WHERE h % 10 >= 7)
SELECT 'o' || r || '-' || attempt,
    TIMESTAMPTZ '{MONTH_START}' + to_seconds(CAST((r * 4 * {SECONDS}) // ? AS BIGINT) + 2),
    'r' || r, NULL, ['textkit', 'webapp', 'infra'][1 + CAST(h % 3 AS INTEGER)], attempt,
    CASE WHEN attempt = 2 THEN 'openai:gpt-4o'
        ELSE ['llamacpp:qwen2.5-coder-0.5b-instruct', 'openai:gpt-4o-mini',
              'anthropic:claude-sonnet-4', 'claude-code:sonnet'][1 + CAST(h % 4 AS INTEGER)] END,
    ['code_generation', 'file_editing', 'documentation'][1 + CAST(h % 3 AS INTEGER)],
    'python', 'simple', passed, false,
    CASE WHEN attempt = 2 THEN 1.25 WHEN h % 4 IN (1, 2) THEN 0.02 ELSE 0 END, 500, NULL, NULL
FROM a
"""


def generate(path: Path, rows: int) -> float:
    """Write ``rows`` model calls (and their outcomes) to a new ledger; the seconds it took."""
    began = time.perf_counter()
    CostLedger(path).replay_journal()  # creates the file on the current schema
    con = duckdb.connect(str(path))
    con.execute(_CALLS, [rows, rows])
    con.execute(_OUTCOMES, [(rows + 3) // 4, rows])
    con.close()
    return time.perf_counter() - began


def median_time(runs: int, work: Callable[[], Any]) -> tuple[float, Any]:
    """The median wall time of ``runs`` calls of ``work``, and its last result."""
    times, result = [], None
    for _ in range(runs):
        began = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def load_frames(path: Path) -> tuple[Any, Any]:
    """The two tables as DataFrames, money as integer units (what pandas would start from)."""
    con = duckdb.connect(str(path), read_only=True)
    calls = con.execute(
        f"""SELECT request_id, project, step, provider, provider || ':' || model AS model, tier,
            coalesce(task_type, 'unknown') AS task_type, ts, input_tokens, output_tokens,
            CAST(actual_cost_usd * {UNITS} AS BIGINT) AS cost,
            CAST(estimated_cost_usd * {UNITS} AS BIGINT) AS est,
            estimated_input_tokens IS NOT NULL AS estimated, success, cache_hit
        FROM model_calls"""
    ).df()
    outcomes = con.execute(
        f"""SELECT request_id, attempt, model, task_type, passed, ts,
            CAST(cost_usd * {UNITS} AS BIGINT) AS cost FROM attempt_outcomes"""
    ).df()
    con.close()
    return calls, outcomes


def pandas_figures(calls: Any, outcomes: Any, start: Any, end: Any) -> dict[str, Any]:
    """The report's main figures over ``start <= ts < end``, computed with pandas."""
    c = calls[(calls.ts >= start) & (calls.ts < end)]
    figures: dict[str, Any] = {
        "total": int(c.cost.sum()),
        "calls": len(c),
        "failed_calls_cost": int(c.cost[~c.success].sum()),
    }
    for name in ("provider", "model", "tier", "task_type", "project", "step"):
        grouped = c.groupby(name, observed=True).agg(
            cost=("cost", "sum"), calls=("cost", "size"), tin=("input_tokens", "sum")
        )
        figures[name] = {k: (int(v.cost), int(v.calls), int(v.tin)) for k, v in grouped.iterrows()}
    day = c.ts.dt.tz_convert("UTC").dt.date
    figures["trend"] = {(d, t): int(v) for (d, t), v in c.groupby([day, c.tier]).cost.sum().items()}
    hits = c[c.cache_hit].groupby(["provider", "model", "step"]).size()
    figures["cache_hits"] = int(hits.sum())
    priced = c[c.estimated & ~c.cache_hit].groupby("request_id")[["est", "cost"]].sum()
    priced = priced[priced.cost > 0]
    error = ((priced.est - priced.cost).abs() / priced.cost * 100).median()
    figures["estimate_error"] = round(float(error), 6)
    o = outcomes[(outcomes.ts >= start) & (outcomes.ts < end)]
    o = o.assign(failed_cost=o.cost.where(~o.passed, 0))
    per_request = o.groupby("request_id").agg(
        validated=("passed", "any"), models=("model", "nunique"), failed_cost=("failed_cost", "sum")
    )
    validated = int(per_request.validated.sum())
    first_pass = o[o.passed].sort_values("attempt").drop_duplicates("request_id")
    local = int(first_pass.model.str.startswith(("llamacpp:", "ollama:")).sum())
    figures |= {
        "requests": len(per_request),
        "validated": validated,
        "cost_per_validated": (Decimal(figures["total"]) / validated).quantize(Decimal(1)),
        "escalated": int((per_request.models > 1).sum()),
        "failed_attempts_cost": int(per_request.failed_cost.sum()),
        "validated_local": local,
    }
    return figures


def report_figures(report: CostReport) -> dict[str, Any]:
    """The same figures from the report, in pandas' units."""

    def units(value: Decimal) -> int:
        return int(value * UNITS)

    figures: dict[str, Any] = {
        "total": units(report.total_usd),
        "calls": report.calls,
        "failed_calls_cost": units(report.failed_calls_usd),
    }
    for name, rows in report.breakdown.items():
        figures[name] = {r.key: (units(r.cost_usd), r.calls, r.input_tokens) for r in rows}
    figures["trend"] = {
        (d.day, tier): units(cost) for d in report.trend for tier, cost in d.by_tier.items() if cost
    }
    figures["cache_hits"] = report.cache_hits
    figures["estimate_error"] = round(report.estimate_error_percent or 0.0, 6)
    figures |= {
        "requests": report.requests,
        "validated": report.validated,
        "cost_per_validated": units(report.cost_per_validated_usd or Decimal(0)),
        "escalated": report.escalated,
        "failed_attempts_cost": units(report.failed_attempts_usd),
        "validated_local": report.validated_local,
    }
    return figures


def differences(ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """The figures on which the report and pandas disagree (zero-cost trend cells aside)."""
    theirs = {**theirs, "trend": {k: v for k, v in theirs["trend"].items() if v}}
    return [key for key in ours if ours[key] != theirs.get(key)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    import pandas as pd

    scratch = Path(tempfile.mkdtemp(prefix="frugalflow-bench-report-"))
    path = scratch / "ledger.duckdb"
    settings = Settings(ledger_path=path, home=scratch, timezone="UTC")
    ledger = CostLedger(path)
    print(f"generating {args.rows:,} model calls in {path} ...", flush=True)
    generated = generate(path, args.rows)
    size = path.stat().st_size
    print(f"  {generated:.1f} s, {size / 2**20:.0f} MiB", flush=True)

    month_s, month = median_time(
        args.runs, lambda: cost_report(ledger, settings, "month", date(2026, 11, 30))
    )
    day_s, _day = median_time(
        args.runs, lambda: cost_report(ledger, settings, "day", date(2026, 11, 15))
    )
    load_s, (calls, outcomes) = median_time(1, lambda: load_frames(path))
    start, end = pd.Timestamp(month.start), pd.Timestamp(month.end)
    pandas_s, theirs = median_time(args.runs, lambda: pandas_figures(calls, outcomes, start, end))
    mismatched = differences(report_figures(month), theirs)
    result = {
        "rows": args.rows,
        "outcome_rows": len(outcomes),
        "runs": args.runs,
        "ledger_mib": round(size / 2**20, 1),
        "generate_seconds": round(generated, 2),
        "report_month_seconds": round(month_s, 3),
        "report_day_seconds": round(day_s, 3),
        "pandas_month_seconds": round(pandas_s, 3),
        "pandas_load_seconds": round(load_s, 3),
        "ratio_pandas_over_report": round(pandas_s / month_s, 2),
        "ratio_pandas_with_load_over_report": round((pandas_s + load_s) / month_s, 2),
        "figures_agree": not mismatched,
        "mismatched": mismatched,
        "target_seconds": 5.0,
        "python": sys.version.split()[0],
        "duckdb": duckdb.__version__,
        "pandas": pd.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
    for key, value in result.items():
        print(f"{key:36} {value}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{args.rows}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")
    for leftover in scratch.iterdir():
        leftover.unlink()
    scratch.rmdir()
    return 0 if not mismatched else 1


if __name__ == "__main__":
    sys.exit(main())

"""Trigger the ``codegen/codegen`` deployment through the Prefect API and wait for its result.

    python deployments/trigger_codegen.py /path/to/repo "Add a function count_words(text) ..."

Needs PREFECT_API_URL pointing at the server the deployment lives on, and a worker polling
the ``frugalflow`` pool (see prefect.yaml). Exits as the CLI does: 0 committed, 1 failed,
75 deferred (kept, and re-run by the rerun-deferred deployment once the budget allows).
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect.deployments import run_deployment

from frugalflow import CodeResult


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    repo, description = Path(sys.argv[1]).expanduser().resolve(), sys.argv[2]
    flow_run = run_deployment(
        "codegen/codegen",
        parameters={"request": {"description": description, "repo": str(repo)}},
        timeout=900,
    )
    state = flow_run.state
    print(f"{flow_run.name}: {state.name if state else 'no state yet (timed out?)'}")
    if state is None or not state.is_final():
        return 1
    # Completed, Failed or Deferred: the CodeResult is there in each case. A run that failed
    # before the flow started (a bad parameter) has the error instead.
    result = state.result(raise_on_failure=False)
    if not isinstance(result, CodeResult):
        print(state.message or result, file=sys.stderr)
        return 1
    print(f"{result.status.value}: {result.reason}")
    print(f"cost ${result.cost_usd:.4f}, {result.attempts} attempt(s)")
    if result.branch:
        print(f"see it: git -C {repo} show {result.branch}")
    return {"completed": 0, "deferred": 75}.get(result.status.value, 1)


if __name__ == "__main__":
    raise SystemExit(main())

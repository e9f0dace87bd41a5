"""Trigger the ``codegen/codegen`` deployment through the Prefect API and wait for its result.

    python deployments/trigger_codegen.py /path/to/repo "Add a function count_words(text) ..."

Needs PREFECT_API_URL pointing at the server the deployment lives on, and a worker polling
the ``frugalflow`` pool (see prefect.yaml).
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect.deployments import run_deployment


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    repo, description = Path(sys.argv[1]).resolve(), sys.argv[2]
    flow_run = run_deployment(
        "codegen/codegen",
        parameters={"request": {"description": description, "repo": str(repo)}},
        timeout=900,
    )
    state = flow_run.state
    print(f"{flow_run.name}: {state.name if state else 'unknown'}")
    if state is not None and state.message:
        print(state.message)
    return 0 if state is not None and state.is_completed() else 1


if __name__ == "__main__":
    raise SystemExit(main())

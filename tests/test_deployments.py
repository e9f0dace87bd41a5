"""prefect.yaml describes deployments that Prefect can actually load."""

from __future__ import annotations

from pathlib import Path

import yaml
from prefect.flows import load_flow_from_entrypoint

from frugalflow.flows.codegen import codegen

PROJECT = Path(__file__).resolve().parent.parent


def test_every_deployment_entrypoint_loads_the_flow_it_names() -> None:
    config = yaml.safe_load((PROJECT / "prefect.yaml").read_text())
    entrypoints = {d["name"]: d["entrypoint"] for d in config["deployments"]}
    assert entrypoints == {
        "codegen": "src/frugalflow/flows/codegen.py:codegen",
        "rerun-deferred": "src/frugalflow/flows/deferred.py:rerun_deferred",
        "nightly-cost-report": "src/frugalflow/flows/report.py:cost_report",
    }
    for name, entrypoint in entrypoints.items():
        # Each deployment is named after the flow it runs, but the report's after its schedule.
        flow_name = {"nightly-cost-report": "cost-report"}.get(name, name)
        assert load_flow_from_entrypoint(str(PROJECT / entrypoint)).name == flow_name
    loaded = load_flow_from_entrypoint(str(PROJECT / entrypoints["codegen"]))
    assert loaded is not None and loaded.name == codegen.name
    # The UI builds its run form from this schema: the request must be one typed parameter.
    schema = loaded.parameters.model_dump()
    assert schema["required"] == ["request"]


def test_the_pull_step_uses_an_absolute_working_directory() -> None:
    config = yaml.safe_load((PROJECT / "prefect.yaml").read_text())
    [step] = config["pull"]
    directory = step["prefect.deployments.steps.set_working_directory"]["directory"]
    assert directory == "{{ $PWD }}"  # a relative "." fails: the worker runs in a temp dir

"""The cost-report flow under a real Prefect server: its artifacts read back through the client,
its files, the date it reports by default, and its deployment in prefect.yaml."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo, available_timezones

import pytest
import yaml

from frugalflow.core.schemas import Tier
from frugalflow.money.ledger import CostLedger, ModelCall
from frugalflow.money.outcomes import AttemptOutcome, record_outcome

PROJECT = Path(__file__).resolve().parent.parent
PARIS = ZoneInfo("Europe/Paris")


def book(ledger: Path) -> None:
    """Two paid calls and a local one on 2 and 3 December 2026 (Paris), one request validated."""
    costs = [
        ("openai", "gpt-4o-mini", Tier.API, "0.25", 2),
        ("llamacpp", "qwen", Tier.LOCAL, "0", 3),
    ]
    CostLedger(ledger).record_many(
        [
            ModelCall(
                ts=datetime(2026, 12, day, 23, 30, tzinfo=PARIS),
                request_id=f"r{day}",
                project="textkit",
                step="generate",
                provider=provider,
                model=model,
                tier=tier,
                input_tokens=100,
                output_tokens=10,
                actual_cost_usd=Decimal(cost),
            )
            for provider, model, tier, cost, day in [*costs, ("openai", "gpt-4o", Tier.API, "1", 3)]
        ]
    )
    record_outcome(
        CostLedger(ledger),
        AttemptOutcome(
            ts=datetime(2026, 12, 3, 23, 31, tzinfo=PARIS),
            request_id="r3",
            project="textkit",
            attempt=1,
            model="llamacpp:qwen",
            task_type="code_generation",  # type: ignore[arg-type]
            language="python",
            complexity="simple",  # type: ignore[arg-type]
            passed=True,
        ),
    )


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_the_flow_publishes_its_artifacts_and_writes_its_files(
    ledger_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from frugalflow.flows.report import cost_report
    from frugalflow.tasks.report import CostReportRun

    monkeypatch.setenv("FRUGALFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FRUGALFLOW_TIMEZONE", "Europe/Paris")
    book(ledger_path)

    first = cost_report(period="week", date=date(2026, 12, 3))
    state = cost_report(period="week", date=date(2026, 12, 3), return_state=True)
    again = state.result()
    assert isinstance(first, CostReportRun) and isinstance(again, CostReportRun)
    assert again.report.total_usd == Decimal("1.25")
    assert again.report.validated == 1 and again.report.local_share == 1.0
    reports = tmp_path / "home" / "reports"
    assert again.html_path == reports / "cost-report-week-2026-12-03.html"
    assert again.markdown_path.read_text().startswith("# Cost report: week ending 2026-12-03")
    assert 'src="data:image/png;base64,' in again.html_path.read_text()

    keys = ["cost-report-week", "cost-report-week-table", "cost-report-week-chart"]

    async def read() -> list[object]:
        async with get_client() as client:
            return list(
                await client.read_artifacts(
                    artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys))
                )
            )

    async def run_name() -> str:
        async with get_client() as client:
            return (await client.read_flow_run(state.state_details.flow_run_id)).name  # type: ignore[arg-type]

    assert asyncio.run(run_name()) == "week to 2026-12-03"
    artifacts = asyncio.run(read())
    run_id = state.state_details.flow_run_id
    mine = {a.key: a for a in artifacts if a.flow_run_id == run_id}  # type: ignore[attr-defined]
    assert set(mine) == set(keys)
    markdown = str(mine["cost-report-week"].data)  # type: ignore[attr-defined]
    assert "![daily spend by tier](data:image/png;base64," in markdown
    assert "| openai:gpt-4o | $1.00 | 1 | 100 | 10 |" in markdown
    rows = json.loads(mine["cost-report-week-table"].data)  # type: ignore[attr-defined]
    tiers = {r["value"]: r["cost_usd"] for r in rows if r["dimension"] == "tier"}
    assert tiers == {"api": "1.25", "local": "0"}
    chart = mine["cost-report-week-chart"]
    assert chart.type == "image"  # type: ignore[attr-defined]
    assert str(chart.data).startswith("data:image/png;base64,")  # type: ignore[attr-defined]
    # Stable keys: each run adds a version, and the UI shows the history.
    assert sum(1 for a in artifacts if a.key == "cost-report-week") >= 2  # type: ignore[attr-defined]


def test_the_default_date_is_the_last_complete_local_day() -> None:
    from frugalflow.tasks.report import report_date

    nightly = datetime(2026, 12, 4, 0, 5, tzinfo=PARIS)
    assert report_date(None, nightly, "Europe/Paris") == date(2026, 12, 3)
    # The same moment is still the 3rd in New York: the 2nd is its last complete day.
    assert report_date(None, nightly, "America/New_York") == date(2026, 12, 2)
    assert report_date(date(2026, 1, 1), nightly, "UTC") == date(2026, 1, 1)
    assert report_date(None, datetime(2026, 3, 1, 0, 5, tzinfo=UTC), "UTC") == date(2026, 2, 28)


def test_prefect_yaml_schedules_the_nightly_report() -> None:
    from prefect.flows import load_flow_from_entrypoint

    config = yaml.safe_load((PROJECT / "prefect.yaml").read_text())
    [nightly] = [d for d in config["deployments"] if d["name"] == "nightly-cost-report"]
    assert nightly["entrypoint"] == "src/frugalflow/flows/report.py:cost_report"
    flow = load_flow_from_entrypoint(str(PROJECT / nightly["entrypoint"]))
    assert flow.name == "cost-report"
    [schedule] = nightly["schedules"]
    minute, hour, *rest = schedule["cron"].split()
    assert (int(minute), int(hour), rest) == (5, 0, ["*", "*", "*"])  # just after midnight
    assert schedule["timezone"] in available_timezones()
    # Its parameters are the flow's own, and valid for it.
    properties = flow.parameters.model_dump()["properties"]
    assert set(nightly["parameters"]) <= set(properties)
    assert nightly["parameters"]["period"] in properties["period"]["enum"]
    assert "Empty: the day before" in properties["date"]["description"]  # the UI form says so
    assert nightly["work_pool"]["name"] == "frugalflow"

"""The cost-report flow: where the money went, published where people look.

Scheduled nightly by prefect.yaml's ``nightly-cost-report`` deployment, and safe to run by hand
(from the UI: period and date). It computes the report (:mod:`frugalflow.money.report`), writes
the HTML page and the markdown under ``<home>/reports``, and publishes three artifacts with
stable keys, so that the UI's Artifacts page keeps their history:

- ``cost-report-<period>``: markdown, the tables and the chart (embedded as a data URI);
- ``cost-report-<period>-table``: the breakdowns as a table;
- ``cost-report-<period>-chart``: the chart alone, an image artifact (a data URI too).
"""

from __future__ import annotations

import logging
from datetime import date as Date
from typing import Literal

from prefect import flow
from prefect.artifacts import (
    create_image_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.runtime import flow_run

from frugalflow.tasks.report import (
    CHART_ALT,
    CostReportRun,
    build_report,
    report_date,
    settings,
)

logger = logging.getLogger("frugalflow.report")


def artifact_key(period: str) -> str:
    """The markdown artifact's key; the table's and the chart's add ``-table`` and ``-chart``."""
    return f"cost-report-{period}"


def _flow_run_name() -> str:
    """``day 2026-12-02``, ``week to 2026-12-02``: the period and its last day, so that the
    nightly runs can be told apart in the UI's list."""
    period = str(flow_run.parameters.get("period") or "day")
    requested = flow_run.parameters.get("date")
    try:
        if isinstance(requested, str):
            requested = Date.fromisoformat(requested)
        last = report_date(requested, flow_run.scheduled_start_time, settings().timezone)
    except (TypeError, ValueError):  # a bad date: the flow's own validation reports it
        return f"cost report, {period}"
    return f"{period} {last.isoformat()}" if period == "day" else f"{period} to {last.isoformat()}"


@flow(name="cost-report", flow_run_name=_flow_run_name)
def cost_report(
    period: Literal["day", "week", "month"] = "day",
    date: Date | None = None,
) -> CostReportRun:
    """Compute the cost report, write its files, and publish it as artifacts.

    Args:
        period: day, week (the seven days ending on the date) or month (the month to date).
        date: the period's last day, in the budget timezone. Empty: the day before the run's
            scheduled start (the nightly run reports the day that just ended).

    Returns:
        The report and the paths of its HTML and markdown files.
    """
    current = settings()
    reference = report_date(date, flow_run.scheduled_start_time, current.timezone)
    timed = build_report(current, period, reference)
    report, rendered = timed.value
    key = artifact_key(period)
    what = f"cost report, {period} ending {reference.isoformat()}"
    create_markdown_artifact(key=key, markdown=rendered.markdown, description=what)
    create_table_artifact(key=f"{key}-table", table=rendered.rows, description=f"{what}: spend")
    create_image_artifact(
        image_url=rendered.chart_uri, key=f"{key}-chart", description=f"{what}: {CHART_ALT}"
    )
    logger.info(
        "%s: %s spent over %d call(s); written to %s",
        what,
        report.total_usd,
        report.calls,
        rendered.html_path,
    )
    return CostReportRun(
        report=report, html_path=rendered.html_path, markdown_path=rendered.markdown_path
    )

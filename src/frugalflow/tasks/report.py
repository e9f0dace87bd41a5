"""The cost-report flow's steps: compute the report, draw it, write its files.

Thin tasks over :mod:`frugalflow.money.report` and :mod:`frugalflow.money.report_render`; the
flow publishes the artifacts from what these return.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict

from frugalflow.core.settings import Settings, load_settings
from frugalflow.money.ledger import CostLedger
from frugalflow.money.report import CostReport, Period, cost_report, today_in
from frugalflow.money.report_render import (
    CHART_ALT,
    chart_png,
    data_uri,
    render_markdown,
    reports_dir,
    table_rows,
    write_report_files,
)
from frugalflow.tasks import step

__all__ = [
    "CHART_ALT",
    "CostReport",
    "CostReportRun",
    "RenderedReport",
    "build_report",
    "report_date",
    "settings",
]


class CostReportRun(BaseModel):
    """What a cost-report flow run returns: the report and the files it wrote.

    Attributes:
        report: the report.
        html_path: the self-contained HTML page.
        markdown_path: the markdown file.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    report: CostReport
    html_path: Path
    markdown_path: Path


class RenderedReport(NamedTuple):
    """What the flow publishes and where the files went.

    Attributes:
        markdown: the report's markdown, the chart embedded as a data URI.
        rows: the breakdowns as table-artifact rows.
        chart_uri: the chart as a ``data:image/png;base64`` URI.
        html_path: the HTML file written.
        markdown_path: the markdown file written.
    """

    markdown: str
    rows: list[dict[str, str | int]]
    chart_uri: str
    html_path: Path
    markdown_path: Path


def settings() -> Settings:
    """The settings the flow runs with (the worker's environment and config files)."""
    return load_settings()


def report_date(requested: date | None, scheduled: datetime | None, timezone: str) -> date:
    """The period's last day: the one asked for, else the local day before the run's
    scheduled start (the nightly run at 00:05 reports the day that just ended)."""
    if requested is not None:
        return requested
    return today_in(timezone, scheduled) - timedelta(days=1)


def compute_and_render(
    settings: Settings, period: Period, reference: date
) -> tuple[CostReport, RenderedReport]:
    """The report of ``period`` ending on ``reference``, rendered and written to its files."""
    report = cost_report(CostLedger(settings.ledger_file), settings, period, reference)
    png = chart_png(report)
    files = write_report_files(report, reports_dir(settings), png)
    rendered = RenderedReport(
        markdown=render_markdown(report, png),
        rows=table_rows(report),
        chart_uri=data_uri(png),
        html_path=files.html,
        markdown_path=files.markdown,
    )
    return report, rendered


build_report = step("cost report")(compute_and_render)

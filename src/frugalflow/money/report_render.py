"""The cost report for people: markdown, table rows, a chart, and a self-contained HTML page.

Every rendering is built from one list of :class:`Section` (:func:`sections`), so the markdown
artifact, the HTML file and the terminal show the same tables. The chart (daily spend by tier,
stacked bars) is drawn with matplotlib's Agg canvas, imported only when a chart is drawn, and
embedded as a ``data:`` URI: the HTML page needs no other file and no network.

Files go under :func:`reports_dir` (``<home>/reports``), named after the period and its last
day (``cost-report-day-2026-12-03.html`` and ``.md``), each written to a temporary file and
renamed into place, so a reader never sees half a report.
"""

from __future__ import annotations

import base64
import html
import io
import os
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from frugalflow.core.settings import Settings
from frugalflow.money.budget import usd
from frugalflow.money.report import DIMENSIONS, CostReport

TIER_COLOURS = {"local": "#2e7d32", "subscription": "#1565c0", "api": "#e65100"}
CHART_ALT = "daily spend by tier"


class Section(NamedTuple):
    """One part of the report: a title, lines of text, and a table (possibly empty).

    Attributes:
        title: the heading.
        lines: sentences shown before the table.
        headers: the table's column names; empty for no table.
        rows: the table's cells, as text.
    """

    title: str
    lines: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _money(value: Decimal | None) -> str:
    return "n/a" if value is None else usd(value)


def title(report: CostReport) -> str:
    """The report's title, e.g. ``Cost report: week ending 2026-12-03 (Europe/Paris)``."""
    return (
        f"Cost report: {report.period} ending {report.reference_date.isoformat()} "
        f"({report.timezone})"
    )


def sections(report: CostReport) -> list[Section]:
    """The report as titled tables, in reading order."""
    error = (
        "n/a (no request with an estimate cost money)"
        if report.estimate_error_percent is None
        else f"{report.estimate_error_percent:.1f}% over {report.estimated_requests} request(s)"
    )
    summary: tuple[tuple[str, str], ...] = (
        ("period", f"{report.days[0].isoformat()} to {report.days[-1].isoformat()}"),
        ("spent", usd(report.total_usd)),
        ("model calls", str(report.calls)),
        ("tokens in / out", f"{report.input_tokens} / {report.output_tokens}"),
        ("failed calls", f"{report.failed_calls} ({usd(report.failed_calls_usd)})"),
        ("requests attempted / validated", f"{report.requests} / {report.validated}"),
        ("cost per validated task", _money(report.cost_per_validated_usd)),
        ("local share of validated tasks", _percent(report.local_share)),
        ("escalation rate", _percent(report.escalation_rate)),
        (
            "attempts that failed validation",
            f"{report.failed_attempts} ({usd(report.failed_attempts_usd)})",
        ),
        ("cache hits (money saved)", f"{report.cache_hits} ({usd(report.cache_saved_usd)})"),
        ("estimate error (median abs.)", error),
        ("month to date", usd(report.month_to_date_usd)),
        ("month-end forecast", usd(report.forecast_month_usd)),
        ("forecast with subscriptions", usd(report.forecast_with_subscriptions_usd)),
    )
    if report.cached_tokens or report.cache_write_tokens or report.reasoning_tokens:
        summary += (
            (
                "prompt-cache reads / writes, reasoning",
                f"{report.cached_tokens} / {report.cache_write_tokens}, "
                f"{report.reasoning_tokens} tokens",
            ),
            ("money saved by prompt caching", usd(report.prompt_cache_saved_usd)),
        )
    if report.machine_usd:
        summary += (
            ("local machine time", usd(report.machine_usd)),
            (
                "cost per validated task with the machine",
                _money(report.cost_per_validated_with_machine_usd),
            ),
        )
    if report.monthly_budget_usd is not None:
        over = report.forecast_month_usd - report.monthly_budget_usd
        verdict = f"forecast over by {usd(over)}" if over > 0 else "forecast within it"
        summary += (("monthly budget", f"{usd(report.monthly_budget_usd)} ({verdict})"),)
    found = [Section("Summary", report.notes, ("figure", "value"), summary)]
    found.append(
        Section(
            "Budget windows",
            headers=("window", "limit", "spent", "used"),
            rows=tuple(
                (w.key, usd(w.limit_usd), usd(w.spent_usd), _percent(w.used))
                for w in report.windows
            ),
        )
    )
    tiers = tuple(report.trend[0].by_tier) if report.trend else ()
    found.append(
        Section(
            "Daily spend by tier",
            headers=("day", *tiers, "total"),
            rows=tuple(
                (d.day.isoformat(), *(usd(d.by_tier[t]) for t in tiers), usd(d.total_usd))
                for d in report.trend
            ),
        )
    )
    for name in DIMENSIONS:
        rows = report.breakdown.get(name, ())
        found.append(
            Section(
                f"By {name.replace('_', ' ')}",
                lines=() if rows else ("no calls",),
                headers=(name, "cost", "calls", "tokens in", "tokens out") if rows else (),
                rows=tuple(
                    (
                        r.key,
                        usd(r.cost_usd),
                        str(r.calls),
                        str(r.input_tokens),
                        str(r.output_tokens),
                    )
                    for r in rows
                ),
            )
        )
    if report.subscriptions_usd:
        found.append(
            Section(
                "Subscriptions (amortised)",
                headers=("subscription", "per day", "over the period"),
                rows=tuple(
                    (name, usd(report.subscriptions_per_day_usd[name]), usd(total))
                    for name, total in report.subscriptions_usd.items()
                ),
            )
        )
    found.append(
        Section(
            "Recommendations",
            lines=tuple(r.message for r in report.recommendations) or ("none: nothing to change",),
        )
    )
    return found


def table_rows(report: CostReport) -> list[dict[str, str | int]]:
    """The breakdowns as one table (a row per dimension and value), for a table artifact."""
    return [
        {
            "dimension": name,
            "value": row.key,
            "cost_usd": format(row.cost_usd.normalize(), "f"),
            "calls": row.calls,
            "input_tokens": row.input_tokens,
            "output_tokens": row.output_tokens,
        }
        for name in DIMENSIONS
        for row in report.breakdown.get(name, ())
    ]


def chart_note(report: CostReport) -> str | None:
    """What the chart says instead of bars when no day of the period cost anything."""
    if any(d.total_usd for d in report.trend):
        return None
    if report.calls:
        calls = f"{report.calls} model call" + ("s" if report.calls != 1 else "")
        return f"No spend: {calls}, all free (local or subscription)"
    return "No spend: no model call in this period"


def chart_png(report: CostReport) -> bytes:
    """Daily spend by tier as stacked bars, a PNG.

    matplotlib is imported here, with its Agg canvas (no display, no pyplot state).
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(max(6.0, 0.35 * len(report.trend) + 3), 3.6), dpi=100)
    axes = figure.subplots()
    labels = [d.day.strftime("%m-%d") for d in report.trend]
    bottom = [0.0] * len(report.trend)
    tiers = list(report.trend[0].by_tier) if report.trend else []
    for tier in tiers:
        values = [float(d.by_tier[tier]) for d in report.trend]
        axes.bar(labels, values, bottom=bottom, label=tier, color=TIER_COLOURS.get(tier))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes.set_title(f"Daily spend by tier, {report.timezone}")
    axes.set_ylabel("USD")
    note = chart_note(report)
    if note:
        axes.set_ylim(0, 1)
        axes.text(0.5, 0.5, note, transform=axes.transAxes, ha="center", va="center")
    else:
        axes.legend(loc="upper left", fontsize="small")
    if len(labels) > 10:
        axes.tick_params(axis="x", labelrotation=60, labelsize="small")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    """A PNG as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: CostReport, png: bytes | None = None) -> str:
    """The report as markdown tables, with the chart embedded as a data URI when given."""
    out = [f"# {title(report)}", ""]
    if png is not None:
        out += [f"![{CHART_ALT}]({data_uri(png)})", ""]
    for section in sections(report):
        out += [f"## {section.title}", ""]
        out += [f"- {_cell(line)}" for line in section.lines]
        if section.lines:
            out.append("")
        if section.headers:
            out.append("| " + " | ".join(section.headers) + " |")
            out.append("|" + "|".join("---" for _ in section.headers) + "|")
            out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in section.rows]
            out.append("")
    return "\n".join(out)


_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:70em}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.25em .6em}
th{background:#f3f3f3;text-align:left}td{text-align:right}td:first-child{text-align:left}
img{max-width:100%}"""


def render_html(report: CostReport, png: bytes | None = None) -> str:
    """The report as one self-contained HTML page (inline style, chart as a data URI)."""
    esc = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title(report))}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{esc(title(report))}</h1>",
    ]
    if png is not None:
        out.append(f'<img alt="{CHART_ALT}" src="{data_uri(png)}">')
    for section in sections(report):
        out.append(f"<h2>{esc(section.title)}</h2>")
        out += [f"<p>{esc(line)}</p>" for line in section.lines]
        if section.headers:
            out.append("<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in section.headers))
            out += [
                "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>"
                for row in section.rows
            ]
            out.append("</table>")
    out.append(f"<p><small>generated {report.generated_at.isoformat()} from {esc(report.ledger)}")
    out.append("</small></p></body></html>")
    return "\n".join(out) + "\n"


def reports_dir(settings: Settings) -> Path:
    """Where report files go: ``<home>/reports``."""
    return settings.home / "reports"


def report_name(report: CostReport) -> str:
    """The files' name without suffix: ``cost-report-<period>-<last day>``."""
    return f"cost-report-{report.period}-{report.reference_date.isoformat()}"


class ReportFiles(NamedTuple):
    """The files a report was written to."""

    html: Path
    markdown: Path


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # a report is for people to read (mkstemp makes it 0600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_report_files(
    report: CostReport, directory: Path, png: bytes | None = None
) -> ReportFiles:
    """Write the HTML page and the markdown of ``report`` under ``directory``.

    Args:
        report: the report.
        directory: where the files go (created if needed).
        png: the chart, embedded in both; none drawn when None.

    Returns:
        The two paths.

    Raises:
        OSError: a file cannot be written.
    """
    name = report_name(report)
    files = ReportFiles(directory / f"{name}.html", directory / f"{name}.md")
    write_atomically(files.html, render_html(report, png))
    write_atomically(files.markdown, render_markdown(report, png))
    return files

"""``frugalflow report``: the cost report in the terminal, without Prefect.

It computes the report directly from the ledger (:mod:`frugalflow.money.report`), as the
``cost-report`` flow does, and never imports Prefect: it answers in the time a ledger read takes.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from frugalflow.cli.money import AsJson, print_json
from frugalflow.cli.output import ConfigRepo, WholeTable, console, fail
from frugalflow.core.errors import FrugalflowError

if TYPE_CHECKING:
    from frugalflow.money.report import CostReport, Period


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date like 2026-12-03") from None


def report(
    day: Annotated[bool, typer.Option("--day", help="The day (the default).")] = False,
    week: Annotated[
        bool, typer.Option("--week", help="The seven days ending on the date.")
    ] = False,
    month: Annotated[
        bool, typer.Option("--month", help="The month to date, up to the date.")
    ] = False,
    on: Annotated[
        str | None,
        typer.Option(
            "--date",
            metavar="YYYY-MM-DD",
            help="The period's last day, in the budget timezone (default: today there).",
        ),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Also write the HTML page (with its chart) and its markdown: to this .html "
            "file, or into this directory under the report's own name.",
        ),
    ] = None,
    repo: ConfigRepo = None,
    as_json: AsJson = False,
) -> None:
    """Show where the money went: budgets, models, tiers, validated tasks, forecast, advice."""
    from frugalflow.core.settings import load_settings
    from frugalflow.money.ledger import CostLedger
    from frugalflow.money.report import cost_report

    chosen = [name for name, flag in (("day", day), ("week", week), ("month", month)) if flag]
    if len(chosen) > 1:
        raise fail(f"choose one period, not {' and '.join('--' + c for c in chosen)}")
    period: Period = "week" if week else "month" if month else "day"
    reference = _day(on)
    try:
        settings = load_settings(repo)
        made = cost_report(CostLedger(settings.ledger_file), settings, period, reference)
    except FrugalflowError as exc:
        raise fail(str(exc)) from None
    written = _write_html(made, html) if html is not None else None
    if as_json:
        print_json(
            {
                **made.model_dump(),
                "empty": made.empty,
                "files": None if written is None else [str(path) for path in written],
            }
        )
        return
    _print(made)
    if written is not None:
        console.print(f"written to {written[0]} and {written[1]}", highlight=False)


def _write_html(made: CostReport, target: Path) -> tuple[Path, Path]:
    """Write the HTML (and markdown) of the report; the paths written."""
    from frugalflow.money.report_render import (
        chart_png,
        render_html,
        render_markdown,
        report_name,
        write_atomically,
    )

    # A directory (existing, or a path without a suffix) gets the report's own file name.
    as_directory = target.is_dir() or not target.suffix
    page = target / f"{report_name(made)}.html" if as_directory else target
    markdown = page.with_suffix(".md")
    png = chart_png(made)
    try:
        write_atomically(page, render_html(made, png))
        write_atomically(markdown, render_markdown(made, png))
    except OSError as exc:
        raise fail(f"cannot write the report to {page}: {exc}") from None
    return page, markdown


def _print(made: CostReport) -> None:
    from frugalflow.money.report_render import sections, title

    console.print(f"[bold]{escape(title(made))}[/]", highlight=False)
    for section in sections(made):
        if section.headers:
            table = WholeTable(title=section.title, title_justify="left")
            for index, header in enumerate(section.headers):
                table.add_column(header, justify="left" if index == 0 else "right")
            for row in section.rows:
                table.add_row(*(escape(cell) for cell in row))
            console.print(table)
        else:
            console.print(f"[bold]{escape(section.title)}[/]", highlight=False)
        for line in section.lines:
            console.print(f"  {escape(line)}", highlight=False)
    console.print(
        f"generated {datetime.now().astimezone():%Y-%m-%d %H:%M} from {made.ledger}",
        highlight=False,
    )

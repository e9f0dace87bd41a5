"""``frugalflow doctor``: check this machine's frugalflow state, repair what killed runs left."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from frugalflow.cli.output import EXIT_FAILED, console, settings_or_exit
from frugalflow.core.errors import FrugalflowError


def doctor(
    repo: Annotated[
        Path | None,
        typer.Option(help="Also check this repository for worktrees of runs that died."),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Only report; repair nothing.")] = False,
) -> None:
    """Check this machine's frugalflow state and repair what a killed run left behind.

    Stale worktrees and temp directories of runs that no longer exist are removed (never the
    user's own worktrees, never a live run's), expired budget reservations are released, and
    the ledger and sandbox are checked. Exit 0 when all is well (after repairs), 1 otherwise.
    """
    from frugalflow.money.budget import BudgetManager
    from frugalflow.money.ledger import CostLedger
    from frugalflow.placement.repository import WorkRepository
    from frugalflow.placement.rundirs import remove_run_directory, run_directories
    from frugalflow.validation import sandbox

    settings = settings_or_exit(repo)
    problems = 0

    def report(ok: bool, line: str) -> None:
        nonlocal problems
        problems += not ok
        mark = "[green]ok[/]" if ok else "[red]problem[/]"
        console.print(f"{mark}  {escape(line)}", highlight=False)

    stale = [run for run in run_directories() if run.owner.is_dead()]
    repos = {run.repo for run in stale if run.repo.is_dir()} | ({repo.resolve()} if repo else set())
    for path in sorted(repos):
        try:
            work = WorkRepository(path)
        except FrugalflowError as exc:
            asked = repo is not None and path == repo.resolve()  # else a dead run's, now gone
            report(not asked, f"{path}: not checked ({exc})")
            continue
        try:
            leftovers = [w for w in work.frugalflow_worktrees() if w.owner.is_dead()]
            if not dry_run:
                work.remove_stale_worktrees()
        except FrugalflowError as exc:
            report(False, f"{path}: cannot check its worktrees ({exc})")
            continue
        finally:
            work.close()
        for worktree in leftovers:
            done = "would remove" if dry_run else "removed"
            report(not dry_run, f"{done} the worktree {worktree.path} of a dead run, in {path}")
        if not leftovers:
            report(True, f"{path}: no worktree of a dead frugalflow run")
    for run in stale:
        if run.path.exists():
            removed = not dry_run and remove_run_directory(run.path)
            what = "removed" if removed else "would remove" if dry_run else "could not remove"
            report(removed, f"{what} the temp directory {run.path} of a dead run")
    if not stale:
        report(True, "no temp directory of a dead frugalflow run")

    cost_ledger = CostLedger(settings.ledger_file)
    try:
        version = cost_ledger.schema_version()
        if version == 0:
            report(True, f"ledger {settings.ledger_file}: not created yet (the first run does)")
        else:
            report(True, f"ledger {settings.ledger_file}: readable, schema {version}")
            manager = BudgetManager(cost_ledger, settings)
            if dry_run:
                now = manager.now()
                active = manager.reservations(state="active")
                expired = [r for r in active if r.expires_at <= now]
                report(not expired, f"{len(expired)} expired reservation(s) to release")
            else:
                released = manager.expire_stale()
                report(True, f"released {released} expired reservation(s) of crashed runs")
    except FrugalflowError as exc:
        report(False, f"ledger {settings.ledger_file}: {exc}")

    why_not = sandbox.unavailable_reason()
    report(why_not is None, f"sandbox: {why_not or 'available'}")
    if problems:
        raise typer.Exit(EXIT_FAILED)

"""``frugalflow providers`` and ``frugalflow models pull``: which models can be used, and
getting the local ones."""

from __future__ import annotations

from rich.markup import escape

from frugalflow.cli.output import (
    EXIT_FAILED,
    ConfigRepo,
    WholeTable,
    console,
    fail,
    settings_or_exit,
)
from frugalflow.core.errors import FrugalflowError


def providers(
    repo: ConfigRepo = None,
) -> None:
    """List every provider, whether it is usable now, and why not."""
    from frugalflow.core.models import PROVIDER_TIERS
    from frugalflow.providers import get_provider

    settings = settings_or_exit(repo)
    table = WholeTable(title="providers", title_justify="left")
    for column in ("provider", "tier", "usable", "in cascade", "why"):
        table.add_column(column, overflow="fold")
    for name, tier in PROVIDER_TIERS.items():
        availability = get_provider(name, settings).availability()
        cascade = [model for model in settings.models if model.startswith(f"{name}:")]
        table.add_row(
            name,
            tier.value,
            "[green]yes[/]" if availability.usable else "[red]no[/]",
            ", ".join(cascade),
            escape(availability.reason),
        )
    console.print(table)


def models_pull(
    repo: ConfigRepo = None,
) -> None:
    """Pull the Ollama models named in the 'models' setting onto the Ollama server."""
    from rich.progress import DownloadColumn, Progress, TaskID

    from frugalflow.providers.ollama import OllamaProvider

    settings = settings_or_exit(repo)
    wanted = [model.split(":", 1)[1] for model in settings.models if model.startswith("ollama:")]
    if not wanted:
        console.print("no ollama models in the 'models' setting; nothing to pull")
        return
    provider = OllamaProvider(settings)
    with Progress(*Progress.get_default_columns(), DownloadColumn(), console=console) as progress:
        for model in wanted:
            bar: TaskID = progress.add_task(model, total=None)

            def report(
                status: str,
                completed: int | None,
                total: int | None,
                bar: TaskID = bar,
                model: str = model,
            ) -> None:
                progress.update(
                    bar, description=f"{model}: {status}", completed=completed or 0, total=total
                )

            try:
                provider.pull(model, report)
            except FrugalflowError as exc:
                raise fail(f"pulling {model} failed: {exc}", EXIT_FAILED) from None
    console.print(f"pulled {', '.join(wanted)}")

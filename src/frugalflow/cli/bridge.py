"""``frugalflow bridge serve``: the semantic bridge as an HTTP service for other tools.

It serves ``POST /context``, ``GET /context/cached`` and ``GET /health``
(:mod:`frugalflow.context.http`) for the repositories named at start, on 127.0.0.1 unless told
otherwise; a request for any other path is refused. Contexts are cached in memory and under
the settings' ``cache_dir``, shared with the flow's own bridge.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from frugalflow.cli.output import console, fail, settings_or_exit

bridge_app = typer.Typer(
    help="The semantic bridge: repository context over HTTP for other tools.",
    no_args_is_help=True,
)

DEFAULT_PORT = 8765


def repositories_to_serve(paths: list[Path]) -> list[Path]:
    """The repositories' top directories; exits 2 naming a path that is not a git repository."""
    from frugalflow.placement.git import repository_top

    tops = []
    for path in paths or [Path.cwd()]:
        top = repository_top(path.expanduser())
        if top is None:
            raise fail(f"{path} is not inside a git repository; give --repo the path of one")
        tops.append(top)
    return tops


@bridge_app.command("serve")
def bridge_serve(
    repo: Annotated[
        list[Path] | None,
        typer.Option(
            "--repo",
            help="A repository to serve (repeat for more; default: the one around the "
            "current directory). Requests for any other path are refused.",
        ),
    ] = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on; keep 127.0.0.1 unless others must reach it.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = DEFAULT_PORT,
) -> None:
    """Serve repository context over HTTP until interrupted (Ctrl-C)."""
    import uvicorn

    from frugalflow.context.bridge import ContextBridge
    from frugalflow.context.http import create_app

    roots = repositories_to_serve(repo or [])
    settings = settings_or_exit(roots[0])
    bridge = ContextBridge(cache_dir=settings.cache_dir, roots=roots)
    console.print(f"serving {', '.join(str(r) for r in roots)}", highlight=False)
    console.print(f"on http://{host}:{port} (OpenAPI: /docs, /openapi.json)", highlight=False)
    uvicorn.run(create_app(bridge), host=host, port=port, log_level="warning")

"""Running the codegen flow from a test, on a request of its own."""

from __future__ import annotations

import asyncio
from pathlib import Path

from frugalflow.cli.example_repo import create_example_repo
from frugalflow.core.schemas import CodeRequest, CodeResult
from frugalflow.flows.codegen import codegen


def add_request(tmp_path: Path, whose: str) -> CodeRequest:
    """The "add two numbers" request against a fresh example repository, with a prompt of
    its own per test: the session shares Prefect's result cache, and one test's answer must
    not become another test's cached generation."""
    return CodeRequest(
        description=f"Add a function add(a, b) that adds two numbers ({whose})",
        repo=create_example_repo(tmp_path / "textkit"),
        examples=("assert add(2, 3) == 5",),
    )


def run(request: CodeRequest) -> CodeResult:
    """Run the codegen flow on ``request`` and return its result, whatever its state."""

    async def go() -> CodeResult:
        state = await codegen(request, return_state=True)
        return await state.aresult(raise_on_failure=False)  # type: ignore[no-any-return]

    return asyncio.run(go())


def latest_artifact(key: str) -> str:
    """The data of the newest artifact with ``key``, read back through the Prefect API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    async def read() -> str:
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
                sort=ArtifactSort.CREATED_DESC,
                limit=1,
            )
        assert found, f"no artifact has key {key!r}"
        return str(found[0].data)

    return asyncio.run(read())


def artifact_key(request: CodeRequest) -> str:
    """The key of a codegen run's summary artifact."""
    return f"codegen-{request.request_id.lower().replace('_', '-')}"

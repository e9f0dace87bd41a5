"""`frugalflow providers`, `frugalflow models pull`, and a request served by an Ollama server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from frugalflow.cli.app import app
from frugalflow.cli.example_repo import create_example_repo
from frugalflow.core.schemas import CodeRequest, CodeResult, RunStatus
from frugalflow.flows.codegen import codegen
from frugalflow.money.ledger import CostLedger
from tests.servers.ollama_api_server import (
    INSTALLED_MODEL,
    PULLABLE_MODEL,
    OllamaTestServer,
    normalize,
    ollama_api_server,
)

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    for variable in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture(scope="module")
def ollama() -> Iterator[OllamaTestServer]:
    with ollama_api_server() as server:
        yield server


def row(output: str, provider: str) -> str:
    [line] = [line for line in output.splitlines() if line.startswith(f"│ {provider} ")]
    return line


@pytest.mark.model
def test_providers_says_which_are_usable_and_why_not(
    ollama: OllamaTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRUGALFLOW_OLLAMA_HOST", ollama.host)
    result = runner.invoke(app, ["providers"])
    assert result.exit_code == 0, result.output
    assert "yes" in row(result.output, "llamacpp")
    assert "yes" in row(result.output, "ollama")
    assert "no" in row(result.output, "openai ") and "OPENAI_API_KEY" in row(
        result.output, "openai "
    )
    assert "ANTHROPIC_API_KEY" in row(result.output, "anthropic")


@pytest.mark.model
def test_models_pull_downloads_the_configured_ollama_models(
    ollama: OllamaTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRUGALFLOW_OLLAMA_HOST", ollama.host)
    monkeypatch.setenv("FRUGALFLOW_MODELS", f'["ollama:{PULLABLE_MODEL}"]')
    assert normalize(PULLABLE_MODEL) not in ollama.installed

    result = runner.invoke(app, ["models", "pull"])

    assert result.exit_code == 0, result.output
    assert f"pulled {PULLABLE_MODEL}" in result.output
    assert normalize(PULLABLE_MODEL) in ollama.installed


def test_models_pull_without_a_server_says_how_to_start_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FRUGALFLOW_OLLAMA_HOST", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("FRUGALFLOW_MODELS", '["ollama:qwen2.5-coder:0.5b"]')
    result = runner.invoke(app, ["models", "pull"])
    assert result.exit_code == 1
    assert "ollama serve" in result.output


@pytest.mark.model
@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_a_request_runs_on_an_ollama_server(
    ollama: OllamaTestServer, tmp_path: Path, ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRUGALFLOW_OLLAMA_HOST", ollama.host)
    monkeypatch.setenv("FRUGALFLOW_MODELS", f'["ollama:{INSTALLED_MODEL}"]')
    request = CodeRequest(
        description="Add a function count_vowels(text) that returns how many vowels text contains",
        repo=create_example_repo(tmp_path / "textkit"),
        examples=('assert count_vowels("banana") == 3',),
    )

    async def go() -> CodeResult:
        state = await codegen(request, return_state=True)
        return await state.aresult(raise_on_failure=False)  # type: ignore[no-any-return]

    result = asyncio.run(go())

    assert result.status is RunStatus.COMPLETED, result.reason
    [call] = CostLedger(ledger_path).calls_for_request(result.request_id)
    assert (call.provider, call.model) == ("ollama", INSTALLED_MODEL)
    assert call.input_tokens > 0 and call.output_tokens > 0 and call.actual_cost_usd == 0
    assert any(path == "/api/chat" for _, path, _ in ollama.requests)

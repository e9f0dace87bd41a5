"""A provider's error text that echoes a key never reaches stderr, logs, the ledger or artifacts.

The provider is the real OpenAI adapter at the HTTP boundary (the SDK's own client with a mock
transport answering as OpenAI does). Its error body echoes the OpenAI key, and the Anthropic
key too: every configured key is redacted, not only the provider's own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from frugalflow.core import redaction
from frugalflow.core.errors import BadRequestError, ProviderError
from frugalflow.core.redaction import (
    REDACTED,
    RedactingFilter,
    install_redaction,
    redact,
    remember_secret,
    uninstall_redaction,
)
from frugalflow.core.schemas import CodeRequest, CodeResult, RunStatus, Tier
from frugalflow.core.settings import Settings
from frugalflow.money.ledger import CostLedger, ModelCall
from frugalflow.providers.openai import OpenAIProvider
from tests.servers.canned import canned_server
from tests.support.http import HttpRecorder
from tests.support.openai_api import MESSAGES

OPENAI_KEY = "sk-proj-Rk3vN8qL2xW7mP4tY9bF6hJ1dS5gA0zXcV-Ue_Io8Kp2Lm4Nq6Rs8Tu0Wv2Xy4Za6"
ANTHROPIC_KEY = "sk-ant-api03-Hq7Lm2Np9Rt4Vx6Zb8Dc1Fg3Jk5Mn7Pq9St2Uw4Yz6Ab8Cd0Ef"
GOOGLE_KEY = "AIzaSyB3xQ9vL2mN7pR4tW8yZ1cF6hJ0kS5dG3a"
WEBHOOK = "https://hooks.slack.example/services/T0000/B0000/Xq7Lm2Np9Rt4Vx6Zb8Dc"
SECRETS = (OPENAI_KEY, ANTHROPIC_KEY)
# What a proxy in front of OpenAI answers when it quotes the request's headers back.
ECHO = (
    f"Incorrect API key provided: {OPENAI_KEY}. Headers seen: x-api-key={ANTHROPIC_KEY}. "
    "You can find your API key at https://platform.openai.com/account/api-keys."
)


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


ECHO_BODY = {"error": {"message": ECHO, "type": "invalid_request_error", "param": None}}


def echoing_openai() -> HttpRecorder:
    return HttpRecorder(lambda request: httpx2.Response(400, json=ECHO_BODY))


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text
        assert secret[:24] not in text  # not even a recognisable piece of it


# -- redact() ---------------------------------------------------------------------------------


def test_every_configured_key_is_redacted_whichever_provider_echoed_it(keys: None) -> None:
    text = f"openai said {OPENAI_KEY}; anthropic's {ANTHROPIC_KEY} too"
    assert redact(text) == f"openai said {REDACTED}; anthropic's {REDACTED} too"


def test_key_shaped_strings_are_redacted_even_when_no_key_is_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable in redaction.SECRET_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    text = f"keys {OPENAI_KEY} {ANTHROPIC_KEY} {GOOGLE_KEY} sk-Zq8Wm2Lr5Tx9Kp3Vn7Bc4Hd6"
    assert redact(text) == f"keys {REDACTED} {REDACTED} {REDACTED} {REDACTED}"
    # Words that merely look alike are left alone.
    plain = "use sk-learn-compatible-estimator, ask-me-anything, task-1234567890123456789012"
    assert redact(plain) == plain


def test_a_key_from_a_secret_block_and_the_webhook_url_are_redacted_once_remembered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    block_key = "proxy-token-7Hq2Lm9Np4Rt"  # no known shape: only remembering redacts it
    assert redact(f"bad token {block_key}") == f"bad token {block_key}"
    remember_secret(block_key)
    redaction.remember_settings_secrets(Settings(alert_webhook_url=WEBHOOK))  # type: ignore[arg-type]
    assert redact(f"bad token {block_key}") == f"bad token {REDACTED}"
    assert redact(f"POST {WEBHOOK} failed") == f"POST {REDACTED} failed"


def test_a_secret_block_key_is_remembered_when_it_is_loaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from frugalflow.providers import keys as keys_module

    loaded = "block-key-4Tq8Vn2Lm6Rx"

    class FakeSecret:
        @classmethod
        def load(cls, name: str, **_: Any) -> FakeSecret:
            return cls()

        def get(self) -> str:
            return loaded

    import prefect.blocks.system

    monkeypatch.setattr(prefect.blocks.system, "Secret", FakeSecret)
    key = keys_module.find_api_key("openai", Settings(api_key_blocks={"openai": "b"}))
    assert key is not None and key.get_secret_value() == loaded
    assert redact(f"echo {loaded}") == f"echo {REDACTED}"


def test_short_values_are_not_redacted_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "abc")
    assert redact("abc def") == "abc def"


# -- errors and tracebacks --------------------------------------------------------------------


def test_provider_error_messages_are_redacted_at_construction(keys: None) -> None:
    error = BadRequestError(f"rejected: {ECHO}", provider="openai:gpt-4.1-mini")
    assert_clean(str(error))
    assert REDACTED in str(error)


def test_an_echoed_key_reaches_neither_the_error_nor_its_chained_traceback(keys: None) -> None:
    provider = OpenAIProvider(Settings(), http_client=echoing_openai().client())

    with pytest.raises(ProviderError) as caught:
        provider.complete("gpt-4.1-mini", MESSAGES, max_tokens=8, temperature=0)

    assert_clean(str(caught.value))
    # The SDK's own error, chained as the cause, still holds the body: whatever prints the
    # traceback must go through redaction (logging, the excepthooks).
    assert caught.value.__cause__ is not None
    assert OPENAI_KEY in "".join(traceback.format_exception(caught.value))
    assert_clean(redaction.redact_exception(caught.value))


def test_an_uncaught_error_prints_a_redacted_traceback_on_stderr(keys: None) -> None:
    code = (
        "from frugalflow.core.redaction import install_redaction\n"
        "install_redaction()\n"
        "try:\n"
        f"    raise RuntimeError({ECHO!r})\n"
        "except RuntimeError as exc:\n"
        "    raise ValueError('wrapped') from exc\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1
    assert "ValueError: wrapped" in done.stderr and "RuntimeError" in done.stderr
    assert_clean(done.stderr)


# -- logs -------------------------------------------------------------------------------------


@pytest.fixture
def fresh_redaction() -> Iterator[None]:
    """Nothing installed when the test starts; what it installs is taken away after it."""
    uninstall_redaction()
    yield
    uninstall_redaction()


@pytest.fixture
def record_factory(fresh_redaction: None) -> None:
    """The redacting record factory, filters and excepthooks installed for one test."""
    install_redaction()


def test_log_records_are_redacted_in_message_arguments_and_traceback(
    keys: None, record_factory: None, caplog: pytest.LogCaptureFixture
) -> None:
    log = logging.getLogger("frugalflow.test_redaction")
    try:
        raise RuntimeError(ECHO)
    except RuntimeError:
        with caplog.at_level(logging.INFO, logger="frugalflow.test_redaction"):
            log.info("the call failed: %s", ECHO)
            log.exception("and again")
    assert "the call failed" in caplog.text and "RuntimeError" in caplog.text
    assert_clean(caplog.text)


def test_the_filter_redacts_a_record_made_without_the_factory(keys: None) -> None:
    record = logging.makeLogRecord({"msg": "key %s", "args": (OPENAI_KEY,), "levelno": 40})
    assert RedactingFilter().filter(record)
    assert record.getMessage() == f"key {REDACTED}"


def test_install_puts_the_filter_on_prefects_handlers_and_the_api_log_handler(
    record_factory: None,
) -> None:
    from prefect.logging.configuration import ensure_logging_setup
    from prefect.logging.handlers import APILogHandler

    ensure_logging_setup()
    install_redaction()
    handlers = [
        handler
        for name in ("prefect.flow_runs", "prefect.task_runs")
        for handler in logging.getLogger(name).handlers
    ]
    assert any(isinstance(handler, APILogHandler) for handler in handlers)
    assert all(any(isinstance(f, RedactingFilter) for f in h.filters) for h in handlers)


def test_uninstall_puts_the_record_factory_filters_and_excepthooks_back(
    fresh_redaction: None,
) -> None:
    before = (logging.getLogRecordFactory(), sys.excepthook, threading.excepthook)
    handler = logging.NullHandler()
    logging.getLogger("frugalflow.test_redaction.uninstall").addHandler(handler)
    try:
        install_redaction()
        assert logging.getLogRecordFactory() is not before[0]
        assert sys.excepthook is not before[1] and threading.excepthook is not before[2]
        assert any(isinstance(f, RedactingFilter) for f in handler.filters)

        uninstall_redaction()

        assert (logging.getLogRecordFactory(), sys.excepthook, threading.excepthook) == before
        assert handler.filters == []
        uninstall_redaction()  # nothing installed: nothing to do
        assert logging.getLogRecordFactory() is before[0]
    finally:
        logging.getLogger("frugalflow.test_redaction.uninstall").removeHandler(handler)


# -- the ledger -------------------------------------------------------------------------------


def test_the_ledgers_error_column_never_holds_a_key(keys: None, tmp_path: Path) -> None:
    ledger = CostLedger(tmp_path / "ledger.duckdb")
    call = ModelCall(
        request_id="r",
        project="p",
        step="generate",
        provider="openai",
        model="gpt-4.1-mini",
        tier=Tier.API,
        success=False,
        error=f"APIStatusError: {ECHO}",
    )
    ledger.record(call)
    [stored] = ledger.recent()
    assert stored.error is not None and REDACTED in stored.error
    assert_clean(stored.error)


def test_a_long_error_is_redacted_before_it_is_cut_so_no_piece_of_a_key_is_stored(
    keys: None,
) -> None:
    """Cut first, a key straddling the cut would leave its first half, no longer matching the
    key, in the ledger."""
    from frugalflow.money.ledger import ERROR_CHARS

    error = "x" * (ERROR_CHARS - 30) + f" {OPENAI_KEY}"
    call = ModelCall(
        request_id="r",
        project="p",
        step="generate",
        provider="openai",
        model="gpt-4.1-mini",
        tier=Tier.API,
        success=False,
        error=error,
    )
    assert call.error is not None and len(call.error) <= ERROR_CHARS
    assert OPENAI_KEY[:20] not in call.error


# -- the whole flow: stderr, Prefect's log table, the ledger, the artifact --------------------


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server", "fresh_redaction")  # the flow installs it
def test_an_echoed_key_reaches_no_output_of_a_flow_run(
    keys: None,
    tmp_path: Path,
    ledger_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    use_providers: Callable[..., None],
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.logging.handlers import APILogHandler

    from frugalflow.cli.example_repo import create_example_repo
    from frugalflow.flows.codegen import codegen

    monkeypatch.setenv("FRUGALFLOW_MODELS", '["openai:gpt-4.1-mini"]')
    monkeypatch.setenv("FRUGALFLOW_PROVIDER_RETRIES", "0")  # Prefect logs a last failure in full
    fake = echoing_openai()
    use_providers(
        factories={
            "openai": lambda settings, repo: OpenAIProvider(settings, http_client=fake.client())
        }
    )
    repo = create_example_repo(tmp_path / "textkit")
    request = CodeRequest(description="Add a function add(a, b) that adds two numbers", repo=repo)

    async def go() -> tuple[CodeResult, list[str], list[str], str]:
        state = await codegen(request, return_state=True)
        result = await state.aresult(raise_on_failure=False)
        assert isinstance(result, CodeResult), result
        await APILogHandler.aflush()
        async with get_client() as client:
            run_id = state.state_details.flow_run_id
            logs = await client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id]))
            )
            artifacts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
            )
            [flow_run] = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
            )
        messages = [log.message for log in logs]
        # The run's summary (markdown) and the persisted result's record ("result").
        bodies = [(artifact.type, str(artifact.data)) for artifact in artifacts]
        state_message = flow_run.state.message if flow_run.state else ""
        return result, messages, bodies, state_message or ""

    result, messages, artifacts, state_message = asyncio.run(go())

    assert fake.requests, "the provider was called"
    assert result.status is RunStatus.FAILED
    assert "rejected the request" in result.reason
    assert_clean(result.reason)
    assert_clean(state_message)
    # Prefect's log table holds the task's failure with its chained traceback, redacted.
    assert any("BadRequestError" in message for message in messages), messages
    assert any("Traceback" in message for message in messages), messages
    assert_clean("\n".join(messages))
    summaries = [body for kind, body in artifacts if kind == "markdown"]
    assert summaries and all("rejected the request" in body for body in summaries)
    assert_clean("\n".join(body for _, body in artifacts))
    [call] = CostLedger(ledger_path).calls_for_request(request.request_id)
    assert call.error is not None and "BadRequestError" in call.error
    assert_clean(call.error)


@pytest.fixture
def echoing_server() -> Iterator[str]:
    """A local stand-in for api.openai.com whose 400 quotes the keys back, as a proxy may."""
    with canned_server(json.dumps(ECHO_BODY).encode(), "application/json", status=400) as url:
        yield f"{url}/v1"


@pytest.mark.prefect
def test_the_cli_prints_no_echoed_key_on_stdout_or_stderr(
    tmp_path: Path, echoing_server: str
) -> None:
    from frugalflow.cli.example_repo import create_example_repo

    repo = create_example_repo(tmp_path / "textkit")
    env = {
        **os.environ,
        "OPENAI_API_KEY": OPENAI_KEY,
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "FRUGALFLOW_OPENAI_BASE_URL": echoing_server,
        "FRUGALFLOW_MODELS": '["openai:gpt-4.1-mini"]',
        "FRUGALFLOW_PROVIDER_RETRIES": "0",
        "FRUGALFLOW_LEDGER_PATH": str(tmp_path / "ledger.duckdb"),
        "PREFECT_LOGGING_LEVEL": "ERROR",  # Prefect's log of the failure, with its traceback
    }
    env.pop("PREFECT_API_URL", None)  # the CLI starts its own temporary server
    cli = str(Path(sys.executable).with_name("frugalflow"))
    done = subprocess.run(
        [cli, "generate", "Add a function add(a, b)", "--repo", str(repo)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 1, done.stdout + done.stderr
    assert "rejected the request" in done.stderr
    assert "Traceback" in done.stderr  # the chained SDK error was printed, redacted
    assert_clean(done.stdout + done.stderr)

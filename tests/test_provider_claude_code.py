"""The Claude Code provider, against a stand-in ``claude`` executable (tests/bin/claude)."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from frugalflow.core.errors import (
    AuthenticationError,
    BadRequestError,
    ContextTooLongError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
)
from frugalflow.core.schemas import Tier
from frugalflow.core.settings import Settings
from frugalflow.providers.base import ChatMessage, Completion, Provider
from frugalflow.providers.claude_code import (
    MAX_ARGUMENT_BYTES,
    ClaudeCodeNotInstalledError,
    ClaudeCodeProvider,
    retry_after,
)

STAND_IN_DIR = Path(__file__).parent / "bin"


@pytest.fixture
def fake_claude(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The stand-in first on PATH, no real credentials or keys in view."""
    monkeypatch.setenv("PATH", f"{STAND_IN_DIR}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude-config"))
    monkeypatch.delenv("CLAUDE_CODE_OAUTH_TOKEN", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("FAKE_CLAUDE_MODE", raising=False)
    return STAND_IN_DIR / "claude"


def settings(**overrides: Any) -> Settings:
    return Settings(**overrides)


def user(text: str) -> list[ChatMessage]:
    return [ChatMessage(role="user", content=text)]


def call(
    provider: ClaudeCodeProvider, messages: list[ChatMessage], model: str = "default", **kw: Any
) -> Completion:
    return provider.complete(model, messages, max_tokens=100, temperature=0.0, **kw)


def report(completion: Completion) -> dict[str, Any]:
    """What the stand-in was given, as it wrote it into its result."""
    data: dict[str, Any] = json.loads(completion.text)
    return data


def test_it_is_a_subscription_provider() -> None:
    provider = ClaudeCodeProvider(settings())
    assert isinstance(provider, Provider)
    assert (provider.name, provider.tier) == ("claude-code", Tier.SUBSCRIPTION)


def test_reply_and_usage_are_parsed_and_the_call_runs_in_the_repository(
    fake_claude: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    provider = ClaudeCodeProvider(settings(), cwd=repo)

    completion = call(provider, user("write slugify"), model="sonnet")

    given = report(completion)
    assert Path(given["cwd"]).resolve() == repo.resolve()
    assert given["prompt"] == "write slugify"
    assert given["prompt_on_stdin"] is False
    assert given["argv"][:2] == ["-p", "write slugify"]
    assert given["options"]["--output-format"] == "json"
    assert given["options"]["--model"] == "sonnet"
    assert "--append-system-prompt" not in given["options"]
    assert completion.model == "sonnet"
    # input counts the whole prompt, cache reads and writes included; cached = cache reads
    assert (completion.input_tokens, completion.output_tokens) == (12 + 5 + 100, 34)
    assert completion.cached_tokens == 100
    assert completion.finish_reason == "end_turn"
    assert completion.seconds > 0


def test_default_model_system_prompt_and_flattened_conversation(
    fake_claude: Path, tmp_path: Path
) -> None:
    provider = ClaudeCodeProvider(settings())
    messages = [
        ChatMessage(role="system", content="You write Python."),
        ChatMessage(role="user", content="first question"),
        ChatMessage(role="assistant", content="first answer"),
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(role="user", content="second question"),
    ]

    given = report(call(provider, messages))

    assert "--model" not in given["options"]
    assert given["options"]["--append-system-prompt"] == "You write Python.\n\nBe brief."
    # It may only answer: no editing of the user's files, no commands.
    denied = set(given["options"]["--disallowedTools"].split(","))
    assert {"Bash", "Edit", "Write"} <= denied
    prompt = given["prompt"]
    assert prompt.index("first question") < prompt.index("first answer")
    assert prompt.index("first answer") < prompt.index("second question")
    assert "You write Python." not in prompt
    # without a repository, a fresh empty directory that is gone afterwards
    workdir = Path(given["cwd"])
    assert workdir.name.startswith("frugalflow-claude-")
    assert not workdir.exists()


def test_a_long_prompt_goes_on_stdin(fake_claude: Path) -> None:
    long_prompt = "x" * (MAX_ARGUMENT_BYTES + 10)

    given = report(call(ClaudeCodeProvider(settings()), user(long_prompt)))

    assert given["prompt_on_stdin"] is True
    assert given["prompt"] == long_prompt


def test_a_prompt_that_looks_like_an_option_goes_on_stdin(fake_claude: Path) -> None:
    given = report(call(ClaudeCodeProvider(settings()), user("--help me")))

    assert given["prompt_on_stdin"] is True
    assert given["prompt"] == "--help me"


def test_the_api_key_is_not_passed_to_the_cli(
    fake_claude: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")

    given = report(call(ClaudeCodeProvider(settings()), user("hi")))

    assert given["anthropic_api_key"] is None


def test_streaming_passes_text_pieces_as_they_arrive(
    fake_claude: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    go_file = tmp_path / "go"
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "stream")
    monkeypatch.setenv("FAKE_CLAUDE_GO_FILE", str(go_file))
    pieces: list[str] = []

    def on_text(piece: str) -> None:
        pieces.append(piece)
        go_file.touch()  # the stand-in waits for this before writing the rest

    completion = call(ClaudeCodeProvider(settings()), user("greet"), on_text=on_text)

    assert pieces == ["Hello, ", "world", "!"]
    assert completion.text == "Hello, world!"
    assert (completion.input_tokens, completion.output_tokens) == (117, 34)


def test_streaming_asks_for_stream_json(
    fake_claude: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "stream")
    monkeypatch.setenv("FAKE_CLAUDE_GO_FILE", str(tmp_path / "go"))
    (tmp_path / "go").touch()
    record = tmp_path / "argv"
    # Wrap the stand-in to capture its arguments in stream mode.
    wrapper = tmp_path / "bin" / "claude"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nprintf \'%s\\n\' "$@" > {record}\nexec {fake_claude} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}")

    call(ClaudeCodeProvider(settings()), user("greet"), on_text=lambda piece: None)

    args = record.read_text().splitlines()
    assert args[args.index("--output-format") + 1] == "stream-json"
    assert "--verbose" in args


def test_partial_message_deltas_are_not_repeated(
    fake_claude: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "partial")
    pieces: list[str] = []

    completion = call(ClaudeCodeProvider(settings()), user("greet"), on_text=pieces.append)

    assert pieces == ["Hel", "lo"]
    assert completion.text == "Hello"


@pytest.mark.parametrize(
    ("mode", "error", "words"),
    [
        ("login", AuthenticationError, "/login"),
        ("usage_limit", RateLimitedError, "usage"),
        ("session_limit", RateLimitedError, "session limit"),
        ("overloaded", ProviderUnavailableError, "529"),
        ("too_long", ContextTooLongError, "too long"),
        ("max_turns", BadRequestError, "maximum number of turns"),
        ("crash", BadRequestError, "frobnicator"),
        ("network_crash", ProviderUnavailableError, "ECONNREFUSED"),
        ("garbage", BadRequestError, "upgrade"),
    ],
)
def test_failures_are_mapped(
    fake_claude: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    error: type[Exception],
    words: str,
) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_MODE", mode)

    with pytest.raises(error, match=re.escape(words)) as caught:
        call(ClaudeCodeProvider(settings()), user("hi"), model="opus")

    assert type(caught.value) is error
    assert getattr(caught.value, "provider", None) == "claude-code:opus"


def test_login_error_says_what_to_do(fake_claude: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "login")

    with pytest.raises(AuthenticationError, match=r"run `claude` in a terminal and log in"):
        call(ClaudeCodeProvider(settings()), user("hi"))


def test_usage_limit_tells_when_it_resets(
    fake_claude: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "usage_limit")

    with pytest.raises(RateLimitedError) as caught:
        call(ClaudeCodeProvider(settings()), user("hi"))

    assert caught.value.retry_after is not None
    assert 3500 < caught.value.retry_after <= 3600


def test_reset_times_in_messages() -> None:
    now = datetime(2025, 7, 26, 22, 0, tzinfo=UTC)
    assert retry_after("resets 1:10am (UTC)", now) == 3 * 3600 + 10 * 60
    assert retry_after("resets 11pm (UTC)", now) == 3600
    assert retry_after("resets 10pm (UTC)", now) == 24 * 3600  # now: the next one
    assert retry_after("resets 11pm (Europe/Paris)", now) == 23 * 3600  # midnight there now
    assert retry_after("limit reached|1753574400", now) == 7200
    assert retry_after("resets soon", now) is None
    assert retry_after("resets 1am (Not/AZone)", now) is None


@pytest.mark.timeout(30)
def test_a_hanging_cli_is_killed_with_its_children(
    fake_claude: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pids"
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "hang")
    monkeypatch.setenv("FAKE_CLAUDE_PID_FILE", str(pid_file))
    started = time.monotonic()

    with pytest.raises(ProviderTimeoutError, match=r"within 1 s"):
        call(ClaudeCodeProvider(settings(provider_timeout_seconds=1)), user("hi"))

    assert time.monotonic() - started < 10
    leader, child = (int(pid) for pid in pid_file.read_text().split())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the CLI's child process survived the timeout"
    assert not _alive(leader)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, dead but not yet reaped by its parent, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        try:
            return "zombie" not in status.read_text()
        except OSError:
            return False
    return True


def test_a_missing_cli_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing there
    provider = ClaudeCodeProvider(settings())

    with pytest.raises(ClaudeCodeNotInstalledError) as caught:
        call(provider, user("hi"))

    message = str(caught.value)
    assert "npm install -g @anthropic-ai/claude-code" in message
    assert "remove claude-code from the models setting" in message
    assert isinstance(caught.value, BadRequestError)
    assert not caught.value.retryable
    availability = provider.availability()
    assert not availability.usable
    assert "npm install -g @anthropic-ai/claude-code" in availability.reason


def test_the_configured_command_is_used(fake_claude: Path, tmp_path: Path) -> None:
    provider = ClaudeCodeProvider(settings(claude_code_command="no-such-claude-here"))
    with pytest.raises(ClaudeCodeNotInstalledError, match="no-such-claude-here"):
        call(provider, user("hi"))

    absolute = ClaudeCodeProvider(settings(claude_code_command=str(fake_claude)))
    assert report(call(absolute, user("hi")))["prompt"] == "hi"


def test_a_missing_repository_is_refused(fake_claude: Path, tmp_path: Path) -> None:
    provider = ClaudeCodeProvider(settings(), cwd=tmp_path / "nowhere")
    with pytest.raises(BadRequestError, match="not a directory"):
        call(provider, user("hi"))


def test_a_conversation_must_end_with_a_user_message(fake_claude: Path) -> None:
    messages = [
        ChatMessage(role="user", content="q"),
        ChatMessage(role="assistant", content="a"),
    ]
    with pytest.raises(BadRequestError, match="ends with a user message"):
        call(ClaudeCodeProvider(settings()), messages)


def test_availability_with_credentials_file(fake_claude: Path, tmp_path: Path) -> None:
    credentials = tmp_path / "claude-config" / ".credentials.json"
    credentials.parent.mkdir()
    credentials.write_text("{}")

    availability = ClaudeCodeProvider(settings()).availability()

    assert availability.usable
    assert "2.0.0 (Claude Code)" in availability.reason
    assert str(credentials) in availability.reason


def test_availability_with_oauth_token(fake_claude: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUDE_CODE_OAUTH_TOKEN", "token")

    availability = ClaudeCodeProvider(settings()).availability()

    assert availability.usable
    assert "CLAUDE_CODE_OAUTH_TOKEN" in availability.reason


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS logins live in the Keychain")
def test_availability_without_a_login(fake_claude: Path) -> None:
    availability = ClaudeCodeProvider(settings()).availability()

    assert not availability.usable
    assert "not logged in" in availability.reason
    assert "/login" in availability.reason


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS logins live in the Keychain")
def test_an_api_key_alone_is_not_a_login(
    fake_claude: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")

    availability = ClaudeCodeProvider(settings()).availability()

    assert not availability.usable
    assert "ANTHROPIC_API_KEY" in availability.reason
    assert "/login" in availability.reason


def test_availability_when_the_cli_is_broken(
    fake_claude: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "version_fail")

    availability = ClaudeCodeProvider(settings()).availability()

    assert not availability.usable
    assert "status 9" in availability.reason
    assert "node: bad option" in availability.reason

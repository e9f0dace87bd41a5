"""The subscription tier: the Claude Code CLI in headless mode, $0 per call.

Each call runs ``claude -p <prompt> --output-format json`` (``stream-json --verbose`` when the
reply is streamed) as a child process in its own process group, in the target repository when
one is given (so that Claude Code sees the project, its ``CLAUDE.md`` and its files) or else in
an empty temporary directory. The subscription's fee is amortised per day in reports
elsewhere; a call's marginal cost is $0.

What the CLI does not offer, and how this adapter copes:

* There is no chat API: system messages go to ``--append-system-prompt`` and the rest of the
  conversation is flattened into one prompt.
* There are no ``max_tokens`` or ``temperature`` flags: both are accepted and ignored.
* A long prompt (or one starting with ``-``, which the CLI would read as an option) is passed
  on standard input instead of as an argument: Linux limits one argument to 128 KiB.
* ``ANTHROPIC_API_KEY`` is removed from the child's environment. Claude Code prefers an API key
  to the subscription when one is set, and calls billed per token to a key would be recorded
  here as free. Log in with ``claude`` (``/login``) or set ``CLAUDE_CODE_OAUTH_TOKEN`` (from
  ``claude setup-token``) instead.

This module is longer than the ~400 lines the others keep to, on purpose: it is the whole
adapter for one external program (how its errors read, how it is run, and the events it
prints), and those parts change together when the CLI does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from frugalflow.core.errors import (
    AuthenticationError,
    BadRequestError,
    ContextTooLongError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
)
from frugalflow.core.processes import ProcessGroup
from frugalflow.core.schemas import Tier
from frugalflow.core.settings import Settings
from frugalflow.providers.base import Availability, ChatMessage, Completion

INSTALL_HINT = (
    "install it with `npm install -g @anthropic-ai/claude-code` or remove claude-code from "
    "the models setting"
)
LOGIN_HINT = (
    "run `claude` in a terminal and log in with /login (or run `claude setup-token` and set "
    "CLAUDE_CODE_OAUTH_TOKEN)"
)
# One argv string may be at most 128 KiB on Linux (MAX_ARG_STRLEN); stay well below it.
MAX_ARGUMENT_BYTES = 100_000
# The tools that change files or run commands (documented form: one comma-separated value).
DISALLOWED_TOOLS = "Bash,Edit,MultiEdit,Write,NotebookEdit"
VERSION_TIMEOUT_SECONDS = 15.0
# After the result has been read, how long the CLI may take to exit before its group is killed.
EXIT_GRACE_SECONDS = 5.0
_DETAIL_CHARS = 500


class ClaudeCodeNotInstalledError(BadRequestError):
    """The Claude Code CLI is not installed (or cannot be run): no retry will help."""


_AUTH = re.compile(
    r"invalid api key|please run /login|not logged in|/login\b|authentication_error|"
    r"oauth token (has )?expired|unauthori[sz]ed|\b401\b|invalid bearer token",
    re.IGNORECASE,
)
_RATE = re.compile(
    r"usage limit|rate limit|rate_limit|session limit|limit reached|too many requests|\b429\b",
    re.IGNORECASE,
)
_TOO_LONG = re.compile(r"prompt is too long|context (length|window)|too many tokens", re.I)
_TRANSIENT = re.compile(
    r"overloaded|\b5\d\d\b|internal server error|service unavailable|bad gateway|timed? ?out|"
    r"econnreset|econnrefused|etimedout|enotfound|eai_again|socket hang up|fetch failed|"
    r"network|connection (error|reset|refused|closed)|temporarily",
    re.IGNORECASE,
)
_RESET_EPOCH = re.compile(r"\|(\d{10})\b")
_RESET_CLOCK = re.compile(
    r"resets (?:at )?(\d{1,2})(?::(\d{2}))?\s*(am|pm)?(?:\s*\(([^)]+)\))?", re.IGNORECASE
)


def retry_after(message: str, now: datetime | None = None) -> float | None:
    """Seconds until a usage limit resets, when the CLI's message says.

    Args:
        message: the CLI's error text: ``...|1753560000`` (a Unix time) or ``resets 1:10am
            (UTC)`` (a clock time, in the named zone or else in ``now``'s).
        now: the current time; the local time when None.

    Returns:
        The seconds to wait, or None when the message names no reset time this understands.
    """
    now = now or datetime.now().astimezone()
    if match := _RESET_EPOCH.search(message):
        return max(0.0, int(match.group(1)) - now.timestamp())
    if match := _RESET_CLOCK.search(message):
        hour, minute = int(match.group(1)), int(match.group(2) or 0)
        meridiem, zone_name = (match.group(3) or "").lower(), match.group(4)
        if (meridiem and not 1 <= hour <= 12) or hour > 23 or minute > 59:
            return None
        if meridiem:
            hour = hour % 12 + (12 if meridiem == "pm" else 0)
        try:
            zone = ZoneInfo(zone_name) if zone_name else now.tzinfo
        except (ZoneInfoNotFoundError, ValueError):
            return None
        local_now = now.astimezone(zone)
        reset = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if reset <= local_now:
            reset += timedelta(days=1)
        return (reset - local_now).total_seconds()
    return None


def classify_error(
    message: str, *, provider: str, api_status: int | None = None, subtype: str | None = None
) -> ProviderError:
    """Translate a failure the CLI reported into frugalflow's error tree.

    Args:
        message: what the CLI said (the result text, its ``errors``, or its stderr).
        provider: the ``claude-code:model`` address, for the error.
        api_status: the HTTP status of the failed API call, when the CLI reported one.
        subtype: the result's subtype (``error_max_turns``, ``error_during_execution``...).
    """
    detail = " ".join(message.split())[:_DETAIL_CHARS] or (subtype or "no message")
    if api_status in (401, 403) or _AUTH.search(message):
        return AuthenticationError(
            f"Claude Code is not logged in or its login expired ({detail}); {LOGIN_HINT}",
            provider=provider,
        )
    if api_status == 429 or _RATE.search(message):
        return RateLimitedError(
            f"the Claude Code subscription hit a usage or rate limit ({detail}); try again "
            "after it resets or use another tier",
            provider=provider,
            retry_after=retry_after(message),
        )
    if _TOO_LONG.search(message):
        return ContextTooLongError(
            f"the prompt does not fit Claude Code's context ({detail}); shorten the request",
            provider=provider,
        )
    if subtype == "error_max_turns":
        return BadRequestError(
            f"Claude Code stopped at its maximum number of turns ({detail})", provider=provider
        )
    if (api_status is not None and api_status >= 500) or _TRANSIENT.search(message):
        return ProviderUnavailableError(
            f"Claude Code could not reach its service ({detail})", provider=provider
        )
    return BadRequestError(f"Claude Code failed: {detail}", provider=provider)


def _config_dir() -> Path:
    return Path(os.environ.get("CLAUDE_CONFIG_DIR") or Path.home() / ".claude")


def _child_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("ANTHROPIC_API_KEY", None)  # see the module docstring: never bill a key as free
    return env


def _flatten(messages: Sequence[ChatMessage], provider: str) -> tuple[str, str]:
    """The system prompt and the prompt that stand for a conversation."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    turns = [m for m in messages if m.role != "system"]
    if not turns or turns[-1].role != "user":
        raise BadRequestError(
            "Claude Code needs a conversation that ends with a user message", provider=provider
        )
    if len(turns) == 1:
        return system, turns[0].content
    transcript = "\n\n".join(f"<{m.role}>\n{m.content}\n</{m.role}>" for m in turns)
    return system, (
        "Here is our conversation so far, oldest first.\n\n"
        f"{transcript}\n\n"
        "Reply, as the assistant, to the last user message."
    )


def _usage_int(usage: dict[str, Any], key: str) -> int:
    value = usage.get(key)
    return int(value) if isinstance(value, int | float) else 0


class _Run:
    """One CLI process, in its own process group: its stdout lines as they come, with a
    watchdog on the whole run that kills the group (tools, MCP servers)."""

    def __init__(
        self,
        args: list[str],
        *,
        cwd: Path,
        stdin: IO[bytes] | int,
        stderr: IO[bytes],
        timeout: float,
        provider: str,
    ) -> None:
        self._stderr = stderr
        try:
            self.group = ProcessGroup(
                args,
                cwd=cwd,
                env=_child_environment(),
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=stderr,
                timeout=timeout,
            )
        except (FileNotFoundError, PermissionError) as exc:
            raise ClaudeCodeNotInstalledError(
                f"the Claude Code CLI (`{args[0]}`) cannot be run ({exc}); {INSTALL_HINT}",
                provider=provider,
            ) from exc

    @property
    def timed_out(self) -> bool:
        """Whether the watchdog killed the CLI."""
        return self.group.timed_out

    @property
    def returncode(self) -> int | None:
        """The CLI's exit status, once it has been reaped."""
        return self.group.returncode

    def lines(self) -> Iterator[str]:
        assert self.group.stdout is not None
        for raw in self.group.stdout:
            yield raw.decode("utf-8", errors="replace")

    def finish(self) -> None:
        """Wait for the CLI to exit; kill its group if it lingers after its result."""
        if not self.group.wait(EXIT_GRACE_SECONDS):
            self.group.abort()

    def abort(self) -> None:
        """Kill the CLI's group now and reap it."""
        self.group.abort()

    @property
    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", errors="replace").strip()

    def close(self) -> None:
        """Stop the watchdog and close our end of the pipe (the CLI has been reaped)."""
        self.group.close()


class ClaudeCodeProvider:
    """Runs the Claude Code CLI headless on the user's subscription.

    Args:
        settings: ``claude_code_command`` (the executable) and ``provider_timeout_seconds``.
        cwd: the repository Claude Code works in (the file-editing tier); None runs each call
            in a fresh empty temporary directory, so that no unrelated project is in view.
    """

    name = "claude-code"
    tier = Tier.SUBSCRIPTION

    def __init__(self, settings: Settings, *, cwd: Path | None = None) -> None:
        self._settings = settings
        self._cwd = cwd

    def _executable(self, provider: str) -> str:
        command = self._settings.claude_code_command
        found = shutil.which(command)
        if found is None:
            raise ClaudeCodeNotInstalledError(
                f"the Claude Code CLI (`{command}`) is not installed; {INSTALL_HINT}",
                provider=provider,
            )
        return found

    def availability(self) -> Availability:
        """Usable when the CLI runs (``claude --version``) and a login is present.

        Whether the user is logged in is a heuristic, because asking the CLI would spend
        subscription quota: ``CLAUDE_CODE_OAUTH_TOKEN`` is set, or the CLI's credentials file
        (``$CLAUDE_CONFIG_DIR`` or ``~/.claude``, ``.credentials.json``) exists. On macOS the
        credentials live in the Keychain, which is not checked: the CLI is assumed logged in
        and a call made without a login fails with an AuthenticationError. An
        ``ANTHROPIC_API_KEY`` alone does not count (it is never passed to the CLI).
        """
        try:
            executable = self._executable(self.name)
        except ClaudeCodeNotInstalledError as exc:
            return Availability(usable=False, reason=str(exc))
        try:
            done = subprocess.run(
                [executable, "--version"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=VERSION_TIMEOUT_SECONDS,
                env=_child_environment(),
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Availability(
                usable=False,
                reason=f"`{executable} --version` failed ({exc}); reinstall the CLI: "
                f"{INSTALL_HINT}",
            )
        if done.returncode != 0:
            said = " ".join((done.stderr or done.stdout).split())[:_DETAIL_CHARS]
            return Availability(
                usable=False,
                reason=f"`{executable} --version` exited with status {done.returncode} "
                f"({said or 'no output'}); reinstall the CLI: {INSTALL_HINT}",
            )
        version = done.stdout.strip() or "unknown version"
        credentials = _config_dir() / ".credentials.json"
        if os.environ.get("CLAUDE_CODE_OAUTH_TOKEN"):
            return Availability(
                usable=True, reason=f"Claude Code {version}, logged in by CLAUDE_CODE_OAUTH_TOKEN"
            )
        if credentials.is_file():
            return Availability(
                usable=True, reason=f"Claude Code {version}, credentials in {credentials}"
            )
        if sys.platform == "darwin":
            return Availability(
                usable=True,
                reason=f"Claude Code {version}; its login is in the macOS Keychain and is not "
                f"checked (if calls fail to authenticate, {LOGIN_HINT})",
            )
        if os.environ.get("ANTHROPIC_API_KEY"):
            return Availability(
                usable=False,
                reason="only ANTHROPIC_API_KEY is set, and frugalflow does not pass it to "
                "Claude Code: calls billed per token to a key would be recorded as free on "
                f"the subscription tier; {LOGIN_HINT}",
            )
        return Availability(
            usable=False,
            reason=f"Claude Code is not logged in (no {credentials}, no "
            f"CLAUDE_CODE_OAUTH_TOKEN); {LOGIN_HINT}",
        )

    def complete(
        self,
        model: str,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        on_text: Callable[[str], None] | None = None,
        seed: int | None = None,
    ) -> Completion:
        """Run one headless Claude Code call (see :class:`Provider`).

        ``model`` is passed as ``--model`` unless it is ``default`` (the CLI's own choice).
        ``max_tokens``, ``temperature`` and ``seed`` are ignored: the CLI has no such options. When
        ``on_text`` is given, each text block of each assistant message (or each text delta,
        if the CLI emits partial messages) is passed to it as it arrives; the returned text is
        the CLI's final result.
        """
        provider = f"{self.name}:{model}"
        executable = self._executable(provider)
        if self._cwd is not None and not self._cwd.is_dir():
            raise BadRequestError(
                f"the repository {self._cwd} for Claude Code is not a directory", provider=provider
            )
        system, prompt = _flatten(messages, provider)
        if system and (len(system.encode()) > MAX_ARGUMENT_BYTES or system.startswith("-")):
            prompt = f"<instructions>\n{system}\n</instructions>\n\n{prompt}"
            system = ""
        on_stdin = len(prompt.encode()) > MAX_ARGUMENT_BYTES or prompt.startswith("-")
        args = [executable, "-p"]
        if not on_stdin:
            args.append(prompt)
        if on_text is None:
            args += ["--output-format", "json"]
        else:
            args += ["--output-format", "stream-json", "--verbose"]
        if model != "default":
            args += ["--model", model]
        if system:
            args += ["--append-system-prompt", system]
        # frugalflow places code itself, through a separate worktree, after validating it; Claude
        # Code must only answer, never edit the user's files or run commands, whatever the
        # user's own permission settings allow.
        args += ["--disallowedTools", DISALLOWED_TOOLS]

        started = time.perf_counter()
        with self._workdir() as cwd:
            result, stderr, returncode, timed_out = self._execute(
                args,
                cwd=cwd,
                stdin_text=prompt if on_stdin else None,
                provider=provider,
                on_text=on_text,
            )
        seconds = time.perf_counter() - started
        timeout = self._settings.provider_timeout_seconds
        if timed_out:
            raise ProviderTimeoutError(
                f"Claude Code did not answer within {timeout:g} s (provider_timeout_seconds); "
                "its process group was killed",
                provider=provider,
            )
        if result is None:
            if returncode == 0:
                raise BadRequestError(
                    "Claude Code exited without a result frugalflow can read "
                    f"({stderr[:_DETAIL_CHARS] or 'no error output'}); upgrade the CLI with "
                    "`npm install -g @anthropic-ai/claude-code`",
                    provider=provider,
                )
            if returncode < 0:
                raise ProviderUnavailableError(
                    f"Claude Code was killed by signal {-returncode} "
                    f"({stderr[:_DETAIL_CHARS] or 'no error output'})",
                    provider=provider,
                )
            raise classify_error(stderr or f"exit status {returncode}", provider=provider) from None
        subtype = str(result.get("subtype") or "")
        if result.get("is_error") or subtype.startswith("error"):
            said = [str(result.get("result") or "")]
            errors = result.get("errors")
            if isinstance(errors, list):
                said += [str(error) for error in errors]
            status = result.get("api_error_status")
            raise classify_error(
                " ".join(part for part in said if part) or stderr,
                provider=provider,
                api_status=status if isinstance(status, int) else None,
                subtype=subtype or None,
            )
        usage = result.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        cache_read = _usage_int(usage, "cache_read_input_tokens")
        cache_write = _usage_int(usage, "cache_creation_input_tokens")
        split = usage.get("cache_creation")
        one_hour = _usage_int(split, "ephemeral_1h_input_tokens") if isinstance(split, dict) else 0
        stop_reason = result.get("stop_reason")
        return Completion(  # a subscription: $0 per call, the counts are for the record
            text=str(result.get("result") or ""),
            model=model,
            input_tokens=_usage_int(usage, "input_tokens") + cache_write + cache_read,
            output_tokens=_usage_int(usage, "output_tokens"),
            cached_tokens=cache_read,
            cache_write_tokens=cache_write,
            cache_write_1h_tokens=min(one_hour, cache_write),
            finish_reason=str(stop_reason) if stop_reason else None,
            seconds=seconds,
        )

    @contextmanager
    def _workdir(self) -> Iterator[Path]:
        if self._cwd is not None:
            yield self._cwd
            return
        with tempfile.TemporaryDirectory(prefix="frugalflow-claude-") as empty:
            yield Path(empty)

    def _execute(
        self,
        args: list[str],
        *,
        cwd: Path,
        stdin_text: str | None,
        provider: str,
        on_text: Callable[[str], None] | None,
    ) -> tuple[dict[str, Any] | None, str, int, bool]:
        """Run the CLI; return its result event, stderr, exit status and whether it timed out."""
        with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as stderr_file:
            if stdin_text is not None:
                stdin.write(stdin_text.encode())
                stdin.seek(0)
            run = _Run(
                args,
                cwd=cwd,
                stdin=stdin if stdin_text is not None else subprocess.DEVNULL,
                stderr=stderr_file,
                timeout=self._settings.provider_timeout_seconds,
                provider=provider,
            )
            return self._read(run, on_text)

    def _read(
        self, run: _Run, on_text: Callable[[str], None] | None
    ) -> tuple[dict[str, Any] | None, str, int, bool]:
        result: dict[str, Any] | None = None
        unparsed: list[str] = []
        streamed_deltas = False
        try:
            for line in run.lines():
                try:
                    event = json.loads(line)
                except ValueError:
                    if line.strip():
                        unparsed.append(line)
                    continue
                if isinstance(event, list):  # `json` output with --verbose: every message
                    event = next(
                        (e for e in reversed(event) if isinstance(e, dict) and _is_result(e)),
                        None,
                    )
                if not isinstance(event, dict):
                    continue
                if _is_result(event):
                    result = event
                    break  # do not wait for EOF: a leftover child may hold stdout open
                if on_text is not None:
                    delta = _text_delta(event)
                    if delta is not None:
                        streamed_deltas = True
                        if delta:
                            on_text(delta)
                    elif not streamed_deltas:
                        for piece in _assistant_text(event):
                            on_text(piece)
            if result is None and unparsed:
                try:  # a pretty-printed result over several lines
                    whole = json.loads("".join(unparsed))
                except ValueError:
                    whole = None
                if isinstance(whole, dict) and _is_result(whole):
                    result = whole
            run.finish()
            stderr = run.stderr
        except BaseException:
            run.abort()
            raise
        finally:
            run.close()
        assert run.returncode is not None  # finish() or abort() reaped it
        return result, stderr, run.returncode, run.timed_out and result is None


def _is_result(event: dict[str, Any]) -> bool:
    return event.get("type") == "result"


def _text_delta(event: dict[str, Any]) -> str | None:
    """The text of a partial-message delta (``--include-partial-messages``), else None."""
    if event.get("type") != "stream_event":
        return None
    inner = event.get("event")
    if not isinstance(inner, dict) or inner.get("type") != "content_block_delta":
        return ""
    delta = inner.get("delta")
    if isinstance(delta, dict) and delta.get("type") == "text_delta":
        return str(delta.get("text") or "")
    return ""


def _assistant_text(event: dict[str, Any]) -> list[str]:
    """The text blocks of a whole assistant message event."""
    if event.get("type") != "assistant":
        return []
    message = event.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        return []
    return [
        str(block["text"])
        for block in content
        if isinstance(block, dict) and block.get("type") == "text" and block.get("text")
    ]

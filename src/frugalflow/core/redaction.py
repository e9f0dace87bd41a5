"""Secrets out of everything frugalflow writes: logs, tracebacks, errors, the ledger, artifacts.

A provider may echo a key back in an error body (a proxy quoting the ``Authorization`` header,
a 400 that repeats the request), and that text travels: into exception messages, chained
tracebacks, Prefect's log table on the server, the ledger's ``error`` column, the run's
artifact. :func:`redact` replaces every secret frugalflow knows of with ``[redacted]``:

* the API keys in the vendors' variables (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``,
  ``GEMINI_API_KEY``, ``GOOGLE_API_KEY``), whichever provider's text it is: an OpenAI error
  that quotes the Anthropic key is redacted too;
* values :func:`remember_secret` was given: keys loaded from Prefect Secret blocks, the
  ``alert_webhook_url`` (see :func:`remember_settings_secrets`);
* as a fallback, strings shaped like keys: ``sk-...`` (OpenAI, ``sk-proj-``, ``sk-ant-``),
  ``AIza...`` (Google), even when frugalflow was never told about them.

:func:`install_redaction` puts it where text leaves the process (:func:`uninstall_redaction`
takes it away again): a record factory that redacts every log record as it is made (whatever
handler later sends it, Prefect's ``APILogHandler`` included, and however often Prefect reconfigures logging), a :class:`RedactingFilter` on every
handler configured so far (the root logger's, Prefect's console and ``APILogHandler``, which
ships records to the server's log table), and ``sys.excepthook`` /
``threading.excepthook`` for tracebacks nothing caught. :class:`~frugalflow.core.errors.ProviderError`
redacts its own message, so the errors built from provider text are clean at the source.

This module imports only the standard library, so that :mod:`frugalflow.core.errors` can use it.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Protocol

REDACTED = "[redacted]"

# The variables whose values are secrets, whichever provider's error text is being redacted.
SECRET_VARIABLES = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "FRUGALFLOW_ALERT_WEBHOOK_URL",
)

# Shorter values are not redacted: replacing "abc" everywhere would garble text and hide nothing.
MIN_SECRET_LENGTH = 8

# Key shapes, for keys frugalflow was not told about. OpenAI's (``sk-``, ``sk-proj-``,
# ``sk-svcacct-``) and Anthropic's (``sk-ant-api03-``) keys are ``sk-`` and 20 or more URL-safe
# characters with digits among them (so that ``sk-learn-compatible-estimator`` is left alone);
# a server that masks a key (``sk-proj-abc***1234``) still shows its ends, so ``*`` counts too.
# Google API keys are ``AIza`` and 35 characters.
KEY_SHAPES = re.compile(
    r"\bsk-(?=[A-Za-z0-9_\-*]*[0-9])[A-Za-z0-9_\-*]{20,}|\bAIza[0-9A-Za-z_\-]{35}"
)

_remembered: set[str] = set()
_remembered_lock = threading.Lock()


class _HasSecretSettings(Protocol):
    @property
    def alert_webhook_url(self) -> Any: ...


def remember_secret(value: str | None) -> None:
    """Redact ``value`` from now on in this process (a key loaded from a Secret block...)."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        with _remembered_lock:
            _remembered.add(value)


def remember_settings_secrets(settings: _HasSecretSettings) -> None:
    """Remember the secrets that settings hold: ``alert_webhook_url``."""
    webhook = settings.alert_webhook_url
    if webhook is not None:
        remember_secret(webhook.get_secret_value())


def known_secrets() -> list[str]:
    """Every secret value to redact now, longest first (so a key's prefix never wins)."""
    values = {os.environ.get(name, "") for name in SECRET_VARIABLES}
    with _remembered_lock:
        values |= _remembered
    return sorted((v for v in values if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with every known secret and key-shaped string replaced by ``[redacted]``."""
    if not text:
        return text
    for secret in known_secrets():
        if secret in text:
            text = text.replace(secret, REDACTED)
    return KEY_SHAPES.sub(REDACTED, text)


def redact_exception(exc: BaseException) -> str:
    """The traceback of ``exc`` as Python prints it (its causes too), redacted."""
    return redact("".join(traceback.format_exception(exc)))


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Redact a log record in place: its message with arguments, its traceback, its stack.

    A record left unchanged keeps its ``msg`` and ``args``; one that held a secret gets the
    redacted message as ``msg`` with no ``args``, and a traceback that held one is replaced
    by its redacted text in ``exc_text`` (with ``exc_info`` cleared so that no handler
    formats the original again).
    """
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it itself when formatting
        message = str(record.msg)
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, ()
    if record.exc_info and record.exc_info[1] is not None:
        formatted = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        clean_traceback = redact(formatted)
        if clean_traceback != formatted:
            record.exc_info, record.exc_text = None, clean_traceback
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record (see :func:`redact_record`) and keeps it."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_FILTER = RedactingFilter()
_installed_factory: Callable[..., logging.LogRecord] | None = None
_wrapped_factory: Callable[..., logging.LogRecord] | None = None  # what ours wraps
# The hooks ours replaced (sys, threading), to put back on uninstall_redaction().
_replaced_hooks: tuple[Any, Any] | None = None


def _install_record_factory() -> None:
    global _installed_factory, _wrapped_factory
    current = logging.getLogRecordFactory()
    if current is _installed_factory:
        return

    def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(current(*args, **kwargs))

    logging.setLogRecordFactory(redacting_factory)
    _installed_factory, _wrapped_factory = redacting_factory, current


def _loggers() -> Iterable[logging.Logger]:
    """The root logger and every logger made so far (Prefect's ``prefect.flow_runs``...)."""
    yield logging.getLogger()
    for candidate in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(candidate, logging.Logger):
            yield candidate


def _install_filters() -> None:
    for target in _loggers():
        for handler in target.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)


def _install_excepthooks() -> None:
    global _replaced_hooks
    if getattr(sys.excepthook, "frugalflow_redacting", False):
        return

    def excepthook(
        exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        sys.stderr.write(redact("".join(traceback.format_exception(exc_type, exc, tb))))

    def thread_excepthook(hook_args: threading.ExceptHookArgs) -> None:
        if hook_args.exc_value is None or hook_args.exc_type is SystemExit:
            return
        name = hook_args.thread.name if hook_args.thread is not None else "?"
        formatted = "".join(
            traceback.format_exception(
                hook_args.exc_type, hook_args.exc_value, hook_args.exc_traceback
            )
        )
        sys.stderr.write(redact(f"Exception in thread {name}:\n{formatted}"))

    excepthook.frugalflow_redacting = True  # type: ignore[attr-defined]
    thread_excepthook.frugalflow_redacting = True  # type: ignore[attr-defined]
    _replaced_hooks = (sys.excepthook, threading.excepthook)
    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook


def install_redaction(settings: _HasSecretSettings | None = None) -> None:
    """Redact secrets from every log record, log handler and uncaught traceback of the process.

    Idempotent and cheap: call it at start-up (the CLI does) and again once settings are
    loaded (the flow does), which also adds filters to handlers Prefect set up meanwhile.

    Args:
        settings: whose secrets (``alert_webhook_url``) to remember, when given.
    """
    if settings is not None:
        remember_settings_secrets(settings)
    _install_record_factory()
    _install_filters()
    _install_excepthooks()


def uninstall_redaction() -> None:
    """Undo :func:`install_redaction`: for tests, and for embedders that must put logging back.

    The record factory, ``sys.excepthook`` and ``threading.excepthook`` it replaced are put back
    where its own are still in place (one installed since on top of them is left alone), and its
    filter is taken off every handler. Secrets remembered with :func:`remember_secret` stay
    remembered, and :func:`redact` and :class:`~frugalflow.core.errors.ProviderError` still
    redact. Calling it when nothing is installed does nothing.
    """
    global _installed_factory, _wrapped_factory, _replaced_hooks
    if _installed_factory is not None and logging.getLogRecordFactory() is _installed_factory:
        assert _wrapped_factory is not None
        logging.setLogRecordFactory(_wrapped_factory)
    _installed_factory = _wrapped_factory = None
    for target in _loggers():
        for handler in target.handlers:
            handler.removeFilter(_FILTER)
    if _replaced_hooks is not None:
        previous_hook, previous_thread_hook = _replaced_hooks
        if getattr(sys.excepthook, "frugalflow_redacting", False):
            sys.excepthook = previous_hook
        if getattr(threading.excepthook, "frugalflow_redacting", False):
            threading.excepthook = previous_thread_hook
        _replaced_hooks = None

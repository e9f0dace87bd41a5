"""Bodies shaped like the documented Gemini API: ``generateContent`` responses
(``candidates[].content.parts[].text``, ``usageMetadata``), ``streamGenerateContent?alt=sse``
chunks (``data: {...}``), and Google API errors
``{"error": {"code", "message", "status", "details": [...]}}``; and the adapter on a recorder,
through the SDK's documented seam ``HttpOptions(httpx_client=...)``."""

from __future__ import annotations

import json
from typing import Any

import httpx2
from google.genai import types

from frugalflow.core.settings import Settings
from frugalflow.providers.gemini import GeminiProvider
from tests.support.http import HttpRecorder, Responder

KEY = "AIzaSyTEST-abcdefghijklmnopqrstuvwxyz0123"
MODEL = "gemini-2.5-flash"
TIMEOUT = 17.0


def make(respond: Responder) -> tuple[GeminiProvider, HttpRecorder]:
    """The Gemini adapter (timeout :data:`TIMEOUT`) whose SDK sends to a recorder."""
    recorder = HttpRecorder(respond)
    provider = GeminiProvider(
        Settings(provider_timeout_seconds=TIMEOUT),
        http_options=types.HttpOptions(httpx_client=recorder.client()),
    )
    return provider, recorder


def google_error(
    code: int,
    status: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Responder:
    """A handler answering with a Google API error."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return lambda request: httpx2.Response(code, json={"error": error}, headers=headers)


def response_body(
    parts: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    finish_reason: str | None = "STOP",
    **candidate: Any,
) -> dict[str, Any]:
    """A ``generateContent`` response with one candidate of these parts."""
    first: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish_reason is not None:
        first["finishReason"] = finish_reason
    first.update(candidate)
    body: dict[str, Any] = {
        "candidates": [first],
        "modelVersion": MODEL,
        "responseId": "mC2yaOLdFrSLz7IP6pOFkAg",
    }
    if usage is not None:
        body["usageMetadata"] = usage
    return body


def ok(body: dict[str, Any]) -> Responder:
    """A handler answering with ``body`` as a 200 JSON response."""
    return lambda request: httpx2.Response(200, json=body)


def sse(*chunks: dict[str, Any]) -> Responder:
    """A handler answering with the chunks as ``streamGenerateContent?alt=sse`` does."""
    content = b"".join(f"data: {json.dumps(chunk)}\r\n\r\n".encode() for chunk in chunks)
    return lambda request: httpx2.Response(
        200, headers={"content-type": "text/event-stream"}, content=content
    )

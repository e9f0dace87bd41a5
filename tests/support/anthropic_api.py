"""Bodies shaped like Anthropic's documented Messages API: the message object, the SSE event
sequence ``message_start``, ``content_block_start``, ``content_block_delta``,
``content_block_stop``, ``message_delta``, ``message_stop``, and the error object
``{"type": "error", "error": {"type": ..., "message": ...}}``; and the adapter on a recorder."""

from __future__ import annotations

import json
from typing import Any

import httpx2

from frugalflow.core.settings import Settings
from frugalflow.providers.anthropic import AnthropicProvider
from tests.support.http import HttpRecorder, Responder

KEY = "sk-ant-api03-TEST-abcdefghijklmnopqrstuvwxyz0123456789"
MODEL = "claude-sonnet-4-6"
TIMEOUT = 17.0


def make(respond: Responder) -> tuple[AnthropicProvider, HttpRecorder]:
    """The Anthropic adapter (timeout :data:`TIMEOUT`) whose SDK sends to a recorder."""
    recorder = HttpRecorder(respond)
    provider = AnthropicProvider(
        Settings(provider_timeout_seconds=TIMEOUT), http_client=recorder.client()
    )
    return provider, recorder


def error_response(
    status: int, error_type: str, message: str, headers: dict[str, str] | None = None
) -> Responder:
    """A handler answering with Anthropic's error object."""
    body = {
        "type": "error",
        "error": {"type": error_type, "message": message},
        "request_id": "req_011CTestRequest",
    }
    return lambda request: httpx2.Response(status, json=body, headers=headers)


def message_body(content: list[dict[str, Any]], usage: dict[str, Any]) -> dict[str, Any]:
    """A message object with these content blocks and usage."""
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "content": content,
        "model": MODEL,
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }


def sse(*events: dict[str, Any]) -> bytes:
    """The events as a server-sent event stream (``event:`` and ``data:`` lines)."""
    return b"".join(
        f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode() for event in events
    )


def message_start(usage: dict[str, Any]) -> dict[str, Any]:
    """The ``message_start`` event, with the usage known at the start."""
    return {
        "type": "message_start",
        "message": {
            "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": MODEL,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        },
    }


def text_delta(index: int, text: str) -> dict[str, Any]:
    """A ``content_block_delta`` event carrying text."""
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "text_delta", "text": text},
    }


def streaming(body: bytes) -> Responder:
    """A handler answering with a 200 event stream of ``body``."""
    return lambda request: httpx2.Response(
        200, headers={"content-type": "text/event-stream"}, content=body
    )

"""Bodies shaped like OpenAI's documented Chat Completions API: the completion object, the
``chat.completion.chunk`` stream (``data: ...`` events ending in ``[DONE]``), and the error
object ``{"error": {"message", "type", "param", "code"}}``."""

from __future__ import annotations

import json
from typing import Any

import httpx2

from frugalflow.providers.base import ChatMessage
from tests.support.http import Responder

KEY = "sk-test-0123456789abcdefghijklmnopqrstuvwxyzABCD"
MESSAGES = [
    ChatMessage(role="system", content="You are a terse Python assistant. Answer with code only."),
    ChatMessage(role="user", content="Write a Python function add(a, b) that returns a + b."),
]

CHAT_COMPLETION = {
    "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
    "object": "chat.completion",
    "created": 1741569952,
    "model": "gpt-4.1-mini-2025-04-14",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "def add(a, b):\n    return a + b\n",
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 1290,
        "completion_tokens": 14,
        "total_tokens": 1304,
        "prompt_tokens_details": {"cached_tokens": 1152, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
    "service_tier": "default",
    "system_fingerprint": "fp_6ec9e1d1b5",
}

STREAM_USAGE = {
    "prompt_tokens": 1290,
    "completion_tokens": 14,
    "total_tokens": 1304,
    "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
}


def completion_with(content: str) -> dict[str, Any]:
    """:data:`CHAT_COMPLETION` whose one choice says ``content``."""
    return {
        **CHAT_COMPLETION,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
    }


def error(status: int, message: str, type_: str, code: str | None, **headers: str) -> Responder:
    """A handler answering with OpenAI's error object."""
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return lambda request: httpx2.Response(status, json=body, headers=headers)


def sse(events: list[dict[str, Any] | str]) -> Responder:
    """A handler answering with a stream of ``data:`` events (dicts as JSON, strings as is)."""
    lines = "".join(
        f"data: {event if isinstance(event, str) else json.dumps(event)}\n\n" for event in events
    )
    return lambda request: httpx2.Response(
        200, content=lines.encode(), headers={"content-type": "text/event-stream"}
    )


def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    """A ``chat.completion.chunk``; without ``delta``, one with no choices (the usage chunk)."""
    return {
        "id": "chatcmpl-stream",
        "object": "chat.completion.chunk",
        "created": 1741569952,
        "model": "gpt-4.1-mini-2025-04-14",
        "system_fingerprint": "fp_6ec9e1d1b5",
        "choices": []
        if delta is None
        else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        **extra,
    }

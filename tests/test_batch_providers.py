"""The batch adapters at the HTTP boundary, against httpx MockTransport vendors that answer with
the documented shapes: submit, poll, fetch results, and each result's usage read as the
synchronous adapters read it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from frugalflow.core.errors import BadRequestError
from frugalflow.providers.base import ChatMessage
from frugalflow.providers.batch import (
    AnthropicBatches,
    BatchRequest,
    BatchState,
    BatchStatus,
    GeminiBatches,
    OpenAIBatches,
    batch_adapter,
)

PROMPT = (
    ChatMessage(role="system", content="You write Python."),
    ChatMessage(role="user", content="Repository context."),
    ChatMessage(role="user", content="Write add(a, b)."),
)
REQUEST = BatchRequest(custom_id="req-1:generate:1", messages=PROMPT, max_tokens=500)
CODE = "def add(a, b):\n    return a + b\n"


class Vendor:
    """A MockTransport handler: answers by (method, path), remembers each request."""

    def __init__(self, routes: dict[tuple[str, str], httpx.Response]) -> None:
        self.routes = routes
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        return self.routes.get(
            (request.method, request.url.path), httpx.Response(404, json={"error": "no route"})
        )

    def client(self, base: str) -> httpx.Client:
        return httpx.Client(base_url=base, transport=httpx.MockTransport(self))


def jsonl(*lines: dict[str, Any]) -> str:
    return "\n".join(json.dumps(line) for line in lines) + "\n"


def test_openai_batch_uploads_jsonl_polls_and_reads_the_output_file() -> None:
    """Shapes from OpenAI's Batch API reference (platform.openai.com/docs/api-reference/batch):
    ``POST /v1/files`` with ``purpose=batch`` and a JSONL of ``{custom_id, method, url, body}``
    lines; ``POST /v1/batches`` with ``input_file_id``, ``endpoint``, ``completion_window:
    "24h"``; ``GET /v1/batches/{id}`` with ``status`` and ``output_file_id``; the output file's
    lines ``{id, custom_id, response: {status_code, request_id, body}, error}``."""
    completion = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1733000000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": CODE},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 2_000,
            "completion_tokens": 40,
            "total_tokens": 2_040,
            "prompt_tokens_details": {"cached_tokens": 1_024},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }
    vendor = Vendor(
        {
            ("POST", "/v1/files"): httpx.Response(200, json={"id": "file-in", "purpose": "batch"}),
            ("POST", "/v1/batches"): httpx.Response(
                200, json={"id": "batch_abc", "object": "batch", "status": "validating"}
            ),
            ("GET", "/v1/batches/batch_abc"): httpx.Response(
                200,
                json={
                    "id": "batch_abc",
                    "object": "batch",
                    "status": "completed",
                    "output_file_id": "file-out",
                    "error_file_id": None,
                    "request_counts": {"total": 1, "completed": 1, "failed": 0},
                },
            ),
            ("GET", "/v1/files/file-out/content"): httpx.Response(
                200,
                text=jsonl(
                    {
                        "id": "batch_req_1",
                        "custom_id": REQUEST.custom_id,
                        "response": {"status_code": 200, "request_id": "r", "body": completion},
                        "error": None,
                    }
                ),
            ),
        }
    )
    adapter = OpenAIBatches(vendor.client("https://api.openai.com"))
    assert adapter.submit("gpt-4o-mini", [REQUEST]) == "batch_abc"
    upload, create = vendor.seen
    assert b'name="purpose"\r\n\r\nbatch' in upload.content
    line = json.loads(upload.content.split(b"\r\n\r\n")[2].split(b"\r\n--")[0].splitlines()[0])
    assert line["custom_id"] == REQUEST.custom_id
    assert (line["method"], line["url"]) == ("POST", "/v1/chat/completions")
    assert line["body"]["max_completion_tokens"] == 500
    assert line["body"]["prompt_cache_key"].startswith("frugalflow-")
    assert json.loads(create.content) == {
        "input_file_id": "file-in",
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
    }
    status = adapter.status("batch_abc")
    assert (status.state, status.results_ref) == (BatchState.ENDED, "file-out")
    [result] = adapter.results("gpt-4o-mini", status)
    assert result.custom_id == REQUEST.custom_id and result.completion is not None
    got = result.completion
    assert (got.text, got.input_tokens, got.cached_tokens, got.output_tokens) == (
        CODE,
        2_000,
        1_024,
        40,
    )
    assert got.answered_model == "gpt-4o-mini-2024-07-18"


@pytest.mark.parametrize(
    ("vendor_status", "state"),
    [
        ("validating", BatchState.RUNNING),
        ("in_progress", BatchState.RUNNING),
        ("finalizing", BatchState.RUNNING),
        ("cancelling", BatchState.RUNNING),
        ("failed", BatchState.FAILED),
        ("expired", BatchState.EXPIRED),
        ("cancelled", BatchState.CANCELLED),
    ],
)
def test_openai_batch_statuses(vendor_status: str, state: BatchState) -> None:
    """The Batch object's documented ``status`` values (OpenAI Batch API, "The batch object")."""
    vendor = Vendor(
        {("GET", "/v1/batches/b"): httpx.Response(200, json={"id": "b", "status": vendor_status})}
    )
    assert OpenAIBatches(vendor.client("https://api.openai.com")).status("b").state is state


def test_an_openai_line_with_an_error_is_a_result_without_completion() -> None:
    """An output line whose ``response.status_code`` is not 200 carries the error in its body."""
    vendor = Vendor(
        {
            ("GET", "/v1/files/out/content"): httpx.Response(
                200,
                text=jsonl(
                    {
                        "custom_id": "x",
                        "response": {
                            "status_code": 400,
                            "body": {"error": {"message": "bad", "type": "invalid_request"}},
                        },
                        "error": None,
                    }
                ),
            )
        }
    )
    adapter = OpenAIBatches(vendor.client("https://api.openai.com"))
    [result] = adapter.results(
        "gpt-4o-mini",
        BatchStatus(
            batch_id="b", state=BatchState.ENDED, vendor_status="completed", results_ref="out"
        ),
    )
    assert result.completion is None and "bad" in (result.error or "")


def test_anthropic_message_batch_submits_polls_and_reads_results_url() -> None:
    """Shapes from Anthropic's Message Batches docs (platform.claude.com/docs/en/
    build-with-claude/batch-processing, /docs/en/api/retrieving-message-batches): ``POST
    /v1/messages/batches`` with ``requests: [{custom_id, params}]``; the batch's
    ``processing_status`` (``in_progress`` -> ``ended``) and ``results_url``; JSONL results
    ``{custom_id, result: {type: succeeded, message}}`` or ``{type: errored | expired}``."""
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": CODE}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 20,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 1_500,
            "output_tokens": 40,
        },
    }
    results_url = "https://api.anthropic.com/v1/messages/batches/msgbatch_01/results"
    vendor = Vendor(
        {
            ("POST", "/v1/messages/batches"): httpx.Response(
                200,
                json={
                    "id": "msgbatch_01",
                    "type": "message_batch",
                    "processing_status": "in_progress",
                    "results_url": None,
                },
            ),
            ("GET", "/v1/messages/batches/msgbatch_01"): httpx.Response(
                200,
                json={
                    "id": "msgbatch_01",
                    "type": "message_batch",
                    "processing_status": "ended",
                    "request_counts": {
                        "processing": 0,
                        "succeeded": 1,
                        "errored": 0,
                        "canceled": 0,
                        "expired": 1,
                    },
                    "results_url": results_url,
                },
            ),
            ("GET", "/v1/messages/batches/msgbatch_01/results"): httpx.Response(
                200,
                text=jsonl(
                    {
                        "custom_id": REQUEST.custom_id,
                        "result": {"type": "succeeded", "message": message},
                    },
                    {"custom_id": "late", "result": {"type": "expired"}},
                ),
            ),
        }
    )
    adapter = AnthropicBatches(vendor.client("https://api.anthropic.com"))
    assert adapter.submit("claude-sonnet-4-5", [REQUEST]) == "msgbatch_01"
    [entry] = json.loads(vendor.seen[0].content)["requests"]
    assert entry["custom_id"] == REQUEST.custom_id
    assert entry["params"]["system"] == "You write Python."
    assert entry["params"]["max_tokens"] == 500
    assert [m["content"] for m in entry["params"]["messages"]] == [
        "Repository context.",
        "Write add(a, b).",
    ]
    assert vendor.seen[0].headers["anthropic-version"] == "2023-06-01"
    status = adapter.status("msgbatch_01")
    assert (status.state, status.results_ref) == (BatchState.ENDED, results_url)
    done, late = adapter.results("claude-sonnet-4-5", status)
    assert done.completion is not None and done.completion.text == CODE
    # cache reads are not in input_tokens on Anthropic: added, as in the synchronous adapter
    assert (done.completion.input_tokens, done.completion.cached_tokens) == (1_520, 1_500)
    assert (late.completion, late.error) == (None, '"expired"')


def test_anthropic_in_progress_is_running() -> None:
    vendor = Vendor(
        {
            ("GET", "/v1/messages/batches/m"): httpx.Response(
                200, json={"id": "m", "processing_status": "canceling", "results_url": None}
            )
        }
    )
    status = AnthropicBatches(vendor.client("https://api.anthropic.com")).status("m")
    assert status.state is BatchState.RUNNING and status.results_ref is None


def test_gemini_batch_mode_inlined_requests_and_responses() -> None:
    """Shapes from the Gemini API's batch mode (ai.google.dev/api/batch-api,
    ai.google.dev/gemini-api/docs/batch-mode): ``POST
    /v1beta/models/{model}:batchGenerateContent`` with ``batch.inputConfig.requests.requests:
    [{request, metadata: {key}}]`` returns an operation ``batches/{id}``; ``GET
    /v1beta/batches/{id}`` has ``metadata.state`` (``BATCH_STATE_SUCCEEDED``) and
    ``response.inlinedResponses.inlinedResponses: [{response, metadata: {key}}]``."""
    response = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": CODE}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": {
            "promptTokenCount": 1_800,
            "cachedContentTokenCount": 1_024,
            "candidatesTokenCount": 40,
            "thoughtsTokenCount": 100,
            "totalTokenCount": 1_940,
        },
        "modelVersion": "gemini-2.5-flash",
    }
    vendor = Vendor(
        {
            ("POST", "/v1beta/models/gemini-2.5-flash:batchGenerateContent"): httpx.Response(
                200,
                json={
                    "name": "batches/123",
                    "metadata": {"state": "BATCH_STATE_PENDING", "model": "models/x"},
                },
            ),
            ("GET", "/v1beta/batches/123"): httpx.Response(
                200,
                json={
                    "name": "batches/123",
                    "metadata": {"state": "BATCH_STATE_SUCCEEDED"},
                    "done": True,
                    "response": {
                        "inlinedResponses": {
                            "inlinedResponses": [
                                {"response": response, "metadata": {"key": REQUEST.custom_id}},
                                {
                                    "error": {"code": 400, "message": "bad"},
                                    "metadata": {"key": "b"},
                                },
                            ]
                        }
                    },
                },
            ),
        }
    )
    adapter = GeminiBatches(vendor.client("https://generativelanguage.googleapis.com"))
    assert adapter.submit("gemini-2.5-flash", [REQUEST]) == "batches/123"
    batch = json.loads(vendor.seen[0].content)["batch"]
    [inlined] = batch["inputConfig"]["requests"]["requests"]
    assert inlined["metadata"] == {"key": REQUEST.custom_id}
    assert inlined["request"]["systemInstruction"] == {"parts": [{"text": "You write Python."}]}
    assert inlined["request"]["generationConfig"] == {"maxOutputTokens": 500}
    status = adapter.status("batches/123")
    assert status.state is BatchState.ENDED
    done, failed = adapter.results("gemini-2.5-flash", status)
    assert done.completion is not None and done.completion.text == CODE
    got = done.completion
    # thoughts are output beside the candidates, cached content a part of the prompt
    assert (got.input_tokens, got.cached_tokens, got.output_tokens, got.reasoning_tokens) == (
        1_800,
        1_024,
        140,
        100,
    )
    assert failed.completion is None and "bad" in (failed.error or "")


@pytest.mark.parametrize(
    ("vendor_state", "state"),
    [
        ("BATCH_STATE_PENDING", BatchState.RUNNING),
        ("BATCH_STATE_RUNNING", BatchState.RUNNING),
        ("BATCH_STATE_FAILED", BatchState.FAILED),
        ("BATCH_STATE_EXPIRED", BatchState.EXPIRED),
        ("BATCH_STATE_CANCELLED", BatchState.CANCELLED),
    ],
)
def test_gemini_batch_states(vendor_state: str, state: BatchState) -> None:
    """The documented ``BatchState`` values (ai.google.dev/api/batch-api)."""
    vendor = Vendor(
        {
            ("GET", "/v1beta/batches/9"): httpx.Response(
                200, json={"metadata": {"state": vendor_state}}
            )
        }
    )
    adapter = GeminiBatches(vendor.client("https://generativelanguage.googleapis.com"))
    assert adapter.status("batches/9").state is state


def test_a_refused_submission_and_an_unknown_provider_are_errors() -> None:
    vendor = Vendor({("POST", "/v1/messages/batches"): httpx.Response(400, json={"error": "x"})})
    with pytest.raises(BadRequestError, match="400"):
        AnthropicBatches(vendor.client("https://api.anthropic.com")).submit("m", [REQUEST])
    with pytest.raises(BadRequestError, match="no batch API"):
        batch_adapter("ollama", vendor.client("http://127.0.0.1"))

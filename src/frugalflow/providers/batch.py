"""The vendors' batch APIs at the HTTP boundary: submit a batch, poll its status, fetch its
results, for OpenAI, Anthropic and Gemini.

A batch here holds the calls of one step of one request (one call, usually), each with a
``custom_id`` of the caller's choosing, and ends within 24 hours at the batch price (the
discount is applied where calls are priced, :data:`frugalflow.money.pricing.BATCH_DISCOUNT`).
Each adapter speaks the vendor's documented REST shapes over an injected ``httpx.Client``, so
that tests and a proxy can stand in for the vendor:

* **OpenAI** (Batch API): the requests are uploaded as JSONL to ``POST /v1/files``
  (``purpose=batch``), one line ``{"custom_id", "method": "POST", "url":
  "/v1/chat/completions", "body"}`` each; ``POST /v1/batches`` (``input_file_id``,
  ``endpoint``, ``completion_window: "24h"``) starts the batch; ``GET /v1/batches/{id}`` gives
  its ``status`` (``validating``, ``in_progress``, ``finalizing``, ``completed``, ``failed``,
  ``expired``, ``cancelling``, ``cancelled``) and, once completed, its ``output_file_id``,
  whose ``GET /v1/files/{id}/content`` is JSONL: ``{"custom_id", "response": {"status_code",
  "body": <chat completion>}, "error"}``.
* **Anthropic** (Message Batches): ``POST /v1/messages/batches`` with ``requests: [{custom_id,
  params}]``; ``GET /v1/messages/batches/{id}`` gives ``processing_status`` (``in_progress``,
  ``canceling``, ``ended``) and, once ended, ``results_url``, JSONL of ``{"custom_id",
  "result": {"type": "succeeded", "message"} | {"type": "errored", "error"} | {"type":
  "canceled"} | {"type": "expired"}}``.
* **Gemini** (batch mode): ``POST /v1beta/models/{model}:batchGenerateContent`` with inlined
  requests (``batch.inputConfig.requests.requests: [{request, metadata: {key}}]``) returns an
  operation named ``batches/{id}``; ``GET /v1beta/batches/{id}`` gives ``metadata.state``
  (``BATCH_STATE_PENDING``, ``_RUNNING``, ``_SUCCEEDED``, ``_FAILED``, ``_CANCELLED``,
  ``_EXPIRED``) and, once succeeded, ``response.inlinedResponses``: ``{response | error,
  metadata: {key}}`` each.

Results are :class:`~frugalflow.providers.base.Completion` objects read with the same usage
readers as the adapters' synchronous calls, so a batch call is booked part by part as any
other.

Over 400 lines on purpose: the three vendors' batch shapes side by side, behind one protocol
(:class:`BatchAdapter`) and one set of common states; apart, each would restate the states,
the result type and the JSONL reading.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import StrEnum
from typing import Any, ClassVar, Protocol

import httpx
from anthropic.types import Message
from google.genai import types as genai_types
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ConfigDict, ValidationError

from frugalflow.core.errors import BadRequestError, ProviderError
from frugalflow.providers import anthropic as anthropic_adapter
from frugalflow.providers import gemini as gemini_adapter
from frugalflow.providers import openai as openai_adapter
from frugalflow.providers.base import ChatMessage, Completion

OPENAI_BATCH_ENDPOINT = "/v1/chat/completions"
ANTHROPIC_VERSION = "2023-06-01"


class BatchState(StrEnum):
    """Where a batch is, in the vendors' common terms."""

    RUNNING = "running"
    """Submitted, not ended yet (validating, queued, in progress, finalizing, cancelling)."""
    ENDED = "ended"
    """Ended with results to fetch (each result may still be an error)."""
    FAILED = "failed"
    """Ended without results (the vendor refused or failed the batch)."""
    EXPIRED = "expired"
    """Not processed within the vendor's 24-hour window."""
    CANCELLED = "cancelled"


OPEN_STATES = frozenset({BatchState.RUNNING})


class BatchRequest(BaseModel):
    """One call of a batch: the caller's id for it, the prompt and its ``max_tokens``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    custom_id: str
    messages: tuple[ChatMessage, ...]
    max_tokens: int


class BatchStatus(BaseModel):
    """A batch as its vendor last reported it.

    Attributes:
        batch_id: the vendor's id (``batch_...``, ``msgbatch_...``, ``batches/...``).
        state: the common state.
        vendor_status: the vendor's own word for it.
        results_ref: where the results are (OpenAI's ``output_file_id``, Anthropic's
            ``results_url``); None before they exist and for Gemini (results inline).
        raw: the vendor's body, for reading inline results.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_id: str
    state: BatchState
    vendor_status: str
    results_ref: str | None = None
    raw: dict[str, Any] = {}


class BatchResult(BaseModel):
    """One call's outcome in an ended batch: a completion, or why there is none."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    custom_id: str
    completion: Completion | None = None
    error: str | None = None


class BatchAdapter(Protocol):
    """What each vendor's batch adapter does."""

    provider: str

    def submit(self, model: str, requests: Sequence[BatchRequest]) -> str:
        """Start a batch; its id."""
        ...

    def status(self, batch_id: str) -> BatchStatus: ...

    def results(self, model: str, status: BatchStatus) -> list[BatchResult]:
        """The results of an :attr:`BatchState.ENDED` batch."""
        ...


def _json(response: httpx.Response, address: str) -> dict[str, Any]:
    if response.status_code >= 400:
        raise BadRequestError(
            f"{address}: the batch API answered {response.status_code}: {response.text[:300]}",
            provider=address,
        )
    try:
        body = response.json()
    except ValueError as exc:
        raise ProviderError(
            f"{address}: the batch API's reply is not JSON", provider=address
        ) from exc
    if not isinstance(body, dict):
        raise ProviderError(f"{address}: the batch API's reply is not an object", provider=address)
    return body


def _jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _split_system(messages: Sequence[ChatMessage]) -> tuple[str, list[dict[str, str]]]:
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    rest = [{"role": m.role, "content": m.content} for m in messages if m.role != "system"]
    return system, rest


class OpenAIBatches:
    """OpenAI's Batch API (see the module docstring)."""

    provider = "openai"

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def submit(self, model: str, requests: Sequence[BatchRequest]) -> str:
        address = f"openai:{model}"
        lines = []
        for request in requests:
            body: dict[str, Any] = {
                "model": model,
                "messages": [{"role": m.role, "content": m.content} for m in request.messages],
                "max_completion_tokens": request.max_tokens,
            }
            if (key := openai_adapter.prompt_cache_key(request.messages)) is not None:
                body["prompt_cache_key"] = key
            line = {
                "custom_id": request.custom_id,
                "method": "POST",
                "url": OPENAI_BATCH_ENDPOINT,
                "body": body,
            }
            lines.append(json.dumps(line))
        upload = self.client.post(
            "/v1/files",
            data={"purpose": "batch"},
            files={"file": ("batch.jsonl", "\n".join(lines).encode(), "application/jsonl")},
        )
        file_id = _json(upload, address)["id"]
        created = self.client.post(
            "/v1/batches",
            json={
                "input_file_id": file_id,
                "endpoint": OPENAI_BATCH_ENDPOINT,
                "completion_window": "24h",
            },
        )
        return str(_json(created, address)["id"])

    _STATES: ClassVar[dict[str, BatchState]] = {
        "completed": BatchState.ENDED,
        "failed": BatchState.FAILED,
        "expired": BatchState.EXPIRED,
        "cancelled": BatchState.CANCELLED,
    }

    def status(self, batch_id: str) -> BatchStatus:
        body = _json(self.client.get(f"/v1/batches/{batch_id}"), "openai")
        vendor = str(body.get("status"))
        return BatchStatus(
            batch_id=batch_id,
            state=self._STATES.get(vendor, BatchState.RUNNING),
            vendor_status=vendor,
            results_ref=body.get("output_file_id"),
            raw=body,
        )

    def results(self, model: str, status: BatchStatus) -> list[BatchResult]:
        if status.results_ref is None:
            return []
        content = self.client.get(f"/v1/files/{status.results_ref}/content")
        if content.status_code >= 400:
            _json(content, f"openai:{model}")
        results = []
        for line in _jsonl(content.text):
            custom_id = str(line.get("custom_id"))
            response = line.get("response") or {}
            if line.get("error") or response.get("status_code") != 200:
                error = line.get("error") or response.get("body", {}).get("error")
                results.append(BatchResult(custom_id=custom_id, error=json.dumps(error)))
                continue
            try:
                completion = ChatCompletion.model_validate(response["body"])
            except (ValidationError, KeyError) as exc:
                results.append(BatchResult(custom_id=custom_id, error=f"malformed: {exc}"))
                continue
            choice = completion.choices[0] if completion.choices else None
            results.append(
                BatchResult(
                    custom_id=custom_id,
                    completion=Completion(
                        text=(choice.message.content or "") if choice else "",
                        model=model,
                        **openai_adapter._usage(completion.usage),
                        answered_model=completion.model or None,
                        usage_reported=completion.usage is not None,
                        finish_reason=choice.finish_reason if choice else None,
                    ),
                )
            )
        return results


class AnthropicBatches:
    """Anthropic's Message Batches API (see the module docstring)."""

    provider = "anthropic"

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def submit(self, model: str, requests: Sequence[BatchRequest]) -> str:
        entries = []
        for request in requests:
            system, messages = _split_system(request.messages)
            params: dict[str, Any] = {
                "model": model,
                "max_tokens": request.max_tokens,
                "messages": messages,
            }
            if system:
                params["system"] = system
            entries.append({"custom_id": request.custom_id, "params": params})
        created = self.client.post(
            "/v1/messages/batches",
            json={"requests": entries},
            headers={"anthropic-version": ANTHROPIC_VERSION},
        )
        return str(_json(created, f"anthropic:{model}")["id"])

    def status(self, batch_id: str) -> BatchStatus:
        body = _json(
            self.client.get(
                f"/v1/messages/batches/{batch_id}",
                headers={"anthropic-version": ANTHROPIC_VERSION},
            ),
            "anthropic",
        )
        vendor = str(body.get("processing_status"))
        return BatchStatus(
            batch_id=batch_id,
            state=BatchState.ENDED if vendor == "ended" else BatchState.RUNNING,
            vendor_status=vendor,
            results_ref=body.get("results_url"),
            raw=body,
        )

    def results(self, model: str, status: BatchStatus) -> list[BatchResult]:
        if status.results_ref is None:
            return []
        address = f"anthropic:{model}"
        content = self.client.get(
            status.results_ref, headers={"anthropic-version": ANTHROPIC_VERSION}
        )
        if content.status_code >= 400:
            _json(content, address)
        results = []
        for line in _jsonl(content.text):
            custom_id = str(line.get("custom_id"))
            result = line.get("result") or {}
            if result.get("type") != "succeeded":
                error = result.get("error") or result.get("type")
                results.append(BatchResult(custom_id=custom_id, error=json.dumps(error)))
                continue
            try:
                message = Message.model_validate(result["message"])
                completion = anthropic_adapter._completion(message, address, 0.0)
            except (ValidationError, KeyError, ProviderError) as exc:
                results.append(BatchResult(custom_id=custom_id, error=f"malformed: {exc}"))
                continue
            results.append(BatchResult(custom_id=custom_id, completion=completion))
        return results


class GeminiBatches:
    """The Gemini API's batch mode, inlined requests (see the module docstring)."""

    provider = "gemini"

    _STATES: ClassVar[dict[str, BatchState]] = {
        "BATCH_STATE_SUCCEEDED": BatchState.ENDED,
        "BATCH_STATE_FAILED": BatchState.FAILED,
        "BATCH_STATE_EXPIRED": BatchState.EXPIRED,
        "BATCH_STATE_CANCELLED": BatchState.CANCELLED,
    }

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def submit(self, model: str, requests: Sequence[BatchRequest]) -> str:
        inlined = []
        for request in requests:
            system, messages = _split_system(request.messages)
            body: dict[str, Any] = {
                "contents": [
                    {
                        "role": "model" if m["role"] == "assistant" else "user",
                        "parts": [{"text": m["content"]}],
                    }
                    for m in messages
                ],
                "generationConfig": {"maxOutputTokens": request.max_tokens},
            }
            if system:
                body["systemInstruction"] = {"parts": [{"text": system}]}
            inlined.append({"request": body, "metadata": {"key": request.custom_id}})
        created = self.client.post(
            f"/v1beta/models/{model}:batchGenerateContent",
            json={
                "batch": {
                    "displayName": f"frugalflow-{requests[0].custom_id}"
                    if requests
                    else "frugalflow",
                    "inputConfig": {"requests": {"requests": inlined}},
                }
            },
        )
        return str(_json(created, f"gemini:{model}")["name"])

    def status(self, batch_id: str) -> BatchStatus:
        body = _json(self.client.get(f"/v1beta/{batch_id}"), "gemini")
        vendor = str((body.get("metadata") or {}).get("state") or body.get("state"))
        return BatchStatus(
            batch_id=batch_id,
            state=self._STATES.get(vendor, BatchState.RUNNING),
            vendor_status=vendor,
            raw=body,
        )

    def results(self, model: str, status: BatchStatus) -> list[BatchResult]:
        output = status.raw.get("response") or (status.raw.get("metadata") or {}).get("output")
        inlined: Any = (output or {}).get("inlinedResponses") or []
        if isinstance(inlined, dict):  # {"inlinedResponses": {"inlinedResponses": [...]}}
            inlined = inlined.get("inlinedResponses") or []
        results = []
        for entry in inlined:
            custom_id = str((entry.get("metadata") or {}).get("key"))
            if "response" not in entry:
                results.append(
                    BatchResult(custom_id=custom_id, error=json.dumps(entry.get("error")))
                )
                continue
            try:
                response = genai_types.GenerateContentResponse.model_validate(entry["response"])
            except ValidationError as exc:
                results.append(BatchResult(custom_id=custom_id, error=f"malformed: {exc}"))
                continue
            results.append(
                BatchResult(
                    custom_id=custom_id,
                    completion=Completion(
                        text="".join(gemini_adapter._texts(response)),
                        model=model,
                        **gemini_adapter._usage(response.usage_metadata),
                        answered_model=response.model_version,
                        usage_reported=response.usage_metadata is not None,
                        finish_reason=gemini_adapter._finish_reason(response),
                    ),
                )
            )
        return results


def batch_adapter(provider: str, client: httpx.Client) -> BatchAdapter:
    """The batch adapter of ``provider`` on ``client`` (its base URL and auth headers set).

    Raises:
        BadRequestError: the provider has no batch API here.
    """
    adapters: dict[str, type[OpenAIBatches | AnthropicBatches | GeminiBatches]] = {
        "openai": OpenAIBatches,
        "anthropic": AnthropicBatches,
        "gemini": GeminiBatches,
    }
    if provider not in adapters:
        raise BadRequestError(f"{provider} has no batch API", provider=provider)
    return adapters[provider](client)

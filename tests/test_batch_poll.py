"""The batch steps, plain (no Prefect), against a ledger and an httpx MockTransport vendor in
Anthropic's documented Message Batches shapes: a submission is reserved and recorded; polls
leave a running batch open, settle an ended one at the batch rate, and release the money of
one that expired or ended without a result; a refused submission releases its reservation."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from frugalflow.core.errors import BadRequestError
from frugalflow.core.schemas import CodeRequest
from frugalflow.core.settings import Settings
from frugalflow.money.batches import BatchBook
from frugalflow.money.budget import BudgetManager
from frugalflow.money.ledger import CostLedger
from frugalflow.providers.base import ChatMessage
from frugalflow.tasks.batch import poll_batches, submit_batch
from tests.support.money import settings_for

SONNET = "anthropic:claude-sonnet-4-5"
PROMPT = [
    ChatMessage(role="system", content="You write Python."),
    ChatMessage(role="user", content="Write add(a, b)."),
]


class Anthropic:
    """Message Batches (platform.claude.com/docs/en/build-with-claude/batch-processing):
    ``POST /v1/messages/batches``, ``GET /v1/messages/batches/{id}`` (``processing_status``,
    ``results_url``), and the results JSONL."""

    def __init__(self) -> None:
        self.status = "in_progress"
        self.results: list[dict[str, Any]] | None = None
        self.refuse = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST" and path == "/v1/messages/batches":
            if self.refuse:
                return httpx.Response(400, json={"type": "error", "error": {"message": "no"}})
            self.custom_id = json.loads(request.content)["requests"][0]["custom_id"]
            return httpx.Response(
                200, json={"id": "msgbatch_1", "processing_status": "in_progress"}
            )
        if path == "/v1/messages/batches/msgbatch_1":
            url = "https://api.anthropic.com/v1/messages/batches/msgbatch_1/results"
            ended = self.status == "ended"
            return httpx.Response(
                200,
                json={
                    "id": "msgbatch_1",
                    "processing_status": self.status,
                    "results_url": url if ended else None,
                },
            )
        if path.endswith("/results"):
            lines = self.results if self.results is not None else [self.succeeded()]
            return httpx.Response(200, text="\n".join(json.dumps(line) for line in lines))
        return httpx.Response(404)

    def succeeded(self) -> dict[str, Any]:
        message = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "def add(a, b):\n    return a + b\n"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 30, "output_tokens": 20},
        }
        return {"custom_id": self.custom_id, "result": {"type": "succeeded", "message": message}}

    def client_for(self, provider: str, settings: Settings) -> httpx.Client:
        assert provider == "anthropic"
        return httpx.Client(
            base_url="https://api.anthropic.com", transport=httpx.MockTransport(self)
        )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path)


def submit(settings: Settings, vendor: Anthropic, tmp_path: Path) -> None:
    request = CodeRequest(description="Add add(a, b)", repo=tmp_path, request_id="r1")
    submit_batch(request, SONNET, PROMPT, settings, max_tokens=500, client_for=vendor.client_for)


def active(settings: Settings) -> int:
    budget = BudgetManager(CostLedger(settings.ledger_file), settings)
    return len(budget.reservations(state="active"))


def test_a_batch_is_polled_until_it_ends_then_settled_at_the_batch_rate(
    settings: Settings, tmp_path: Path
) -> None:
    vendor = Anthropic()
    submit(settings, vendor, tmp_path)
    assert active(settings) == 1
    [still] = poll_batches(settings, client_for=vendor.client_for)
    assert still.outcome == "running" and active(settings) == 1
    vendor.status = "ended"
    [done] = poll_batches(settings, client_for=vendor.client_for)
    assert done.outcome == "settled" and done.completion is not None
    assert done.completion.text.startswith("def add")
    [call] = CostLedger(settings.ledger_file).calls_for_request("r1")
    # Sonnet 4.5: $3 in, $15 out per million; half in a batch
    assert call.actual_cost_usd == (Decimal(30 * 3 + 20 * 15) / 1_000_000 / 2)
    assert active(settings) == 0
    assert poll_batches(settings, client_for=vendor.client_for) == []  # nothing open


@pytest.mark.parametrize("results", [[], [{"custom_id": "?", "result": {"type": "expired"}}]])
def test_a_batch_without_a_result_for_the_request_releases_its_money(
    settings: Settings, tmp_path: Path, results: list[dict[str, Any]]
) -> None:
    vendor = Anthropic()
    submit(settings, vendor, tmp_path)
    vendor.status, vendor.results = "ended", results
    [closed] = poll_batches(settings, client_for=vendor.client_for)
    assert closed.outcome == "failed" and closed.completion is None
    assert active(settings) == 0
    assert CostLedger(settings.ledger_file).calls_for_request("r1") == []


def test_an_expired_result_for_the_request_releases_its_money(
    settings: Settings, tmp_path: Path
) -> None:
    vendor = Anthropic()
    submit(settings, vendor, tmp_path)
    vendor.status = "ended"
    vendor.results = [{"custom_id": vendor.custom_id, "result": {"type": "expired"}}]
    [closed] = poll_batches(settings, client_for=vendor.client_for)
    assert (closed.outcome, closed.error) == ("failed", '"expired"')
    book = BatchBook(CostLedger(settings.ledger_file), settings)
    assert book.get("msgbatch_1").state == "failed"  # type: ignore[union-attr]
    assert active(settings) == 0


def test_a_refused_submission_releases_its_reservation_and_records_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    vendor = Anthropic()
    vendor.refuse = True
    with pytest.raises(BadRequestError):
        submit(settings, vendor, tmp_path)
    assert active(settings) == 0
    assert BatchBook(CostLedger(settings.ledger_file), settings).open_batches() == []


def test_a_poll_that_fails_leaves_the_batch_open(settings: Settings, tmp_path: Path) -> None:
    vendor = Anthropic()
    submit(settings, vendor, tmp_path)

    def down(provider: str, settings: Settings) -> httpx.Client:
        def fail(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("vendor down", request=request)

        return httpx.Client(
            base_url="https://api.anthropic.com", transport=httpx.MockTransport(fail)
        )

    [polled] = poll_batches(settings, client_for=down)
    assert polled.outcome == "running" and "vendor down" in (polled.error or "")
    assert active(settings) == 1


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_the_batch_poll_flow_settles_an_ended_batch(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from frugalflow.flows.batch import batch_poll
    from frugalflow.tasks import batch as batch_steps

    vendor = Anthropic()
    submit(settings, vendor, tmp_path)
    vendor.status = "ended"
    monkeypatch.setattr(batch_steps, "settings_for_poll", lambda: settings)
    monkeypatch.setattr(batch_steps, "vendor_client", vendor.client_for)
    monkeypatch.setattr("frugalflow.flows.batch.settings_for_poll", lambda: settings)
    [polled] = asyncio.run(batch_poll())
    assert polled.outcome == "settled"
    assert active(settings) == 0
    assert len(CostLedger(settings.ledger_file).calls_for_request("r1")) == 1

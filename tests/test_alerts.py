"""Budget alerts: once per window and threshold, Prefect events, and a webhook on loopback."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from prefect.events import Event, emit_event
from prefect.events.clients import AssertingEventsClient
from prefect.events.worker import EventsWorker

from frugalflow.core.schemas import Tier
from frugalflow.core.settings import Settings
from frugalflow.money import alerts
from frugalflow.money.alerts import BudgetAlert, check_alerts
from frugalflow.money.budget import BudgetManager
from frugalflow.money.ledger import CostLedger, ModelCall

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SECRET = "hooks/T000-s3cr3t-token"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(autouse=True)
def recorded_events(monkeypatch: pytest.MonkeyPatch) -> list[Event]:
    """Prefect events, validated by Prefect's own schema and kept in memory.

    Without this, emitting makes Prefect start its ephemeral API for every test module (seconds);
    one test below goes through Prefect's real events worker instead.
    """
    events: list[Event] = []

    def record(**fields: Any) -> Event:
        events.append(Event(**fields))
        return events[-1]

    monkeypatch.setattr(alerts, "emit_event", record)
    return events


@pytest.fixture
def prefect_events_worker(
    prefect_server: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EventsWorker]:
    """Prefect's events worker with its in-memory test client, as prefect.testing sets it up.

    The worker also opens an orchestration client: the session's Prefect test server serves it.
    """
    monkeypatch.setattr(alerts, "emit_event", emit_event)
    AssertingEventsClient.reset()
    worker = EventsWorker.instance(AssertingEventsClient)
    monkeypatch.setattr(EventsWorker, "instance", lambda *_: worker)
    yield worker
    worker.drain()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_manager(tmp_path: Path, clock: Clock) -> Any:
    def make(**changes: Any) -> BudgetManager:
        path = tmp_path / "ledger.duckdb"
        values: dict[str, Any] = {
            "home": tmp_path / "home",
            "ledger_path": path,
            "daily_budget_usd": Decimal("1.00"),
            "alert_thresholds_percent": [50, 80, 100],
        }
        return BudgetManager(CostLedger(path), Settings(**{**values, **changes}), clock=clock)

    return make


def spend(manager: BudgetManager, cost: str, *, project: str = "demo") -> None:
    manager.ledger.record(
        ModelCall(
            request_id="req",
            project=project,
            step="generate",
            provider="openai",
            model="gpt-4o",
            tier=Tier.API,
            ts=manager.now(),
            actual_cost_usd=Decimal(cost),
        )
    )


def fired(found: list[BudgetAlert]) -> list[tuple[str, int]]:
    return [(alert.window_key, alert.threshold_percent) for alert in found]


class Webhook:
    """A real HTTP server on 127.0.0.1 that records what is POSTed to it."""

    def __init__(self, status: int = 204) -> None:
        received: list[tuple[str, dict[str, Any]]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.path, json.loads(body)))
                self.send_response(status)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.received = received
        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/{SECRET}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    server = Webhook()
    yield server
    server.close()


def refused_url() -> str:
    """A loopback URL on a port nobody listens on: connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/{SECRET}"


def test_each_threshold_fires_once_per_window(make_manager: Any) -> None:
    manager = make_manager()
    assert check_alerts(manager) == []

    spend(manager, "0.55")
    assert fired(check_alerts(manager)) == [("daily:2026-11-28", 50)]
    assert check_alerts(manager) == []

    spend(manager, "0.30")
    assert fired(check_alerts(manager)) == [("daily:2026-11-28", 80)]
    spend(manager, "0.15")
    [full] = check_alerts(manager)
    assert (full.threshold_percent, full.spent_usd, full.limit_usd) == (100, Decimal(1), 1)
    assert check_alerts(manager) == []


def test_a_big_jump_fires_every_threshold_it_passes_at_once(make_manager: Any) -> None:
    manager = make_manager()
    spend(manager, "1.20")
    assert [alert.threshold_percent for alert in check_alerts(manager)] == [50, 80, 100]


def test_thresholds_fire_again_in_the_next_days_window(make_manager: Any, clock: Clock) -> None:
    manager = make_manager()
    spend(manager, "0.60")
    assert fired(check_alerts(manager)) == [("daily:2026-11-28", 50)]

    clock.now += timedelta(days=1)
    assert check_alerts(manager) == []  # yesterday's spend does not count today
    spend(manager, "0.60")
    assert fired(check_alerts(manager)) == [("daily:2026-11-29", 50)]


def test_reservations_do_not_raise_alerts_only_spend_does(make_manager: Any) -> None:
    manager = make_manager()
    manager.reserve(request_id="r", project="demo", model="m", amount_usd=Decimal("0.95"))
    assert check_alerts(manager) == []


def test_project_and_monthly_windows_have_their_own_alerts(make_manager: Any) -> None:
    manager = make_manager(
        monthly_budget_usd=Decimal(10), project_budgets_usd={"textkit": Decimal("0.40")}
    )
    spend(manager, "0.35", project="textkit")

    found = check_alerts(manager, "textkit")

    assert fired(found) == [("project:textkit:2026-11-28", 50), ("project:textkit:2026-11-28", 80)]
    assert found[0].project == "textkit"
    assert check_alerts(manager) == []


def test_concurrent_checks_fire_each_alert_once(make_manager: Any) -> None:
    manager = make_manager()
    spend(manager, "1.00")
    start = threading.Barrier(8)
    results: list[BudgetAlert] = []

    def body() -> None:
        start.wait(10)
        results.extend(check_alerts(manager))

    threads = [threading.Thread(target=body) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(alert.threshold_percent for alert in results) == [50, 80, 100]


def test_an_alert_is_logged_and_emitted_as_a_prefect_event(
    make_manager: Any, recorded_events: list[Event], caplog: pytest.LogCaptureFixture
) -> None:
    manager = make_manager()
    spend(manager, "0.85")

    with caplog.at_level(logging.WARNING, logger="frugalflow.alerts"):
        check_alerts(manager)

    warnings = [r for r in caplog.records if r.name == "frugalflow.alerts"]
    assert [r.levelno for r in warnings] == [logging.WARNING] * 2
    assert "daily:2026-11-28 reached 80% of its $1.00 limit" in warnings[1].getMessage()
    assert [event.event for event in recorded_events] == ["frugalflow.budget.threshold"] * 2
    assert recorded_events[1].resource.id == "frugalflow.budget.daily:2026-11-28"
    assert recorded_events[1].payload["threshold_percent"] == 80
    assert Decimal(recorded_events[1].payload["spent_usd"]) == Decimal("0.85")


def test_the_event_goes_through_prefects_events_worker(
    make_manager: Any, prefect_events_worker: EventsWorker
) -> None:
    manager = make_manager()
    spend(manager, "0.50")

    check_alerts(manager)

    prefect_events_worker.wait_until_empty()
    assert AssertingEventsClient.last is not None
    [event] = AssertingEventsClient.last.events
    assert event.event == "frugalflow.budget.threshold"
    assert event.resource.id == "frugalflow.budget.daily:2026-11-28"
    assert event.payload["window_key"] == "daily:2026-11-28"


def test_a_failing_prefect_event_does_not_stop_the_alert(
    make_manager: Any, webhook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_server(**_: Any) -> None:
        raise ConnectionError("no Prefect server")

    monkeypatch.setattr(alerts, "emit_event", no_server)
    manager = make_manager(alert_webhook_url=webhook.url)
    spend(manager, "0.50")

    assert fired(check_alerts(manager)) == [("daily:2026-11-28", 50)]
    assert len(webhook.received) == 1


def test_the_webhook_receives_the_alert_as_json_and_its_url_is_never_logged(
    make_manager: Any, webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    manager = make_manager(alert_webhook_url=webhook.url)
    spend(manager, "0.80")

    with caplog.at_level(logging.DEBUG):
        check_alerts(manager)

    assert [path for path, _ in webhook.received] == [f"/{SECRET}"] * 2
    payload = webhook.received[1][1]
    assert payload == {
        "event": "frugalflow.budget.threshold",
        "window_key": "daily:2026-11-28",
        "threshold_percent": 80,
        "fired_at": "2026-11-28T12:00:00Z",
        "spent_usd": "0.80000000",
        "limit_usd": "1.00",
        "project": None,
    }
    # httpx logs every request with its URL at INFO; the secret part must be blanked out.
    httpx_lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert httpx_lines and all("<alert_webhook_url>" in line for line in httpx_lines)
    assert "s3cr3t" not in caplog.text


def test_an_unreachable_webhook_does_not_raise_and_is_logged_without_its_url(
    make_manager: Any, caplog: pytest.LogCaptureFixture
) -> None:
    manager = make_manager(alert_webhook_url=refused_url())
    spend(manager, "0.50")

    with caplog.at_level(logging.DEBUG):
        assert fired(check_alerts(manager)) == [("daily:2026-11-28", 50)]

    failures = [r.getMessage() for r in caplog.records if "could not POST" in r.getMessage()]
    expected = "could not POST the alert for daily:2026-11-28 to the alert webhook: ConnectError"
    assert failures == [expected]
    assert "s3cr3t" not in caplog.text
    assert "127.0.0.1" not in "\n".join(failures)


def test_a_webhook_answering_an_error_status_is_logged_without_its_url(
    make_manager: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = Webhook(status=500)
    try:
        manager = make_manager(alert_webhook_url=server.url)
        spend(manager, "0.50")
        with caplog.at_level(logging.DEBUG):
            assert len(check_alerts(manager)) == 1
    finally:
        server.close()

    assert "the alert webhook answered HTTP 500 for daily:2026-11-28" in caplog.text
    assert "s3cr3t" not in caplog.text

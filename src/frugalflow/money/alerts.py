"""Budget alerts: a warning when spend crosses 50 %, 80 %, 100 % (configurable) of a window.

Each (window key, threshold) pair fires at most once: the ``alerts`` table's primary key is the
record that it fired, inserted before anyone is told, so two runs that cross a threshold at the
same moment cannot both notify. Because window keys name their period (``daily:2026-11-28``),
the same thresholds fire again in the next window. Notifying happens after the record is
committed, so a run that dies in between loses that notification rather than sending two.

An alert is logged as a WARNING on the ``frugalflow.alerts`` logger, emitted as the Prefect
event ``frugalflow.budget.threshold`` (for automations), and POSTed as JSON to
``alert_webhook_url`` when one is set. Telling people never fails the caller: a Prefect server
that cannot be reached or a webhook that is down is logged and ignored. The webhook URL is a
secret (it usually embeds a token), so it is never logged, not even by httpx's request log.
"""

from __future__ import annotations

import logging
import threading
from decimal import Decimal
from typing import Any

import httpx
from prefect.events import emit_event
from pydantic import AwareDatetime, BaseModel, ConfigDict

from frugalflow.money.budget import BudgetManager, BudgetWindow

EVENT_NAME = "frugalflow.budget.threshold"
WEBHOOK_TIMEOUT_SECONDS = 5.0
_REDACTED = "<alert_webhook_url>"

logger = logging.getLogger("frugalflow.alerts")  # named as before the folders


class BudgetAlert(BaseModel):
    """A threshold of a window that spend reached, fired once.

    Attributes:
        window_key: the window, e.g. ``daily:2026-11-28``.
        threshold_percent: the threshold reached, in percent of the limit.
        fired_at: when it fired.
        spent_usd: the window's recorded spend at that moment.
        limit_usd: the window's limit.
        project: the project of a per-project window; None for the global windows.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    window_key: str
    threshold_percent: int
    fired_at: AwareDatetime
    spent_usd: Decimal
    limit_usd: Decimal
    project: str | None = None

    def payload(self) -> dict[str, Any]:
        """The alert as JSON-ready values (money as strings, to keep it exact)."""
        return {"event": EVENT_NAME, **self.model_dump(mode="json")}


def check_alerts(manager: BudgetManager, project: str | None = None) -> list[BudgetAlert]:
    """Fire the alerts whose thresholds the windows of ``project`` have newly reached.

    Only recorded spend counts, not reservations: an alert says money was spent. Call it after
    each settled call; it only takes the write lock when a threshold is reached.

    Args:
        manager: the budget windows to check.
        project: include this project's window, if it has a budget.

    Returns:
        The alerts that fired now; ``[]`` when there is nothing new.

    Raises:
        LedgerError: the ledger cannot be used (notification failures never raise).
    """
    thresholds = sorted(set(manager.settings.alert_thresholds_percent))
    reached = [
        (window, threshold)
        for window in manager.windows(project)
        for threshold in thresholds
        if _reached(window, threshold)
    ]
    if not reached:
        return []
    now = manager.now()
    fired: list[BudgetAlert] = []
    with manager.ledger.transaction() as con:
        for window, threshold in reached:
            inserted = con.execute(
                "INSERT INTO alerts VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING "
                "RETURNING window_key",
                [window.key, threshold, now, window.spent_usd, window.limit_usd],
            ).fetchall()
            if inserted:
                fired.append(
                    BudgetAlert(
                        window_key=window.key,
                        threshold_percent=threshold,
                        fired_at=now,
                        spent_usd=window.spent_usd,
                        limit_usd=window.limit_usd,
                        project=window.project,
                    )
                )
    webhook = manager.settings.alert_webhook_url
    for alert in fired:
        _notify(alert, None if webhook is None else webhook.get_secret_value())
    return fired


def _reached(window: BudgetWindow, threshold: int) -> bool:
    if window.spent_usd <= 0:
        return False  # nothing spent: a $0 limit is not "100 % used"
    return window.spent_usd * 100 >= window.limit_usd * threshold


def _notify(alert: BudgetAlert, webhook_url: str | None) -> None:
    logger.warning(
        "budget alert: %s reached %d%% of its $%s limit ($%s spent)",
        alert.window_key,
        alert.threshold_percent,
        alert.limit_usd,
        alert.spent_usd,
    )
    payload = alert.payload()
    try:
        emit_event(
            event=EVENT_NAME,
            resource={"prefect.resource.id": f"frugalflow.budget.{alert.window_key}"},
            payload=payload,
        )
    except Exception as exc:  # an alert must never fail the run that triggered it
        logger.warning("could not emit the Prefect event for %s: %r", alert.window_key, exc)
    if webhook_url:
        _post_webhook(webhook_url, payload, alert.window_key)


def _post_webhook(url: str, payload: dict[str, Any], window_key: str) -> None:
    # Only the exception type and status are logged: httpx puts the URL in its messages.
    _secrets.urls = (url,)
    try:
        # httpx logs the URL normalised; blank that spelling too, the longest first.
        _secrets.urls = tuple(sorted({url, str(httpx.URL(url))}, key=len, reverse=True))
        response = httpx.post(url, json=payload, timeout=WEBHOOK_TIMEOUT_SECONDS)
        if response.is_error:
            logger.warning(
                "the alert webhook answered HTTP %d for %s", response.status_code, window_key
            )
    except Exception as exc:
        logger.warning(
            "could not POST the alert for %s to the alert webhook: %s",
            window_key,
            type(exc).__name__,
        )
    finally:
        _secrets.urls = ()


class _SecretsInFlight(threading.local):
    urls: tuple[str, ...] = ()


_secrets = _SecretsInFlight()


class _RedactWebhookUrl(logging.Filter):
    """Blank the webhook URL out of httpx's INFO line ``HTTP Request: POST <url> ...``.

    httpx logs from the thread that makes the request, so the URL in flight is thread-local.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets.urls:
            message = record.getMessage()
            for url in _secrets.urls:
                message = message.replace(url, _REDACTED)
            record.msg, record.args = message, ()
        return True


logging.getLogger("httpx").addFilter(_RedactWebhookUrl())
